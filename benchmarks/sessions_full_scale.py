"""Benchmark: the whole session-recommender fit at OTTO's size on this machine.

OTTO's training log has 216M events over 1.8M items and 12.9M sessions. The public data is
not on this machine, so the simulator (``reclift.datasets.simulate``) writes a log of the
same event and item counts; its sessions are shorter (about 9 events against OTTO's 17), so
it has more of them. Then ``reclift sessions fit`` runs on the file exactly as a user would
run it, in its own process, once per ``--algo``; wall time and the peak resident size of
that process are recorded (aim: under 60 minutes and 20 GB).

DuckDB's memory cap for the fit comes from ``RECLIFT_DUCKDB_MEMORY_LIMIT`` (``--memory-limit``):
the events themselves are held in memory by the file mode, so DuckDB gets what is left.

Usage: ``python -m benchmarks.sessions_full_scale [--sim-dir DIR] [--simulate-only]
[--algo covisitation ranker] [--memory-limit 10GB] [--timeout 5400] [--keep-previous]
[--report-only] [--notes FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, _invocation, markdown_table, vm_hwm, write_results

OTTO = {"events": 216_716_096, "items": 1_855_603, "sessions": 12_899_779}


def simulate_log(sim_dir: Path, events: int, items: int, users: int) -> dict[str, Any]:
    """Write the simulated log unless it is there; describe it."""
    from reclift.datasets.simulate import simulate
    from reclift.datasets.simulation.config import SimulationConfig

    path = sim_dir / "events.parquet"
    info: dict[str, Any] = {"sim_dir": str(sim_dir)}
    if not path.is_file():
        start = time.perf_counter()
        config = SimulationConfig(
            seed=11, n_events=events, n_items=items, n_users=users, days=28, chunk_users=8_000
        )
        simulate(config, sim_dir, progress=False)
        info["simulate_s"] = round(time.perf_counter() - start, 1)
    import duckdb

    con = duckdb.connect()
    row = con.execute(
        "SELECT count(*), count(DISTINCT session_id), count(DISTINCT item_id) "
        f"FROM read_parquet('{path}')"
    ).fetchone()
    assert row is not None
    info.update(events=row[0], sessions=row[1], items=row[2])
    info["file_mib"] = round(path.stat().st_size / 2**20, 1)
    return info


def fit(
    events: Path, algo: str, out: Path, timeout: float, memory_limit: str, cap_gib: float
) -> dict[str, Any]:
    """Run ``reclift sessions fit`` in its own process; time it and watch its memory."""
    cmd = [sys.executable, "-c", "from reclift.cli.main import main; main()"]
    cmd += ["sessions", "fit", "--events", str(events), "--model-dir", str(out), "--algo", algo]
    env = {**os.environ, "RECLIFT_DUCKDB_MEMORY_LIMIT": memory_limit}
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    # Output to a file, not a pipe: a pipe nobody reads blocks the child once it is full.
    log_path = out.parent / f"{out.name}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    hwm, status = 0, "ok"
    while proc.poll() is None:
        hwm = max(hwm, vm_hwm(proc.pid) or 0)
        if time.perf_counter() - start > timeout:
            proc.kill()
            status = "timeout"
        elif hwm > cap_gib * 2**30:
            proc.kill()
            status = f"killed: RSS above {cap_gib:g} GiB"
        time.sleep(1.0)
    log.close()
    output = log_path.read_text(errors="replace")
    if status == "ok" and proc.returncode != 0:
        status = f"failed (exit {proc.returncode})"
    return {
        "algo": algo,
        "status": status,
        "wall_s": round(time.perf_counter() - start, 1),
        "peak_rss_gib": round(hwm / 2**30, 2),
        "duckdb_memory_limit": memory_limit,
        "load_before": round(load_before, 1),
        "load_after": round(os.getloadavg()[0], 1),
        "output_tail": output.strip().splitlines()[-3:],
    }


def previous_runs() -> list[dict[str, Any]]:
    """Runs recorded in ``results/sessions_full_scale.json`` (none if absent)."""
    path = RESULTS_DIR / "sessions_full_scale.json"
    if not path.is_file():
        return []
    runs: list[dict[str, Any]] = json.loads(path.read_text()).get("runs", [])
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sim-dir", type=Path, default=Path("/tmp/reclift-otto-size"))
    parser.add_argument("--events", type=int, default=OTTO["events"])
    parser.add_argument("--items", type=int, default=OTTO["items"])
    parser.add_argument("--users", type=int, default=900_000)
    parser.add_argument("--algo", nargs="+", default=["covisitation", "ranker"])
    parser.add_argument("--memory-limit", default="10GB")
    parser.add_argument("--rss-cap-gib", type=float, default=22.0)
    parser.add_argument("--timeout", type=float, default=5400.0)
    parser.add_argument("--simulate-only", action="store_true")
    parser.add_argument(
        "--keep-previous",
        action="store_true",
        help="keep the recorded runs of the algorithms not run now (each run keeps its command)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite the report from the recorded runs"
    )
    parser.add_argument("--notes", type=Path, default=None, help="Markdown appended as findings")
    args = parser.parse_args()
    data = simulate_log(args.sim_dir, args.events, args.items, args.users)
    print(json.dumps(data), flush=True)
    if args.simulate_only:
        return
    events = args.sim_dir / "events.parquet"
    runs = previous_runs() if args.report_only else []
    command = " ".join(["python", *_invocation()])
    for algo in [] if args.report_only else args.algo:
        out = args.sim_dir.parent / f"{args.sim_dir.name}-model-{algo}"
        row = fit(events, algo, out, args.timeout, args.memory_limit, args.rss_cap_gib)
        row.update(command=command, finished_at=datetime.now(UTC).isoformat(timespec="seconds"))
        print(json.dumps(row), flush=True)
        runs.append(row)
    if args.keep_previous:
        done = {r["algo"] for r in runs}
        runs = [r for r in previous_runs() if r["algo"] not in done] + runs
    table = [
        {
            "algo": r["algo"],
            "status": r["status"],
            "wall_min": round(r["wall_s"] / 60, 1),
            "peak_rss_gib": r["peak_rss_gib"],
            "duckdb_limit": r.get("duckdb_memory_limit"),
            "load_before/after": f"{r['load_before']} / {r['load_after']}",
            "finished": r.get("finished_at", "-"),
        }
        for r in runs
    ]
    commands = "\n".join(f"- {r['algo']}: `{r.get('command', command)}`" for r in runs)
    md = (
        f"OTTO's training log: {OTTO['events']:,} events, {OTTO['items']:,} items, "
        f"{OTTO['sessions']:,} sessions. Simulated log here: {data['events']:,} events, "
        f"{data['items']:,} items, {data['sessions']:,} sessions "
        f"({data['file_mib']} MiB of Parquet). `reclift sessions fit` per algorithm in its "
        f"own process, DuckDB capped as listed; aim under 60 min and 20 GB.\n\n"
        + markdown_table(table)
        + f"\n\nCommand of each run:\n{commands}\n"
    )
    if args.notes is not None:
        md += "\n## Findings\n\n" + args.notes.read_text()
    write_results("sessions_full_scale", {"data": data, "otto": OTTO, "runs": runs}, md)


if __name__ == "__main__":
    main()
