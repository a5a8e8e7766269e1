"""Workspace training of the recs family: what it publishes, holdout metrics recomputed here,
the refit on all events, the simulator's planted complements recovered by the co-purchase
model, and when a model or the family is skipped."""

from __future__ import annotations

import math
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from reclift.errors import SchemaError
from reclift.evaluation.ranking import ranking_scores
from reclift.evaluation.report import HtmlReport
from reclift.jobs.sections import catalog as catalog_section
from reclift.jobs.training import FAMILIES, SkipFamily, TrainContext
from reclift.jobs.training import embeddings as embeddings_training
from reclift.jobs.training import recs as recs_training
from reclift.jobs.training.recs import (
    DEFAULT_MODELS,
    K,
    average_precision,
    holdout_metrics,
    time_holdout,
    train,
)
from reclift.models.embeddings.customer360 import load_vectors
from reclift.models.recs import CoPurchaseRecommender, CustomerKNNRecommender, PopularRecommender
from reclift.models.recs.registry import RECOMMENDERS, load_recommender
from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings
from reclift.workspace.store import Workspace

METRICS = {f"{m}@{K}" for m in ("precision", "recall", "ndcg", "map", "hit_rate")}


@pytest.fixture(scope="module")
def trained(
    sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Workspace, dict[str, str], float, list[str]]:
    root = tmp_path_factory.mktemp("recs-train") / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    said: list[str] = []
    started = time.perf_counter()
    versions = train(TrainContext(ws=ws, say=said.append))
    return ws, versions, time.perf_counter() - started, said


def _meta(ws: Workspace, name: str) -> dict[str, Any]:
    return dict(ws.artifacts.load(name).meta)


def test_publishes_every_model_with_holdout_metrics(
    trained: tuple[Workspace, dict[str, str], float, list[str]],
) -> None:
    ws, versions, seconds, said = trained
    # 1,200 items: under the EASE guard, so every default model is published
    assert sorted(versions) == sorted(DEFAULT_MODELS)
    for name, version in versions.items():
        assert ws.artifacts.current_version(name) == version
        meta = _meta(ws, name)
        assert meta["family"] == "recs" and meta["model"] == name
        assert meta["trained_on"] == "all_events"
        metrics = meta["metrics"]
        assert set(metrics) == METRICS | {"holdout_users"}
        assert metrics["holdout_users"] >= 200
        for key in METRICS:
            assert 0.0 <= metrics[key] <= 1.0, (name, key)
        curve = meta["curves"]["recall@k"]
        assert curve["x"] == [1, 2, 5, 10, 20]
        assert curve["y"] == sorted(curve["y"])  # recall never drops as k grows
        assert math.isclose(curve["y"][3], metrics[f"recall@{K}"])
        assert any(f"{name}: published version {version}" in line for line in said)
    assert seconds < 60


def test_metrics_recomputed_from_the_holdout(
    trained: tuple[Workspace, dict[str, str], float, list[str]],
) -> None:
    ws, _, _, _ = trained
    events = ws.read_table("events", ["user_id", "session_id", "item_id", "event_type", "ts"])
    holdout = time_holdout(events, 7.0, max_users=2_000)
    assert holdout is not None
    assert _meta(ws, "popular")["evaluation"]["cutoff"] == holdout.cutoff
    # the trainer's popular model before the cut-off, scored by ranking_scores directly
    model = PopularRecommender().fit(holdout.train, ws.read_table("items"))
    users = sorted(holdout.relevant)
    ids, _ = model.recommend(users, K, exclude_seen=True)
    direct = ranking_scores(dict(zip(users, ids.tolist(), strict=True)), holdout.relevant, K)
    metrics = _meta(ws, "popular")["metrics"]
    assert math.isclose(metrics[f"recall@{K}"], direct.recall)
    assert math.isclose(metrics[f"ndcg@{K}"], direct.ndcg)
    assert metrics["holdout_users"] == direct.users


def test_personalised_models_beat_popular_on_the_holdout(
    trained: tuple[Workspace, dict[str, str], float, list[str]],
) -> None:
    # The simulated users browse near their own tastes, so on this shop item-kNN (with
    # shrinkage) and EASE recall more of the held-out items than popularity does.
    ws, _, _, _ = trained
    recall = {n: _meta(ws, n)["metrics"][f"recall@{K}"] for n in ("popular", "itemknn", "ease")}
    assert recall["itemknn"] > recall["popular"]
    assert recall["ease"] > recall["popular"]


