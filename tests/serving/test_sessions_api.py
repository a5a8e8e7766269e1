"""``POST /v1/recommend/session`` and ``/v1/recommend/related`` against oracles.

Oracles: the model's batch path (:meth:`SessionRecommender.recommend`, which builds
candidates with the DuckDB pipeline) on the same artifact, and hand-derived answers on the
tiny co-visitation index of ``tests/serving/tiny/sessions.py`` (items in pairs).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from tests.serving.tiny.sessions import publish_tiny, tiny_models

from reclift.models.sessions import CovisitationRecommender, SessionRecommender, TwoStageRanker
from reclift.schema.tables import TIMESTAMP
from reclift.serving.app import create_app
from reclift.serving.schemas.sessions import MAX_SESSION_EVENTS
from reclift.serving.settings import ServiceSettings
from reclift.workspace.artifacts import ArtifactStore

pytest.importorskip("lightgbm")

T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
SESSION = "/v1/recommend/session"
RELATED = "/v1/recommend/related"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sessions-store")
    publish_tiny(root)
    return root


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(artifacts=store, api_keys="k")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _load(store: Path, name: str) -> SessionRecommender:
    cls = {"ranker": TwoStageRanker, "covisitation": CovisitationRecommender}[name]
    return cls.load(store, name)


def _events(items: list[str], types: list[str], minutes: list[float]) -> list[dict[str, Any]]:
    return [
        {"item_id": i, "event_type": t, "ts": (T0 + dt.timedelta(minutes=m)).isoformat()}
        for i, t, m in zip(items, types, minutes, strict=True)
    ]


def _table(items: list[str], types: list[str], minutes: list[float]) -> pa.Table:
    n = len(items)
    return pa.table(
        {
            "session_id": ["s"] * n,
            "item_id": items,
            "event_type": types,
            "ts": pa.array([T0 + dt.timedelta(minutes=m) for m in minutes], TIMESTAMP),
        }
    )


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code, body
    error: dict[str, Any] = body["error"]
    return error


CASES = [
    (["i2"], ["click"], [0.0]),
    (["i2", "i5", "i5"], ["click", "click", "cart"], [0.0, 3.0, 4.0]),
    (["i8", "i1", "i9", "unknown-x"], ["view", "order", "click", "click"], [0.0, 1.0, 2.0, 9.0]),
    # out of time order on purpose: the model orders by ts, not by list position
    (["i4", "i6", "i7"], ["cart", "click", "click"], [30.0, 10.0, 20.0]),
]


@pytest.mark.parametrize("name", ["covisitation", "ranker"])
@pytest.mark.parametrize("case", CASES)
def test_session_equals_batch_model_call(
    client: TestClient,
    store: Path,
    name: str,
    case: tuple[list[str], list[str], list[float]],
) -> None:
    items, types, minutes = case
    resp = client.post(
        SESSION, json={"events": _events(items, types, minutes), "k": 7, "model": name}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    artifact = ArtifactStore(store).load(name)
    assert body["model"] == {"name": name, "version": artifact.version}
    assert body["fallback"] is None
    expected = _load(store, name).recommend(_table(items, types, minutes), 7, sessions=["s"])
    assert set(body["items"]) == {"clicks", "carts", "orders"}
    for target in expected.targets:
        want_ids = [v for v in expected.items[target][0].tolist() if v is not None]
        got = body["items"][target]
        assert [g["item_id"] for g in got] == want_ids
        assert [g["rank"] for g in got] == list(range(1, len(want_ids) + 1))
        want_scores = expected.scores[target][0][: len(want_ids)].tolist()
        assert [g["score"] for g in got] == pytest.approx(want_scores, rel=1e-5, abs=1e-6)


def test_default_model_is_the_ranker_and_targets_subset(client: TestClient) -> None:
    events = _events(["i2", "i3"], ["click", "cart"], [0, 1])
    body = client.post(SESSION, json={"events": events, "targets": ["orders"], "k": 3}).json()
    assert body["model"]["name"] == "ranker"
    assert list(body["items"]) == ["orders"]
    assert len(body["items"]["orders"]) == 3


def test_rules_and_ranker_answer_differently_by_name(client: TestClient, store: Path) -> None:
    # The tiny boosters learned "the mate of the first item"; rules put history first.
    events = _events(["i2", "i5"], ["click", "cart"], [0, 1])
    answers = {}
    for name in ("covisitation", "ranker"):
        body = client.post(SESSION, json={"events": events, "k": 5, "model": name}).json()
        assert body["model"]["name"] == name
        answers[name] = [i["item_id"] for i in body["items"]["carts"]]
    assert answers["covisitation"][:2] == ["i5", "i2"]  # history: cart weighs 6, click 1
    assert answers["covisitation"] != answers["ranker"]


def test_events_without_ts_are_taken_in_list_order(client: TestClient, store: Path) -> None:
    items, types = ["i6", "i1", "i1"], ["click", "click", "order"]
    events = [{"item_id": i, "event_type": t} for i, t in zip(items, types, strict=True)]
    body = client.post(SESSION, json={"events": events, "k": 5, "model": "covisitation"}).json()
    # Oracle: the same events one second apart.
    minutes = [0, 1 / 60, 2 / 60]
    expected = _load(store, "covisitation").recommend(_table(items, types, minutes), 5)
    for target in expected.targets:
        assert [i["item_id"] for i in body["items"][target]] == expected.items[target][0].tolist()


def test_epoch_seconds_equal_iso_times(client: TestClient) -> None:
    iso = _events(["i2", "i5"], ["click", "cart"], [0, 90])
    epoch = [{**e, "ts": dt.datetime.fromisoformat(str(e["ts"])).timestamp()} for e in iso]
    a = client.post(SESSION, json={"events": iso, "model": "ranker"}).json()
    b = client.post(SESSION, json={"events": epoch, "model": "ranker"}).json()
    assert a == b


def test_synonym_event_types_are_canonical(client: TestClient) -> None:
    events = _events(["i2", "i5", "i7"], ["click", "cart", "order"], [0, 1, 2])
    other = [
        {**e, "event_type": t} for e, t in zip(events, ["clicks", "carts", "purchase"], strict=True)
    ]
    a = client.post(SESSION, json={"events": events}).json()
    b = client.post(SESSION, json={"events": other}).json()
    assert a == b


def test_missing_times_follow_the_event_before(client: TestClient, store: Path) -> None:
    # i6 has no time: one second after i1; i9 (before the first timed event): one second
    # before it.
    items, types = ["i9", "i1", "i6", "i2"], ["click", "cart", "click", "click"]
    timed = _events(items, types, [0, 0, 0, 3])
    for i in (0, 2):
        del timed[i]["ts"]
    body = client.post(SESSION, json={"events": timed, "k": 6, "model": "ranker"}).json()
    minutes = [-1 / 60, 0.0, 1 / 60, 3.0]
    expected = _load(store, "ranker").recommend(_table(items, types, minutes), 6)
    for target in expected.targets:
        assert [i["item_id"] for i in body["items"][target]] == expected.items[target][0].tolist()


def test_unknown_items_only_get_popular_with_fallback(client: TestClient, store: Path) -> None:
    events = _events(["nope-1", "nope-2"], ["click", "cart"], [0, 1])
    body = client.post(SESSION, json={"events": events, "k": 4, "model": "ranker"}).json()
    assert body["fallback"]["reason"] == "cold_start"
    assert body["fallback"]["used"] == "popular"
    model = _load(store, "ranker")
    for target in ("clicks", "carts", "orders"):
        # Oracle: the popularity ranking of the index (counts written in the tiny module).
        popular = model.index_.popular[target][:4]
        assert [i["item_id"] for i in body["items"][target]] == popular
    clicks = [i["item_id"] for i in body["items"]["clicks"]]
    assert clicks == ["i0", "i1", "i2", "i3"]  # n_click = 20 - j


def test_one_known_item_is_not_a_fallback(client: TestClient) -> None:
    events = _events(["nope-1", "i4"], ["click", "click"], [0, 1])
    body = client.post(SESSION, json={"events": events, "k": 4, "model": "covisitation"}).json()
    assert body["fallback"] is None
    assert "i5" in [i["item_id"] for i in body["items"]["clicks"]]  # the mate of i4


# ------------------------------------------------------------------ related


@pytest.mark.parametrize(
    ("seeds", "k", "expected", "unknown"),
    [
        # i2's neighbours: i3 (rank 1 in 3 matrices: 3 * 1/1), i4 (3 * 1/2); then popular.
        (["i2"], 4, [("i3", 3.0), ("i4", 1.5), ("i0", 0.0), ("i1", 0.0)], []),
        # seeds are excluded; i4 and i5 tie at 1.5 and are ordered by id
        (["i2", "i3"], 2, [("i4", 1.5), ("i5", 1.5)], []),
        (["i2", "zz"], 2, [("i3", 3.0), ("i4", 1.5)], ["zz"]),
    ],
)
def test_related_hand_oracle(
    client: TestClient,
    seeds: list[str],
    k: int,
    expected: list[tuple[str, float]],
    unknown: list[str],
) -> None:
    body = client.post(RELATED, json={"item_ids": seeds, "k": k, "model": "covisitation"}).json()
    assert [(i["item_id"], i["score"]) for i in body["items"]] == expected
    assert body["unknown_items"] == unknown
    assert body["fallback"] is None


def test_related_matches_model_related_for_one_seed(client: TestClient, store: Path) -> None:
    ids, scores = _load(store, "ranker").related(["i7"], 2)
    body = client.post(RELATED, json={"item_ids": ["i7"], "k": 2}).json()
    assert body["model"]["name"] == "ranker"
    assert [i["item_id"] for i in body["items"]] == ids[0].tolist()
    assert [i["score"] for i in body["items"]] == pytest.approx(scores[0].tolist())


def test_related_unknown_seeds_get_popular_with_fallback(client: TestClient) -> None:
    body = client.post(RELATED, json={"item_ids": ["x", "y"], "k": 3}).json()
    assert body["fallback"]["reason"] == "cold_start"
    assert body["fallback"]["used"] == "popular"
    assert [i["item_id"] for i in body["items"]] == ["i0", "i1", "i2"]
    assert body["unknown_items"] == ["x", "y"]


# ------------------------------------------------------------------ bad input

GOOD_EVENT = {"item_id": "i2", "event_type": "click"}

BAD_SESSION = [
    ({"events": []}, 422, "validation_error", ["body", "events"]),
    ({}, 422, "validation_error", ["body", "events"]),
    (
        {"events": [{"item_id": "i2", "event_type": "like"}]},
        422,
        "validation_error",
        ["body", "events", 0, "event_type"],
    ),
    ({"events": [GOOD_EVENT], "k": 0}, 422, "validation_error", ["body", "k"]),
    ({"events": [GOOD_EVENT], "k": 1001}, 422, "validation_error", ["body", "k"]),
    ({"events": [GOOD_EVENT], "k": "5"}, 422, "validation_error", ["body", "k"]),
    ({"events": [GOOD_EVENT], "k": True}, 422, "validation_error", ["body", "k"]),
    (
        {"events": [GOOD_EVENT] * (MAX_SESSION_EVENTS + 1)},
        422,
        "validation_error",
        ["body", "events"],
    ),
    (
        {"events": [{**GOOD_EVENT, "ts": "yesterday"}]},
        422,
        "validation_error",
        ["body", "events", 0, "ts"],
    ),
    (
        {"events": [{**GOOD_EVENT, "ts": -5}]},
        422,
        "validation_error",
        ["body", "events", 0, "ts"],
    ),
    (
        {"events": [{**GOOD_EVENT, "ts": 1e300}]},
        422,
        "validation_error",
        ["body", "events", 0, "ts"],
    ),
    (
        {"events": [{**GOOD_EVENT, "ts": True}]},
        422,
        "validation_error",
        ["body", "events", 0, "ts"],
    ),
    (
        {"events": [{**GOOD_EVENT, "event_type": "CLICK"}]},
        422,
        "validation_error",
        ["body", "events", 0, "event_type"],
    ),
    (
        {"events": [{**GOOD_EVENT, "ts": "2026-13-01T00:00:00Z"}]},
        422,
        "validation_error",
        ["body", "events", 0, "ts"],
    ),
    (
        {"events": [{"event_type": "click"}]},
        422,
        "validation_error",
        ["body", "events", 0, "item_id"],
    ),
    (
        {"events": [{**GOOD_EVENT, "item_id": ""}]},
        422,
        "validation_error",
        ["body", "events", 0, "item_id"],
    ),
    (
        {"events": [{**GOOD_EVENT, "item_id": "x" * 257}]},
        422,
        "validation_error",
        ["body", "events", 0, "item_id"],
    ),
    (
        {"events": [GOOD_EVENT], "targets": ["likes"]},
        422,
        "validation_error",
        ["body", "targets", 0],
    ),
    ({"events": [GOOD_EVENT], "targets": []}, 422, "validation_error", ["body", "targets"]),
    ({"events": [GOOD_EVENT], "user": "u1"}, 422, "validation_error", ["body", "user"]),
    ({"events": [GOOD_EVENT], "model": "nope"}, 404, "model_not_found", None),
]


@pytest.mark.parametrize(("body", "status", "code", "loc"), BAD_SESSION)
def test_session_bad_input(
    client: TestClient, body: dict[str, Any], status: int, code: str, loc: list[Any] | None
) -> None:
    error = assert_error(client.post(SESSION, json=body), status, code)
    if loc is not None:
        assert any(d["loc"][: len(loc)] == loc for d in error["details"]), error
    else:
        assert "nope" in error["message"]
        assert error["details"]["available"] == ["covisitation", "ranker"]


BAD_RELATED = [
    ({"item_ids": []}, 422, ["body", "item_ids"]),
    ({"item_ids": ["i1"] * 101}, 422, ["body", "item_ids"]),
    ({"item_ids": [""]}, 422, ["body", "item_ids", 0]),
    ({"item_ids": ["i1"], "k": 0}, 422, ["body", "k"]),
    ({"item_ids": ["i1"], "k": 1001}, 422, ["body", "k"]),
    ({"item_ids": "i1"}, 422, ["body", "item_ids"]),
]


@pytest.mark.parametrize(("body", "status", "loc"), BAD_RELATED)
def test_related_bad_input(
    client: TestClient, body: dict[str, Any], status: int, loc: list[Any]
) -> None:
    error = assert_error(client.post(RELATED, json=body), status, "validation_error")
    assert any(d["loc"][: len(loc)] == loc for d in error["details"]), error


def test_not_json_is_a_client_error(client: TestClient) -> None:
    resp = client.post(SESSION, content=b"{", headers={"content-type": "application/json"})
    assert_error(resp, 422, "validation_error")


def test_target_the_model_lacks_is_400(tmp_path: Path) -> None:
    rules, _ = tiny_models()
    rules.targets_ = ("clicks",)  # as if fitted on a click-only log
    rules.save(tmp_path, "clicks_only")
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path))) as c:
        events = [GOOD_EVENT]
        ok = c.post(SESSION, json={"events": events}).json()
        assert list(ok["items"]) == ["clicks"]
        assert ok["model"]["name"] == "clicks_only"
        resp = c.post(SESSION, json={"events": events, "targets": ["clicks", "orders"]})
        error = assert_error(resp, 400, "target_unavailable")
        assert "orders" in error["message"]
        assert error["details"] == {"available": ["clicks"]}


def test_no_session_model_is_503(tmp_path: Path) -> None:
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path))) as c:
        resp = c.post(SESSION, json={"events": [GOOD_EVENT]})
        assert_error(resp, 503, "model_unavailable")
        resp = c.post(RELATED, json={"item_ids": ["i1"]})
        assert_error(resp, 503, "model_unavailable")
