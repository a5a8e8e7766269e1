"""``reclift validate``: output lines, summary, JSON report and exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from reclift.cli.main import build_app

HEADER = "user_id,session_id,item_id,event_type,ts,quantity,price,query\n"
GOOD = "u1,s1,i1,view,2024-01-01T10:00:00Z,1,9.99,shoes\n"


@pytest.fixture(scope="module")
def app():
    return build_app()


def run(app, *args):
    result = CliRunner().invoke(app, ["validate", *map(str, args)])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, output


def test_clean_file_exits_0(app, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(HEADER + GOOD)
    code, out = run(app, path, "--table", "events")
    assert code == 0
    assert out.strip() == f"OK: {path} as events: 1 rows read, 1 accepted, 0 rejected, 0 problems"


def test_problems_exit_1_with_file_row_column_lines(app, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(HEADER + GOOD + "u1,s1,i1,buy,2024-01-01T10:00:00Z,-1,9.99,\n")
    code, out = run(app, path, "--table", "events")
    assert code == 1
    assert out.splitlines() == [
        f"{path}:2:event_type: unknown event_type 'buy'; allowed: view, click, cart, order",
        f"{path}:2:quantity: negative value -1 (must be >= 0)",
        f"PROBLEMS: {path} as events: 2 rows read, 1 accepted, 1 rejected, 2 problems",
    ]


def test_max_problems_and_json(app, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(HEADER + "u1,s1,i1,buy,2024-01-01T10:00:00Z,-1,9.99,\n" * 3)
    code, out = run(app, path, "--table", "events", "--max-problems", "2")
    assert code == 1
    assert out.splitlines()[-1].endswith("6 problems (4 more not shown)")
    code, out = run(app, path, "--table", "events", "--json", "--max-problems", "1")
    assert code == 1
    report = json.loads(out)
    assert report["problem_count"] == 6 and len(report["problems"]) == 1
    assert report["problems"][0] == {
        "file": str(path),
        "row": 1,
        "column": "event_type",
        "message": "unknown event_type 'buy'; allowed: view, click, cart, order",
    }
    assert report["rows_read"] == 3 and report["rows_rejected"] == 3 and not report["ok"]


def test_fatal_file_problem_exits_1(app, tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(HEADER)
    code, out = run(app, path, "--table", "events")
    assert code == 1
    assert f"{path}: the file has a header but no data rows" in out
    assert "FATAL" in out


def test_time_unit_and_format_options(app, tmp_path):
    path = tmp_path / "e.data"
    path.write_text(HEADER + "u1,s1,i1,view,1700000000,1,9.99,\n")
    code, _ = run(app, path, "--table", "events", "--format", "csv", "--time-unit", "s")
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--table", "nope"], "unknown table 'nope'"),
        (["--table", "events", "--time-unit", "hours"], "--time-unit must be one of"),
        (["--table", "events", "--format", "xlsx"], "unknown format 'xlsx'"),
        ([], "Missing option"),
    ],
)
def test_usage_errors_exit_2(app, tmp_path, args, message):
    path = tmp_path / "e.csv"
    path.write_text(HEADER + GOOD)
    code, out = run(app, path, *args)
    assert code == 2
    assert message in out


def test_missing_file_and_unknown_extension_exit_2(app, tmp_path):
    code, out = run(app, tmp_path / "absent.csv", "--table", "events")
    assert code == 2 and "no such file" in out
    path = tmp_path / "e.xlsx"
    path.write_text("x")
    code, out = run(app, path, "--table", "events")
    assert code == 2 and "cannot tell the format from the extension" in out


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("g.csv.gz", b"\x1f\x8b\x08\x00garbage"),
        ("g.parquet", b"PAR1garbagePAR1"),
        ("g.jsonl", b"\xff\xfe{"),
        ("g.csv", b"user_id\x00,\n\x00\x00"),
    ],
)
def test_garbage_never_shows_a_traceback(app, tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    code, _ = run(app, path, "--table", "users")
    assert code == 1
