"""A process SIGKILLed at any moment of an ingest leaves the previous state, complete.

Two kinds of kill: deterministic ones at each commit step (via the ``RECLIFT_TEST_CRASH_AT``
hook) and timed ones at fractions of a measured full run. After each kill the workspace
must open, hold exactly the previous manifest and data (or, for a kill after the manifest
was replaced, exactly the new complete state) and a re-run must finish the job.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.schema.tables import TABLES
from reclift.workspace.ingest import CRASH_ENV, ingest
from reclift.workspace.store import Workspace

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace
ws = Workspace.open(sys.argv[1])
ingest(ws, "events", sys.argv[2], on_error="quarantine", progress=False, batch_rows=50_000)
print("done", flush=True)
"""


def big_events(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    start = np.datetime64(datetime(2024, 3, 1), "us").astype(np.int64)
    ts = start + np.sort(rng.integers(0, 30 * 86400 * 10**6, n))
    kinds = np.array(["view", "click", "cart", "order"], dtype=object)
    ids = np.char.add("u", rng.integers(0, 10_000, n).astype(str)).astype(object)
    return pa.table(
        {
            "user_id": ids,
            "session_id": np.char.add("s", (np.arange(n) // 7).astype(str)).astype(object),
            "item_id": np.char.add("i", rng.integers(0, 5_000, n).astype(str)).astype(object),
            "event_type": kinds[rng.integers(0, 4, n)],
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "quantity": rng.integers(1, 5, n),
            "price": np.round(rng.uniform(1, 200, n), 2),
            "query": pa.nulls(n, pa.string()),
        },
        schema=TABLES["events"].schema,
    )


def snapshot(root: Path) -> dict[str, object]:
    ws = Workspace.open(root)
    files = sorted(
        p.relative_to(root).as_posix()
        for base in ("tables", "quarantine")
        for p in (root / base).rglob("*")
        if p.is_file()
    )
    con = ws.connect()
    try:
        view_rows = con.execute("SELECT count(*) FROM events").fetchone()
    finally:
        con.close()
    table = ws.read_table("events")
    return {
        "manifest": ws.manifest(),
        "files": files,
        "rows": table.num_rows,
        "view_rows": view_rows[0] if view_rows else None,
        "digest": hash(tuple(table.sort_by("ts")["ts"].to_pylist()[::997])),
    }


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("atomic")
    small = base / "small.parquet"
    pq.write_table(big_events(1_000, seed=1), small)
    big = base / "big.parquet"
    pq.write_table(big_events(600_000, seed=2), big)
    state_a = base / "state_a"
    ws = Workspace.init(state_a)
    ingest(ws, "events", small, progress=False)
    return base, state_a, big


def run_ingest(root: Path, source: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(root), str(source)],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def check_after_kill(root: Path, before: dict[str, object], source: Path) -> str:
    after = snapshot(root)
    assert after["rows"] == after["view_rows"]
    if after["manifest"] == before["manifest"]:
        assert after == before
        outcome = "previous"
    else:
        assert after["rows"] == before["rows"] + 600_000
        assert len(after["manifest"]["ingests"]) == len(before["manifest"]["ingests"]) + 1
        outcome = "new"
    proc = run_ingest(root, source)
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    final = snapshot(root)
    assert final["rows"] == final["view_rows"] == before["rows"] + 600_000
    return outcome


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        ("before_rename", "previous"),
        ("before_manifest", "previous"),
        ("before_catalog", "new"),
    ],
)
def test_kill_at_each_commit_step(setup, tmp_path, point, expected):
    _base, state_a, big = setup
    root = tmp_path / "ws"
    shutil.copytree(state_a, root)
    before = snapshot(root)
    proc = run_ingest(root, big, {CRASH_ENV: point})
    proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert check_after_kill(root, before, big) == expected


def test_kill_at_random_moments(setup, tmp_path):
    _base, state_a, big = setup
    timing = tmp_path / "timing"
    shutil.copytree(state_a, timing)
    start = time.perf_counter()
    proc = run_ingest(timing, big)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    full = time.perf_counter() - start
    outcomes = []
    for i, fraction in enumerate((0.15, 0.35, 0.55, 0.75, 0.9, 0.97)):
        root = tmp_path / f"ws{i}"
        shutil.copytree(state_a, root)
        before = snapshot(root)
        proc = run_ingest(root, big)
        time.sleep(full * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        outcomes.append(check_after_kill(root, before, big))
    # Most kills land mid-ingest; whichever state each one left, it was complete.
    assert "previous" in outcomes
