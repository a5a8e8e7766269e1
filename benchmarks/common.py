"""Shared helpers for benchmarks: machine description, peak memory, result files.

Every benchmark writes ``benchmarks/results/<name>.json`` (machine-readable) and
``benchmarks/results/<name>.md`` (a Markdown table) through :func:`write_results`, which
records the exact command, the machine and the versions of the packages involved.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"

DEFAULT_PACKAGES = (
    "reclift",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "ibis-framework",
    "pyspark",
)


def machine_info() -> dict[str, Any]:
    """Describe the machine a benchmark ran on."""
    mem_total = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = int(line.split()[1]) * 1024
                break
    except OSError:
        pass
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model,
        "cpu_count": os.cpu_count(),
        "memory_bytes": mem_total,
        "python": sys.version.split()[0],
        "load_average": os.getloadavg(),
    }


def package_versions(names: Sequence[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``names`` (None when absent)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def peak_rss_bytes(children: bool = False) -> int:
    """Peak resident set size of this process (or its waited-for children), in bytes."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return int(resource.getrusage(who).ru_maxrss) * 1024


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """Measure wall time: ``with timed() as t: ...; t["seconds"]``."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - start


def _invocation() -> list[str]:
    """``sys.argv`` as typed: ``-m package.module`` when run as a module, not its file path."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if spec is not None and spec.name:
        return ["-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]]
    return list(sys.argv)


def vm_hwm(pid: int) -> int | None:
    """Peak resident size in bytes of a running process (``VmHWM``), or ``None`` if gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """Render rows (dicts with the same keys) as a Markdown table."""
    if not rows:
        return "(no rows)\n"
    headers = list(rows[0])

    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(r.get(h, "")) for h in headers) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_results(
    name: str,
    payload: Mapping[str, Any],
    markdown: str,
    *,
    packages: Sequence[str] = DEFAULT_PACKAGES,
) -> Path:
    """Write ``results/<name>.json`` and ``results/<name>.md`` with run metadata.

    Parameters
    ----------
    name
        Benchmark name (file stem).
    payload
        Measurements; merged with ``command``, ``machine``, ``packages`` and ``finished_at``.
    markdown
        Body of the Markdown summary (tables, notes); a header with the command and machine
        is prepended.
    """
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    command = " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *_invocation()])
    record = {
        "benchmark": name,
        "command": command,
        "finished_at": datetime.now(UTC).isoformat(),
        "machine": machine_info(),
        "packages": package_versions(packages),
        **payload,
    }
    json_path = RESULTS_DIR / f"{name}.json"
    json_path.write_text(json.dumps(record, indent=2, sort_keys=False, default=str) + "\n")
    machine = record["machine"]
    header = (
        f"# Benchmark: {name}\n\n"
        f"- command: `{command}`\n"
        f"- finished: {record['finished_at']}\n"
        f"- machine: {machine['cpu_count']} cores ({machine['cpu_model']}), "
        f"{(machine['memory_bytes'] or 0) / 2**30:.1f} GiB, {machine['platform']}, "
        f"Python {machine['python']}, load average at end {machine['load_average']}\n"
        f"- packages: " + ", ".join(f"{k} {v}" for k, v in record["packages"].items() if v) + "\n\n"
    )
    (RESULTS_DIR / f"{name}.md").write_text(header + markdown)
    return json_path