def test_published_model_is_refit_on_all_events(
    trained: tuple[Workspace, dict[str, str], float, list[str]],
) -> None:
    ws, _, _, _ = trained
    events = ws.read_table("events", ["user_id", "session_id", "item_id", "event_type", "ts"])
    items = ws.read_table("items", ["item_id", "title", "category", "brand", "price"])
    published = load_recommender(ws.artifacts, "itemknn")
    refit = RECOMMENDERS["itemknn"](shrink=300.0).fit(events, items)
    users = sorted({u for u in events.column("user_id").to_pylist()[:5_000] if u})[:30]
    a_ids, a_scores = published.recommend(users, 10, exclude_seen=True)
    b_ids, b_scores = refit.recommend(users, 10, exclude_seen=True)
    assert a_ids.tolist() == b_ids.tolist()
    np.testing.assert_array_equal(a_scores, b_scores)
    assert len(published.item_map_) == len(set(events.column("item_id").to_pylist()))  # type: ignore[attr-defined]


def test_bought_together_recovers_planted_complements(
    trained: tuple[Workspace, dict[str, str], float, list[str]], sim_shop: Path
) -> None:
    # truth/complements: an order of item_a is followed by item_b being carted/ordered
    ws, _, _, _ = trained
    pairs = pq.read_table(sim_shop / "truth" / "complements.parquet").to_pylist()
    model = load_recommender(ws.artifacts, "copurchase")
    assert isinstance(model, CoPurchaseRecommender)
    ids, _ = model.bought_together([p["item_a"] for p in pairs], 10)
    hit = np.mean([p["item_b"] in row for p, row in zip(pairs, ids.tolist(), strict=True)])
    popular = load_recommender(ws.artifacts, "popular")
    top, _ = popular.recommend(["anyone"], 10)
    chance = np.mean([p["item_b"] in top[0].tolist() for p in pairs])
    assert hit >= 0.15
    assert hit > 5 * chance


# ------------------------------------------------------------------ pieces, on tiny data
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _events(rows: list[tuple[str | None, str, int]]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([r[0] for r in rows], pa.string()),
            "session_id": [f"s{n}" for n in range(len(rows))],
            "item_id": [r[1] for r in rows],
            "event_type": ["view"] * len(rows),
            "ts": pa.array([T0 + timedelta(days=r[2]) for r in rows], pa.timestamp("us", "UTC")),
        }
    )


def test_time_holdout_keeps_new_items_of_known_users() -> None:
    events = _events(
        [
            ("u1", "a", 0),
            ("u1", "b", 10),
            ("u2", "a", 5),
            ("u1", "a", 27),  # seen before the cut-off: not relevant
            ("u1", "c", 27),
            ("u2", "d", 28),
            ("u3", "e", 28),  # u3 is new after the cut-off: not evaluated
            (None, "f", 28),
        ]
    )
    holdout = time_holdout(events, 7.0, max_users=10)
    assert holdout is not None
    assert holdout.relevant == {"u1": {"c"}, "u2": {"d"}}
    assert holdout.train.num_rows == 3 and holdout.test_events == 5
    assert holdout.days == 7.0


def test_time_holdout_caps_the_window_and_needs_both_sides() -> None:
    events = _events([("u1", "a", 0), ("u1", "b", 4), ("u1", "c", 8)])
    holdout = time_holdout(events, 7.0, max_users=10)
    assert holdout is not None and holdout.days == 2.0  # a quarter of the 8-day span
    assert holdout.relevant == {"u1": {"c"}}
    assert time_holdout(_events([("u1", "a", 0), ("u1", "b", 0)]), 7.0, max_users=5) is None


def test_time_holdout_samples_users_reproducibly() -> None:
    rows: list[tuple[str | None, str, int]] = []
    for n in range(50):
        rows += [(f"u{n:02d}", "a", 0), (f"u{n:02d}", f"new{n}", 27)]
    first = time_holdout(_events(rows), 7.0, max_users=10)
    again = time_holdout(_events(rows), 7.0, max_users=10)
    assert first is not None and again is not None
    assert len(first.relevant) == 10 and first.relevant == again.relevant


@pytest.mark.parametrize(
    ("ranked", "relevant", "expected"),
    [
        (["a", "x", "b"], {"a", "b"}, (1 / 1 + 2 / 3) / 2),
        (["x", "y"], {"a"}, 0.0),
        ([None, "a"], {"a"}, 0.5),
        (["a"] + ["x"] * 20, {"a", "b", "c"}, 1 / 3),
    ],
)
def test_average_precision(ranked: list[str | None], relevant: set[str], expected: float) -> None:
    assert math.isclose(average_precision(ranked, relevant, 10), expected)


