"""Mistakes a user makes on the command line: one clear line, exit 2, no traceback.

Each row was found by trying to break the CLI; the message is pinned.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RECLIFT = str(Path(sys.executable).with_name("reclift"))

EVENTS = (
    "user_id,session_id,item_id,event_type,ts,quantity,price,query\n"
    "u1,s1,i1,view,2024-01-01T10:00:00Z,1,9.99,\n"
    "u2,s2,i2,order,2024-01-01T11:00:00Z,1,5.00,\n"
)


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RECLIFT, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "events.csv").write_text(EVENTS)
    assert run("init", "ws", cwd=tmp_path).returncode == 0
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("demo", "--events", "2000", "--out", "events.csv"),
            "--out {tmp}/events.csv is a file, not a directory",
        ),
        (
            ("recs", "fit", "--events", "events.csv", "--model", "events.csv"),
            "cannot publish into events.csv: it is a file, not a directory",
        ),
        (
            ("ingest", "ws", "--table", "events", "--source", "postgresql://[::1:1/db?table=e"),
            "source is not a valid postgresql URL: Invalid IPv6 URL",
        ),
        (
            ("ingest", "ws", "--table", "nope", "--source", "events.csv"),
            "unknown table 'nope'",
        ),
    ],
)
def test_mistake_gives_one_clear_line(scratch: Path, args: tuple[str, ...], message: str) -> None:
    proc = run(*args, cwd=scratch)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert message.format(tmp=scratch) in " ".join(proc.stderr.split())


def test_missing_part_file_is_reported_as_damage(scratch: Path) -> None:
    assert (
        run("ingest", "ws", "--table", "events", "--source", "events.csv", cwd=scratch).returncode
        == 0
    )
    for part in (scratch / "ws" / "tables" / "events").glob("*.parquet"):
        part.unlink()
    for command in (("status", "ws"), ("train", "ws")):
        proc = run(*command, cwd=scratch)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        assert "is damaged: committed part(s) missing: tables/events/" in " ".join(
            proc.stderr.split()
        )


def test_simulation_past_year_9999_is_refused(scratch: Path) -> None:
    proc = run(
        "simulate", "sim", "--users", "10", "--items", "200", "--events", "100",
        "--start", "9999-12-30", "--no-progress", cwd=scratch,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "must end by 9999-12-31" in proc.stderr
    shutil.rmtree(scratch / "sim", ignore_errors=True)
