"""``reclift init | ingest | status`` through the real app (CliRunner), no tracebacks."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from reclift.cli.main import build_app, main


@pytest.fixture
def run(capsys):
    """Run the console entry point; return (exit code, stdout, stderr)."""

    def _run(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main([*map(str, args)])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        return code, out, err

    return _run


def test_init_ingest_status_roundtrip(tmp_path, h, run):
    ws = tmp_path / "ws"
    assert run("init", ws)[0] == 0
    path = h.write_parquet(h.events(25), tmp_path / "e.parquet")
    code, out, _ = run("ingest", ws, "--table", "events", "--source", path, "--no-progress")
    assert code == 0
    assert "read 25 rows, accepted 25, quarantined 0" in out
    code, out, _ = run("ingest", ws, "--table", "events", "--source", path)
    assert code == 0 and "already ingested" in out
    code, out, _ = run("status", ws)
    assert code == 0
    assert "events" in out and "25" in out and "2024-01-01 00:00:00" in out
    code, out, _ = run("status", ws, "--json")
    payload = json.loads(out)
    ev = next(t for t in payload["tables"] if t["table"] == "events")
    assert (ev["rows"], ev["parts"]) == (25, 1)
    assert ev["time_range"]["ts"][0].startswith("2024-01-01T00:00:00")
    assert ev["watermarks"][0]["watermark"].startswith("2024-01-01T00:24:00")


def test_reject_exit_code_and_problems_printed(tmp_path, h, run):
    ws = tmp_path / "ws"
    run("init", ws)
    bad = {i: {"event_type": "nope"} for i in range(30)}
    path = h.write_csv(h.events(40), tmp_path / "bad.csv", bad=bad)
    code, out, err = run("ingest", ws, "-t", "events", "-s", path, "--no-progress")
    assert code == 2
    assert f"{path}:1:event_type:" in err
    assert "... and 10 more problems" in err
    assert "nothing was committed" in err
    code, out, err = run(
        "ingest", ws, "-t", "events", "-s", path, "--on-error", "quarantine", "--no-progress"
    )
    assert code == 0
    assert "read 40 rows, accepted 10, quarantined 30" in out
    assert "quarantine/events/" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "{tmp}/nowhere"], "is not a reclift workspace"),
        (["ingest", "{tmp}/nowhere", "-t", "events", "-s", "x.csv"], "is not a reclift workspace"),
        (["ingest", "{ws}", "-t", "evnts", "-s", "{tmp}/e.parquet"], "unknown table 'evnts'"),
        (["ingest", "{ws}", "-t", "events", "-s", "{tmp}/none.csv"], "no such file"),
        (["init", "{tmp}"], "not empty"),
    ],
)
def test_user_errors_are_one_line_exit_2(tmp_path, h, run, args, message):
    ws = tmp_path / "ws"
    run("init", ws)
    h.write_parquet(h.events(2), tmp_path / "e.parquet")
    code, _, err = run(*(a.format(tmp=tmp_path, ws=ws) for a in args))
    assert code == 2
    assert message in err


def test_cli_runner_help_lists_commands():
    result = CliRunner().invoke(build_app(), ["--help"])
    assert result.exit_code == 0
    for command in ("init", "ingest", "status"):
        assert command in result.output