def test_holdout_metrics_on_a_known_list() -> None:
    events = _events([("u1", "a", 0), ("u2", "a", 0), ("u2", "b", 0), ("u3", "b", 0)])
    model = PopularRecommender().fit(events)  # ranking: a (2), b (2) tie -> a first
    metrics, curves = holdout_metrics(model, {"u1": {"b"}, "u3": {"c"}})
    # u1 gets [b] (a is seen): hit at rank 1; u3 gets [a]: miss
    assert metrics[f"recall@{K}"] == 0.5 and metrics[f"hit_rate@{K}"] == 0.5
    assert metrics[f"map@{K}"] == 0.5 and metrics[f"precision@{K}"] == 0.05
    assert curves["recall@k"]["y"] == [0.5] * 5


def test_ease_is_skipped_above_its_guard(
    sim_workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(sim_workspace, root)
    monkeypatch.setattr(recs_training, "EASE_MAX_ITEMS", 100)
    said: list[str] = []
    ctx = TrainContext(
        ws=Workspace.open(root), say=said.append, options={"recs_models": ["popular", "ease"]}
    )
    assert list(train(ctx)) == ["popular"]
    assert any(
        line.startswith("ease: skipped (") and "exceed the EASE guard" in line for line in said
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [({"recs_models": ["popular", "nope"]}, "unknown recommender(s) ['nope']")],
)
def test_unknown_model_option_skips(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(SkipFamily) as info:
        train(TrainContext(ws=ws, options=options))
    assert message in str(info.value)


def test_empty_workspace_skips(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(SkipFamily, match="no events"):
        train(TrainContext(ws=ws))


# ------------------------------------------------------------------ demo report section
class _Recorder(HtmlReport):
    def __init__(self) -> None:
        super().__init__("t")
        self.tables: list[list[dict[str, Any]]] = []
        self.texts: list[str] = []

    def table(self, rows: Any, *, caption: str | None = None) -> None:
        self.tables.append([dict(r) for r in rows])

    def text(self, paragraph: str, *, note: bool = False) -> None:
        self.texts.append(paragraph)


def test_catalog_section_has_numbers_for_every_row(
    sim_workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        catalog_section,
        "_MODELS",
        [("popular", {}), ("ease", {"max_items": 100}), ("itemknn", {})],
    )
    rep = _Recorder()
    catalog_section.add_section(rep, Workspace.open(sim_workspace, repair=False), data_dir=None)
    rows = rep.tables[0]
    assert [r["model"] for r in rows] == ["popular", "itemknn"]
    for row in rows:
        assert set(row) == {"model", "MAP", "nDCG@10", "P@10", "R@10", "fit s"}
        assert all(math.isfinite(row[k]) for k in ("MAP", "nDCG@10", "P@10", "R@10"))
    assert any(
        t.startswith("Not in the table: ease: ") and "exceed its 100-item guard" in t
        for t in rep.texts
    )


def test_service_answers_from_the_trained_workspace(
    trained: tuple[Workspace, dict[str, str], float, list[str]],
) -> None:
    ws, versions, _, _ = trained
    ndcg = {name: _meta(ws, name)["metrics"][f"ndcg@{K}"] for name in versions}
    best = max(ndcg, key=ndcg.__getitem__)
    events = ws.read_table("events", ["user_id"])
    user = next(u for u in events.column("user_id").to_pylist() if u)
    with TestClient(create_app(ServiceSettings(workspace=ws.root))) as client:
        body = client.post("/v1/recommend/users", json={"users": [user, "new-visitor"]}).json()
        assert body["model"] == {"name": best, "version": versions[best]}
        known, cold = body["results"]
        ids, _ = load_recommender(ws.artifacts, best).recommend([user], 10, exclude_seen=True)
        assert [i["item_id"] for i in known["items"]] == [i for i in ids[0].tolist() if i]
        assert cold["fallback"]["reason"] == "unknown_user"
        item = known["items"][0]["item_id"]
        together = client.get(f"/v1/items/{item}/bought-together").json()
        assert together["model"]["name"] == "copurchase"


# ------------------------------------------------------------------ customer vectors reused
@pytest.fixture(scope="module")
def with_vectors(
    sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Workspace, dict[str, str], list[str]]:
    """Embeddings trained first (as :data:`FAMILIES` orders them), then three recs models."""
    root = tmp_path_factory.mktemp("recs-vectors") / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    said: list[str] = []
    options = {"embeddings_holdout": False, "recs_models": ["popular", "itemknn", "customer_knn"]}
    ctx = TrainContext(ws=ws, say=said.append, options=options)
    versions = embeddings_training.train(ctx)
    versions.update(train(ctx))
    return ws, versions, said


def test_embeddings_train_before_recs() -> None:
    assert FAMILIES.index("embeddings") < FAMILIES.index("recs")
    assert FAMILIES.index("embeddings") < FAMILIES.index("offers")


def test_customer_knn_reuses_the_published_vectors(
    with_vectors: tuple[Workspace, dict[str, str], list[str]],
) -> None:
    ws, versions, said = with_vectors
    assert sorted(versions) == ["customer360", "customer_knn", "itemknn", "popular"]
    meta = _meta(ws, "customer_knn")
    assert meta["customer_vectors"] == versions["customer360"]
    assert meta["customer_vectors"] == ws.artifacts.current_version("customer360")
    assert set(meta["metrics"]) == METRICS | {"holdout_users"}
    for key in METRICS:
        assert 0.0 <= meta["metrics"][key] <= 1.0
    # the holdout neighbourhoods come from vectors that never saw a held-out event
    assert "rebuilt from the events before the cut-off" in meta["evaluation"]["customer_vectors"]
    assert meta["evaluation"]["cutoff"] == _meta(ws, "popular")["evaluation"]["cutoff"]
    # the published model holds exactly the published vectors (L2-normalised) of its users
    model = load_recommender(ws.artifacts, "customer_knn")
    assert isinstance(model, CustomerKNNRecommender)
    cv = load_vectors(ws.artifacts, "customer360")
    codes = model.user_map_.encode(cv.user_ids.astype(str))
    rows = np.flatnonzero(codes >= 0)
    assert rows.size > 100
    want = cv.vectors[rows] / np.linalg.norm(cv.vectors[rows], axis=1, keepdims=True)
    np.testing.assert_allclose(model.user_vectors_[codes[rows]], want, rtol=1e-5, atol=1e-6)
    assert any(f"customer_knn: published version {versions['customer_knn']}" in s for s in said)


def test_customer_knn_beats_popular_on_the_holdout(
    with_vectors: tuple[Workspace, dict[str, str], list[str]],
) -> None:
    ws, _, _ = with_vectors
    # the fixture's simulated users browse near their tastes: customers with vectors close
    # to theirs predict the items they turn to next better than overall popularity does
    for metric in (f"recall@{K}", f"ndcg@{K}"):
        got = {n: _meta(ws, n)["metrics"][metric] for n in ("popular", "customer_knn")}
        assert got["customer_knn"] > got["popular"], metric


def test_customer_knn_is_skipped_without_vectors(
    trained: tuple[Workspace, dict[str, str], float, list[str]],
) -> None:
    ws, versions, _, said = trained
    assert "customer_knn" not in versions and "customer360" not in ws.artifacts.names()
    assert any(
        line.startswith("customer_knn: skipped (no published 'customer360' customer vectors")
        for line in said
    )


def test_service_recommends_with_customer_knn(
    with_vectors: tuple[Workspace, dict[str, str], list[str]],
) -> None:
    ws, versions, _ = with_vectors
    model = load_recommender(ws.artifacts, "customer_knn")
    users = sorted(model.user_map_.ids.tolist())[:5]  # type: ignore[attr-defined]
    with TestClient(create_app(ServiceSettings(workspace=ws.root))) as client:
        response = client.post(
            "/v1/recommend/users", json={"users": users, "k": 8, "model": "customer_knn"}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == {"name": "customer_knn", "version": versions["customer_knn"]}
    ids, _ = model.recommend(users, 8, exclude_seen=True)
    for row, result in zip(ids.tolist(), body["results"], strict=True):
        assert [i["item_id"] for i in result["items"]] == [i for i in row if i]


def test_customer_knn_without_holdout_vectors_publishes_no_metrics(
    with_vectors: tuple[Workspace, dict[str, str], list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, versions, _ = with_vectors
    shutil.copytree(ws.root, tmp_path / "ws")

    def no_sessions(*_args: object) -> None:
        raise SchemaError("events: no session with two or more items to learn item2vec from")

    monkeypatch.setattr(recs_training, "_holdout_vectors", no_sessions)
    said: list[str] = []
    ctx = TrainContext(
        ws=Workspace.open(tmp_path / "ws"),
        say=said.append,
        options={"recs_models": ["customer_knn"]},
    )
    assert list(train(ctx)) == ["customer_knn"]
    meta = dict(ctx.ws.artifacts.load("customer_knn").meta)
    # no number rather than one measured with vectors that saw the held-out events
    assert "metrics" not in meta
    assert meta["evaluation"]["customer_vectors"].startswith("not rebuilt before the cut-off: ")
    assert meta["customer_vectors"] == versions["customer360"]
    assert "customer_knn: no holdout metrics (customer vectors: events: no session" in said[0]
