"""The session family's co-visitation index built by an engine from the workspace's files.

The oracle is the in-process build over the trainer's in-memory log: reading the event
parts on the engine (DuckDB here, Spark under ``-m spark``) must publish the same tables,
row for row.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from reclift.errors import SchemaError
from reclift.jobs.training import TrainContext
from reclift.jobs.training.sessions import recent, train
from reclift.models.sessions import CovisitationRecommender
from reclift.models.sessions.features import (
    NEIGHBOURS_FILE,
    POPULARITY_FILE,
    CovisitIndex,
    EventFiles,
    IndexParams,
)
from reclift.workspace.store import Workspace

COLUMNS = ["session_id", "item_id", "event_type", "ts"]
#: Fewer days than the simulated period, so the engine-side recency filter drops events.
LAST_DAYS = 3.0


def _copy(sim_workspace: Path, tmp_path: Path, name: str) -> Workspace:
    root = tmp_path / name
    shutil.copytree(sim_workspace, root)
    return Workspace.open(root)


def _in_memory_log(ws: Workspace) -> pa.Table:
    raw = ws.read_table("events", COLUMNS)
    return raw.filter(pc.is_valid(raw.column("session_id")))


def _assert_same_index(got: CovisitIndex, want: CovisitIndex) -> None:
    assert got.neighbours.num_rows == want.neighbours.num_rows
    assert got.neighbours.equals(want.neighbours)
    assert got.item_pop.equals(want.item_pop)


@pytest.mark.parametrize("last_days", [0.0, LAST_DAYS])
def test_index_from_files_equals_the_in_memory_build(
    sim_workspace: Path, tmp_path: Path, last_days: float
) -> None:
    ws = _copy(sim_workspace, tmp_path, "ws")
    log = recent(_in_memory_log(ws), last_days)
    if last_days:
        assert 0 < log.num_rows < _in_memory_log(ws).num_rows, "the filter must matter here"
    params = IndexParams(top_k_neighbours=10)
    want = CovisitIndex.build(log, params)
    got = CovisitIndex.build(EventFiles(tuple(ws.table_files("events")), last_days), params)
    _assert_same_index(got, want)
    # Every kept event is counted once in the popularity table (views count as clicks).
    counts = sum(pc.sum(got.item_pop.column(c)).as_py() for c in ("n_click", "n_cart", "n_order"))
    assert counts == log.num_rows
    assert set(got.neighbours.column("kind").to_pylist()) == {"clicks", "carts_orders", "buy2buy"}


def test_refresh_from_files_without_sessions_is_refused(
    sim_workspace: Path, tmp_path: Path
) -> None:
    ws = _copy(sim_workspace, tmp_path, "ws")
    log = _in_memory_log(ws).slice(0, 500)
    rules = CovisitationRecommender().fit(log)
    orphans = log.set_column(0, "session_id", pa.nulls(log.num_rows, pa.string()))
    path = tmp_path / "orphans.parquet"
    pq.write_table(orphans, path)
    with pytest.raises(SchemaError, match="no event with a session_id"):
        rules.refresh(EventFiles((path,)))
    # The files of the same events with their sessions rebuild what a fit builds.
    pq.write_table(log, path)
    _assert_same_index(rules.refresh(EventFiles((path,))).index_, CovisitIndex.build(log))


def _published(ws: Workspace, name: str) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    artifact = ws.artifacts.load(name)
    return (
        pq.read_table(artifact.file(NEIGHBOURS_FILE)),
        pq.read_table(artifact.file(POPULARITY_FILE)),
        dict(artifact.meta),
    )


@pytest.mark.spark
def test_spark_trainer_publishes_the_duckdb_index(
    sim_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("java") is None:
        pytest.skip("Java is not installed (Spark needs Java 17)")
    pytest.importorskip("pyspark", reason="pyspark is not installed (reclift[spark])")
    from reclift.engines import SparkEngine

    def no_driver_tables(self: SparkEngine, table: pa.Table, table_name: str) -> Any:
        raise AssertionError(f"Spark was handed an in-memory table {table_name!r}")

    # The published build must read the workspace's files on Spark, never the driver's rows.
    monkeypatch.setattr(SparkEngine, "read_arrow", no_driver_tables)
    options = {"sessions_budget_s": 600.0}
    on_duckdb = _copy(sim_workspace, tmp_path, "duckdb")
    on_spark = _copy(sim_workspace, tmp_path, "spark")
    said: list[str] = []
    want = train(TrainContext(ws=on_duckdb, options=options))
    got = train(
        TrainContext(
            ws=on_spark,
            engine="spark",
            spark_master="local[2]",
            options=options,
            say=said.append,
        )
    )
    assert sorted(got) == sorted(want) and got
    assert any("published index on spark" in m for m in said)
    for name in want:
        nb_d, pop_d, meta_d = _published(on_duckdb, name)
        nb_s, pop_s, meta_s = _published(on_spark, name)
        assert nb_s.num_rows == nb_d.num_rows > 0
        assert nb_s.equals(nb_d), f"{name}: neighbours differ between Spark and DuckDB"
        assert pop_s.equals(pop_d), f"{name}: item popularity differs between Spark and DuckDB"
        assert (meta_d["engine"], meta_s["engine"]) == ("duckdb", "spark")
        assert meta_s["holdout_engine"] == "duckdb"
        # Same holdout (in process on both runs), so the same metrics.
        assert meta_s["metrics"] == meta_d["metrics"]
        assert meta_s["n_events"] == meta_d["n_events"]
