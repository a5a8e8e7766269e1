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
from reclift.models.sessions import CovisitationRecommender, TwoStageRanker, training_split
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


def test_index_built_in_item_ranges_equals_the_whole(
    sim_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reclift.models.sessions import features

    ws = _copy(sim_workspace, tmp_path, "ws")
    log = _in_memory_log(ws)
    params = IndexParams(top_k_neighbours=10)
    want = CovisitIndex.build(log, params, item_parts=1)
    assert want.neighbours.num_rows > 1000
    _assert_same_index(CovisitIndex.build(log, params, item_parts=3), want)
    # Large logs split themselves: here every third of the events is "large".
    monkeypatch.setattr(features, "EVENTS_PER_PART", log.num_rows // 3)
    assert features._parts_for(log) == 4
    files = EventFiles(tuple(ws.table_files("events")))
    assert features._parts_for(files) >= 4, "the files hold at least the in-memory events"
    _assert_same_index(CovisitIndex.build(files, params), want)
    for bad in (0, -2, True):
        with pytest.raises(ValueError, match="item_parts must be a positive integer or None"):
            CovisitIndex.build(log, params, item_parts=bad)


def test_index_of_the_feature_period_filtered_by_the_engine_equals_the_copy(
    sim_workspace: Path, tmp_path: Path
) -> None:
    ws = _copy(sim_workspace, tmp_path, "ws")
    log = _in_memory_log(ws)
    split = training_split(log, label_fraction=0.3, seed=0)
    copy = split.feature_events
    assert 0 < copy.num_rows == split.n_feature_events < log.num_rows
    params = IndexParams(top_k_neighbours=10)
    want = CovisitIndex.build(copy, params)
    _assert_same_index(CovisitIndex.build(log, params, before_us=split.cutoff_us), want)
    files = EventFiles(tuple(ws.table_files("events")))
    _assert_same_index(CovisitIndex.build(files, params, before_us=split.cutoff_us), want)
    # The cutoff is strict: the earliest event itself is after a cutoff of 0 microseconds.
    first_only = CovisitIndex.build(log, params, before_us=1)
    earliest = pc.equal(log.column("ts"), pc.min(log.column("ts")))
    assert first_only.item_pop.num_rows == len(pc.unique(log.filter(earliest).column("item_id")))


def test_ranker_fitted_from_files_equals_the_in_memory_fit(
    sim_workspace: Path, tmp_path: Path
) -> None:
    # How `reclift sessions fit` trains: the engine reads the validated log from disk and
    # only the sampled label sessions come into memory.
    ws = _copy(sim_workspace, tmp_path, "ws")
    log = _in_memory_log(ws)
    path = tmp_path / "log.parquet"
    pq.write_table(log, path)
    files = EventFiles((path,))
    params: dict[str, Any] = {"label_fraction": 0.3, "seed": 1, "max_sessions": 300}
    memory, disk = training_split(log, **params), training_split(files, **params)
    assert (disk.cutoff, disk.cutoff_us) == (memory.cutoff, memory.cutoff_us)
    assert disk.n_feature_events == memory.n_feature_events == memory.feature_events.num_rows
    assert disk.labels == memory.labels and len(disk.labels) > 100
    assert disk.history.to_pylist() == memory.history.to_pylist()
    with pytest.raises(TypeError, match="cut from files"):
        _ = disk.feature_events

    ranker = {"max_train_sessions": 300, "n_estimators": 20, "label_fraction": 0.3}
    want = TwoStageRanker(**ranker).fit(log)
    got = TwoStageRanker(**ranker).fit(files)
    assert got.targets_ == want.targets_
    assert got.fit_report_ == want.fit_report_
    _assert_same_index(got.index_, want.index_)
    recent_events = log.slice(log.num_rows - 400)
    rec_want, rec_got = want.recommend(recent_events, k=10), got.recommend(recent_events, k=10)
    for target in want.targets_:
        assert (rec_got.items[target] == rec_want.items[target]).all(), target
    empty = tmp_path / "empty.parquet"
    pq.write_table(log.slice(0, 0), empty)
    with pytest.raises(SchemaError, match="hold no event with a session: nothing to fit on"):
        TwoStageRanker().fit(EventFiles((empty,)))


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
