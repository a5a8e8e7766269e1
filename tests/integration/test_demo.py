"""The main job end to end on a small simulated shop."""

import re

import pytest
from typer.testing import CliRunner

from reclift.cli.main import build_app
from reclift.jobs.demo import DEMO_MARKER, run_demo
from reclift.workspace.store import Workspace


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, events=30_000, seed=7, progress=False, say=lambda _m: None)


def test_demo_builds_workspace_artifacts_and_report(demo_run):
    ws = Workspace.open(demo_run.workspace)
    for table in ("items", "users", "events", "exposures", "campaigns", "queries", "banner_log"):
        assert ws.row_count(table) == demo_run.rows[table] > 0
    assert ws.read_derived("item_stats").num_rows > 0
    assert ws.read_derived("session_summary").num_rows > 0
    assert "popular" in ws.artifacts.names()
    html = demo_run.report.read_text()
    for heading in ("Overview", "Shopping funnel", "Recommendations", "Ad experiments", "Banners"):
        assert f">{heading}</h2>" in html
    assert html.count("<svg") >= 3


def test_popularity_beats_random_on_held_out_orders(demo_run):
    ev = demo_run.evaluation
    assert ev["popular"].users > 0
    assert ev["popular"].recall > ev["random"].recall


def test_demo_refuses_to_wipe_a_foreign_directory(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(build_app(), ["demo", "--out", str(tmp_path), "--events", "2000"])
    assert result.exit_code != 0
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / DEMO_MARKER).exists()


def test_demo_rerun_replaces_its_own_directory(tmp_path):
    out = tmp_path / "d"
    first = run_demo(out, events=3_000, seed=1, progress=False, say=lambda _m: None)
    second = run_demo(out, events=3_000, seed=1, progress=False, say=lambda _m: None)
    assert first.rows == second.rows
    assert re.search(r"<title>reclift demo", second.report.read_text())


@pytest.mark.spark
def test_train_on_spark_gives_the_same_derived_tables(demo_run, tmp_path):
    """`reclift train DIR --engine spark` builds exactly what the DuckDB default built."""
    import shutil

    copy = tmp_path / "ws"
    shutil.copytree(demo_run.workspace, copy)
    ws = Workspace.open(copy)
    by_duckdb = {n: ws.read_derived(n) for n in ("item_stats", "session_summary")}
    result = CliRunner().invoke(build_app(), ["train", str(copy), "--engine", "spark"])
    assert result.exit_code == 0, result.output
    for name, expected in by_duckdb.items():
        got = ws.read_derived(name)
        keys = [(c, "ascending") for c in got.column_names]
        assert got.sort_by(keys).equals(expected.sort_by(keys)), name


def test_demo_ends_by_telling_how_to_open_the_dashboard(tmp_path):
    out = tmp_path / "d"
    result = CliRunner().invoke(build_app(), ["demo", "--out", str(out), "--events", "3000"])
    assert result.exit_code == 0, result.output
    tail = result.output.strip().splitlines()[-3:]
    assert f"reclift serve {out / 'workspace'}" in tail[0]
    assert "http://127.0.0.1:8000/dashboard" in tail[1]
    assert "reclift report" in tail[2]
