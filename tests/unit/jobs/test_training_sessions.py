"""Workspace training of the sessions family: what it publishes, how well the rules complete
held-out sessions against a popular baseline computed here, that the service's in-memory
path answers like the batch path on the published models, and when it skips or drops the
ranker."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests.conformance.test_sessions import make_log

from reclift.evaluation.sessions import otto_score, split_by_time, truncate_sessions
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.jobs.training.sessions import MAX_TEST_SESSIONS, SEED, TEST_FRACTION, recent, train
from reclift.models.sessions import CovisitationRecommender, TwoStageRanker
from reclift.models.sessions.base import check_events
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace

pytest.importorskip("lightgbm")

TARGETS = ("clicks", "carts", "orders")
TYPE_OF = {"clicks": ("click", "view"), "carts": ("cart",), "orders": ("order",)}


@pytest.fixture(scope="module")
def trained(
    sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Workspace, dict[str, str], float]:
    root = tmp_path_factory.mktemp("sessions-train") / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    started = time.perf_counter()
    versions = train(TrainContext(ws=ws, options={"sessions_budget_s": 600}))
    return ws, versions, time.perf_counter() - started


def _meta(ws: Workspace, name: str) -> dict[str, Any]:
    return dict(ws.artifacts.load(name).meta)


def test_publishes_rules_and_ranker_with_holdout_metrics(
    trained: tuple[Workspace, dict[str, str], float],
) -> None:
    ws, versions, _ = trained
    assert sorted(versions) == ["covisitation", "ranker"]
    for name, version in versions.items():
        assert ws.artifacts.current_version(name) == version
        meta = _meta(ws, name)
        assert meta["family"] == "sessions" and meta["model"] == name
        metrics = meta["metrics"]
        assert set(metrics) == {f"recall@20_{t}" for t in TARGETS} | {"weighted_recall@20"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
        weighted = 0.1 * metrics["recall@20_clicks"] + 0.3 * metrics["recall@20_carts"]
        weighted += 0.6 * metrics["recall@20_orders"]
        assert metrics["weighted_recall@20"] == pytest.approx(weighted, abs=2e-4)
        curves = meta["curves"]
        assert set(curves) == {f"recall@k_{t}" for t in TARGETS}
        for t in TARGETS:
            curve = curves[f"recall@k_{t}"]
            assert curve["x"] == [5, 10, 20, 50]
            assert curve["y"][2] == metrics[f"recall@20_{t}"]
        # One true item per session: recall of clicks can only grow with k.
        ys = curves["recall@k_clicks"]["y"]
        assert ys == sorted(ys)
        assert meta["holdout"]["test_sessions"] > 100
    assert _meta(ws, "ranker")["fit_report"]["label_sessions"] > 0


def _holdout(ws: Workspace) -> tuple[pa.Table, dict[str, dict[str, list[str]]]]:
    events = check_events(ws.read_table("events", ["session_id", "item_id", "event_type", "ts"]))
    train_events, test_events = split_by_time(events, TEST_FRACTION)
    _, labels = truncate_sessions(test_events, seed=SEED)
    keep = sorted(labels)[:MAX_TEST_SESSIONS]
    return recent(train_events, 7.0), {s: labels[s] for s in keep}


def test_rules_beat_popular_items_on_the_holdout(
    trained: tuple[Workspace, dict[str, str], float],
) -> None:
    ws, _, _ = trained
    train_events, labels = _holdout(ws)
    # Oracle baseline: the 20 most frequent items of each type before the holdout.
    types = train_events.column("event_type").to_pylist()
    items = train_events.column("item_id").to_pylist()
    popular = {}
    for target in TARGETS:
        counts = Counter(i for i, t in zip(items, types, strict=True) if t in TYPE_OF[target])
        popular[target] = [i for i, _ in counts.most_common(20)]
    baseline = otto_score({s: popular for s in labels}, labels)
    for name in ("covisitation", "ranker"):
        metrics = _meta(ws, name)["metrics"]
        assert metrics["weighted_recall@20"] > baseline.score + 0.1, (name, baseline)
        for target in TARGETS:
            assert metrics[f"recall@20_{target}"] > baseline.recall[target], (name, target)


def test_fixture_trains_in_seconds(trained: tuple[Workspace, dict[str, str], float]) -> None:
    _, _, seconds = trained
    assert seconds < 120  # a few seconds alone; generous for a busy shared machine


@pytest.mark.parametrize("name", ["covisitation", "ranker"])
def test_service_path_equals_batch_path_on_published_models(
    trained: tuple[Workspace, dict[str, str], float], name: str
) -> None:
    ws, _, _ = trained
    cls = {"covisitation": CovisitationRecommender, "ranker": TwoStageRanker}[name]
    model = cls.load(ws.artifacts, name)
    events = check_events(ws.read_table("events", ["session_id", "item_id", "event_type", "ts"]))
    _, test_events = split_by_time(events, 0.05)
    history, labels = truncate_sessions(test_events, seed=3)
    sessions = sorted(labels)[:8]
    assert len(sessions) == 8
    for s in sessions:
        one = history.filter(pc.equal(history.column("session_id"), s))
        batch = model.recommend(one, 20, sessions=[s])
        online = model.recommend_session(
            one.column("item_id").to_pylist(),
            one.column("event_type").to_pylist(),
            one.column("ts").cast(pa.int64()).to_pylist(),
            20,
            session_id=s,
        )
        for target in batch.targets:
            assert online.items[target].tolist() == batch.items[target].tolist(), (s, target)
            assert online.scores[target] == pytest.approx(batch.scores[target], rel=1e-5)


def _workspace_with(tmp_path: Path, events: pa.Table) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    path = tmp_path / "events.parquet"
    pq.write_table(events, path)
    ingest(ws, "events", path, on_error="reject", progress=False)
    return ws


def test_without_sessions_it_skips(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "empty")
    with pytest.raises(SkipFamily, match="session_id"):
        train(TrainContext(ws=ws))


def test_rules_only_when_the_ranker_is_off(tmp_path: Path) -> None:
    log = make_log(60)
    ws = _workspace_with(tmp_path, log)
    said: list[str] = []
    versions = train(TrainContext(ws=ws, say=said.append, options={"sessions_ranker": False}))
    assert list(versions) == ["covisitation"]
    assert ws.artifacts.names() == ["covisitation"]
    assert any("disabled" in m for m in said)
    meta = _meta(ws, "covisitation")
    assert meta["n_events"] == recent(check_events(log), 7.0).num_rows


def test_demo_section_reads_the_published_metrics(
    trained: tuple[Workspace, dict[str, str], float],
) -> None:
    from reclift.evaluation.report import HtmlReport
    from reclift.jobs.sections.sessions import add_section

    ws, _, _ = trained
    rep = HtmlReport("demo")
    started = time.perf_counter()
    add_section(rep, ws, data_dir=None)
    assert time.perf_counter() - started < 10  # no refit: the trainer measured it already
    html = rep.render()
    assert "Measured by the workspace training" in html
    for name in ("covisitation", "ranker"):
        metrics = _meta(ws, name)["metrics"]
        assert str(metrics["weighted_recall@20"]) in html
    ceiling = _meta(ws, "ranker")["holdout"]["candidate_recall"]
    assert set(ceiling) == set(TARGETS)
    # The ceiling bounds what any ranking of the candidates reaches at 20.
    for t in TARGETS:
        assert ceiling[t] >= _meta(ws, "covisitation")["metrics"][f"recall@20_{t}"] - 1e-9


def test_first_stage_and_refresh_equal_plain_fits() -> None:
    # The trainer relies on both: rules = the ranker's first stage; the published ranker's
    # index = a refresh on the latest events.
    old, new = make_log(40, seed=1), make_log(40, seed=2)
    query = new.slice(0, 12)
    ranker = TwoStageRanker(n_estimators=5, min_data_in_leaf=2).fit(old)
    plain = CovisitationRecommender().fit(old)
    a = ranker.first_stage().recommend(query, 10)
    b = plain.recommend(query, 10)
    for t in b.targets:
        assert a.items[t].tolist() == b.items[t].tolist()
    boosters = dict(ranker.boosters_)
    ranker.refresh(new)
    assert ranker.boosters_ == boosters
    fresh = CovisitationRecommender().fit(new)
    assert ranker.index_.neighbours.equals(fresh.index_.neighbours)
    assert ranker.index_.item_pop.equals(fresh.index_.item_pop)
