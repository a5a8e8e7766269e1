"""``reclift datasets list | info | convert`` through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from reclift.cli.main import build_app
from reclift.datasets.registry import DATASETS
from reclift.errors import ReclifError
from reclift.schema.tables import TABLES

runner = CliRunner()


def invoke(args: list[str]) -> tuple[int, str]:
    """Run the app like ``main`` does: a ReclifError becomes exit 2 and one line."""
    result = runner.invoke(build_app(), args)
    if isinstance(result.exception, ReclifError):
        return 2, f"error: {result.exception}"
    output = result.output
    assert "Traceback" not in output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, output


def write_groceries(root: Path) -> Path:
    folder = root / "groceries_arules"
    folder.mkdir(parents=True)
    (folder / "groceries.csv").write_text("whole milk,yogurt\nbeer\n", encoding="utf-8")
    return folder


def test_list_shows_every_data_set(tmp_path: Path) -> None:
    write_groceries(tmp_path)
    code, out = invoke(["datasets", "list", "--data-dir", str(tmp_path)])
    assert code == 0
    for name in DATASETS:
        assert name in out
    lines = [line for line in out.splitlines() if "groceries" in line]
    assert "yes" in lines[0]
    assert "│ no " in next(line for line in out.splitlines() if "movielens-100k" in line)
    assert "│ yes " in lines[0]


def test_info(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECLIFT_DATA_DIR", str(tmp_path))
    code, out = invoke(["datasets", "info", "groceries"])
    assert code == 0
    assert "license" in out and "public domain" in out and "absent" in out
    assert "curl" in out


def test_convert_writes_canonical_parquet(tmp_path: Path) -> None:
    src = write_groceries(tmp_path)
    out = tmp_path / "out"
    code, text = invoke(["datasets", "convert", "groceries", "--path", str(src), "--out", str(out)])
    assert code == 0, text
    assert sorted(p.name for p in out.iterdir()) == ["events.parquet", "items.parquet"]
    events = pq.read_table(out / "events.parquet")
    assert events.schema.equals(TABLES["events"].schema)
    assert events.num_rows == 3
    assert "synthetic ts" in text


def test_convert_with_options_and_extras(tmp_path: Path) -> None:
    src = tmp_path / "ml"
    src.mkdir()
    (src / "u.data").write_text("1\t1\t5\t881250949\n1\t2\t3\t881250950\n")
    flags = "|".join(["0"] * 19)
    (src / "u.item").write_text(f"1|A (1995)|01-Jan-1995||u|{flags}\n2|B (1996)|||u|{flags}\n")
    (src / "u.user").write_text("1|24|M|technician|85711\n")
    out = tmp_path / "out"
    code, text = invoke(
        [
            "datasets",
            "convert",
            "movielens-100k",
            "--path",
            str(src),
            "--out",
            str(out),
            "-o",
            "positive_threshold=null",
            "--extras",
        ]
    )
    assert code == 0, text
    events = pq.read_table(out / "events.parquet")
    assert set(events.column("event_type").to_pylist()) == {"order"}
    ratings = pq.read_table(out / "extras" / "ratings.parquet")
    assert ratings.column("rating").to_pylist() == [5, 3]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["datasets", "info", "nope"], "unknown data set 'nope'"),
        (
            ["datasets", "convert", "hillstrom", "--path", "/nonexistent/x", "--out", "o"],
            "hillstrom: data not found at /nonexistent/x",
        ),
        (
            ["datasets", "convert", "hillstrom", "--path", ".", "-o", "bad", "--out", "o"],
            "--option 'bad': expected KEY=VALUE",
        ),
        (
            ["datasets", "convert", "groceries", "--path", ".", "-o", "x=1", "--out", "o"],
            "unknown option(s) x",
        ),
    ],
)
def test_convert_errors_are_one_line(args: list[str], message: str) -> None:
    code, out = invoke(args)
    assert code == 2
    assert message in out
    assert "Traceback" not in out


def test_main_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from reclift.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(["datasets", "convert", "otto", "--path", str(tmp_path / "none"), "--out", "o"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "otto: data not found" in err and "kaggle datasets download" in err
    assert "Traceback" not in err


@pytest.mark.data
def test_convert_real_hillstrom(tmp_path: Path) -> None:
    from reclift.datasets._base import default_data_dir

    src = default_data_dir() / "hillstrom"
    if not src.is_dir():
        pytest.skip(f"hillstrom not found at {src} (set RECLIFT_DATA_DIR)")
    code, text = invoke(["datasets", "convert", "hillstrom", "--out", str(tmp_path)])
    assert code == 0, text
    users = pq.read_table(tmp_path / "users.parquet")
    assert users.num_rows == 64_000
    assert json.loads(users.column("attributes")[0].as_py())["channel"]
