"""User recommendations and item-to-item routes against direct calls of the same artifacts.

Models are fitted on the simulated shop (``sim_shop``) and published into one store; the
answers of ``POST /v1/recommend/users``, ``GET /v1/items/{id}/similar`` and
``GET /v1/items/{id}/bought-together`` must equal the loaded artifact's own methods, every
returned item must satisfy the filters, and unknown users/items must get popular items with a
``fallback``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from tests.serving.tiny import recs as tiny_recs
from tests.serving.tiny import search as tiny_search

from reclift.models.recs import (
    CategoryRecommender,
    CoPurchaseRecommender,
    EASERecommender,
    ItemKNNRecommender,
    PopularRecommender,
)
from reclift.models.recs.base import Recommender, normalize_category
from reclift.models.recs.registry import load_recommender
from reclift.models.search.product_search import ProductSearch
from reclift.serving.app import create_app
from reclift.serving.schemas import MAX_K
from reclift.serving.settings import ServiceSettings
from reclift.workspace.artifacts import ArtifactStore

# offline nDCG@10 written into the artifacts' meta: the default user model is the best one
NDCG = {"popular": 0.02, "itemknn": 0.03, "ease": 0.05, "copurchase": 0.01}


@pytest.fixture(scope="module")
def shop(sim_shop: Path) -> tuple[pa.Table, pa.Table]:
    events = pq.read_table(sim_shop / "events.parquet")
    items = pq.read_table(sim_shop / "items.parquet")
    return events, items


@pytest.fixture(scope="module")
def store(shop: tuple[pa.Table, pa.Table], tmp_path_factory: pytest.TempPathFactory) -> Path:
    events, items = shop
    root = tmp_path_factory.mktemp("recs-api") / "artifacts"
    models: list[Recommender] = [
        PopularRecommender(),
        ItemKNNRecommender(),
        EASERecommender(),
        CoPurchaseRecommender(min_count=2),
        CategoryRecommender(level=2),
    ]
    for model in models:
        meta = {"metrics": {"ndcg@10": NDCG[model.name]}} if model.name in NDCG else None
        model.fit(events, items).save(root, meta=meta)
    tiny_search.publish_tiny(root)  # a model of another family, for the 404 cases
    return root


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    app = create_app(ServiceSettings(artifacts=store, api_keys="k"))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def loaded(store: Path) -> dict[str, Recommender]:
    s = ArtifactStore(store)
    return {name: load_recommender(s, name) for name in NDCG | {"category": 0.0}}


@pytest.fixture(scope="module")
def catalog(shop: tuple[pa.Table, pa.Table]) -> dict[str, tuple[str | None, float | None]]:
    _, items = shop
    return {
        r["item_id"]: (r["category"], r["price"])
        for r in items.select(["item_id", "category", "price"]).to_pylist()
    }


@pytest.fixture(scope="module")
def known_users(shop: tuple[pa.Table, pa.Table]) -> list[str]:
    events, _ = shop
    users = sorted({u for u in events.column("user_id").to_pylist() if u is not None})
    return users[:: max(1, len(users) // 12)][:12]


def pairs(items: list[dict]) -> list[tuple[str, float]]:
    return [(i["item_id"], i["score"]) for i in items]


def expected(ids: np.ndarray, scores: np.ndarray) -> list[tuple[str, float]]:
    return [
        (str(i), float(s))
        for i, s in zip(ids.tolist(), scores.tolist(), strict=True)
        if i is not None
    ]


def assert_error(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code, body
    return body["error"]


# ------------------------------------------------------------------ POST /v1/recommend/users
@pytest.mark.parametrize("name", ["popular", "itemknn", "ease", "copurchase", "category"])
def test_users_equal_direct_model_call(
    client: TestClient, loaded: dict[str, Recommender], known_users: list[str], name: str
) -> None:
    filters = {"price_min": 5.0, "price_max": 80.0}
    resp = client.post(
        "/v1/recommend/users",
        json={"users": known_users, "k": 7, "model": name, "filters": filters},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"]["name"] == name and body["fallback"] is None
    ids, scores = loaded[name].recommend(
        known_users, 7, exclude_seen=True, filters={"min_price": 5.0, "max_price": 80.0}
    )
    assert [r["user_id"] for r in body["results"]] == known_users
    for row, result in enumerate(body["results"]):
        assert result["fallback"] is None
        assert pairs(result["items"]) == expected(ids[row], scores[row])
        assert [i["rank"] for i in result["items"]] == list(range(1, len(result["items"]) + 1))
    assert any(r["items"] for r in body["results"])


def test_exclude_seen_false_is_passed_through(
    client: TestClient, loaded: dict[str, Recommender], known_users: list[str]
) -> None:
    body = client.post(
        "/v1/recommend/users",
        json={"users": known_users[:3], "k": 5, "model": "itemknn", "exclude_seen": False},
    ).json()
    ids, scores = loaded["itemknn"].recommend(known_users[:3], 5, exclude_seen=False)
    assert [pairs(r["items"]) for r in body["results"]] == [
        expected(ids[i], scores[i]) for i in range(3)
    ]


def test_default_model_is_best_offline(
    client: TestClient, store: Path, known_users: list[str]
) -> None:
    body = client.post("/v1/recommend/users", json={"users": known_users[:1]}).json()
    assert body["model"]["name"] == max(NDCG, key=NDCG.__getitem__) == "ease"
    assert body["model"]["version"] == ArtifactStore(store).load("ease").version


def test_cold_start_users_get_popular_within_filters(
    client: TestClient, loaded: dict[str, Recommender], known_users: list[str]
) -> None:
    users = [known_users[0], "ghost-1", "", "ghöst/2"]
    filters = {"category": "Fashion", "price_max": 60.0}
    body = client.post(
        "/v1/recommend/users",
        json={"users": users, "k": 6, "model": "itemknn", "filters": filters},
    ).json()
    pop_ids, pop_scores = loaded["popular"].recommend(
        ["anyone"], 6, filters={"category": "Fashion", "max_price": 60.0}
    )
    known_ids, known_scores = loaded["itemknn"].recommend(
        users[:1], 6, exclude_seen=True, filters={"category": "Fashion", "max_price": 60.0}
    )
    first, *cold = body["results"]
    assert first["fallback"] is None
    assert pairs(first["items"]) == expected(known_ids[0], known_scores[0])
    for result in cold:
        assert result["fallback"]["reason"] == "unknown_user"
        assert result["fallback"]["used"] == "popular"
        assert pairs(result["items"]) == expected(pop_ids[0], pop_scores[0])
    assert len(cold[0]["items"]) == 6


def test_unknown_category_is_dropped_and_reported(
    client: TestClient, loaded: dict[str, Recommender], known_users: list[str]
) -> None:
    body = client.post(
        "/v1/recommend/users",
        json={
            "users": known_users[:2],
            "k": 4,
            "model": "itemknn",
            "filters": {"category": "Nope>Never", "price_max": 50.0},
        },
    ).json()
    assert body["fallback"]["reason"] == "unknown_category"
    assert "Nope>Never" in body["fallback"]["message"]
    ids, scores = loaded["itemknn"].recommend(
        known_users[:2], 4, exclude_seen=True, filters={"max_price": 50.0}
    )
    assert [pairs(r["items"]) for r in body["results"]] == [
        expected(ids[i], scores[i]) for i in range(2)
    ]


def _category_paths(catalog: dict[str, tuple[str | None, float | None]]) -> list[str]:
    paths: set[str] = set()
    for cat, _ in catalog.values():
        if cat:
            parts = normalize_category(cat).split(">")
            paths.update(">".join(parts[: i + 1]) for i in range(len(parts)))
    return sorted(paths)


@hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_returned_item_satisfies_the_filters(
    client: TestClient,
    catalog: dict[str, tuple[str | None, float | None]],
    known_users: list[str],
    data: st.DataObject,
) -> None:
    category = data.draw(st.none() | st.sampled_from(_category_paths(catalog)))
    lo = data.draw(st.none() | st.floats(0, 150))
    hi = data.draw(st.none() | st.floats(0, 300))
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    excluded = data.draw(st.lists(st.sampled_from(sorted(catalog)[:200]), max_size=20))
    model = data.draw(st.sampled_from(["popular", "itemknn", "ease", "copurchase", "category"]))
    users = [*data.draw(st.lists(st.sampled_from(known_users), min_size=1, max_size=3)), "nobody"]
    filters = {"category": category, "price_min": lo, "price_max": hi, "exclude_items": excluded}
    resp = client.post(
        "/v1/recommend/users",
        json={"users": users, "k": 20, "model": model, "filters": filters},
    )
    assert resp.status_code == 200, resp.text
    for result in resp.json()["results"]:
        for item in result["items"]:
            cat, price = catalog[item["item_id"]]
            if category is not None:
                norm = normalize_category(cat or "")
                assert norm == category or norm.startswith(category + ">")
            if lo is not None:
                assert price is not None and price >= lo
            if hi is not None:
                assert price is not None and price <= hi
            assert item["item_id"] not in excluded
            assert math.isfinite(item["score"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"users": ["u"], "k": 0}, 422, "validation_error"),
        ({"users": ["u"], "k": MAX_K + 1}, 422, "validation_error"),
        ({"users": ["u"], "k": "5"}, 422, "validation_error"),
        ({"users": []}, 422, "validation_error"),
        ({"users": "u1"}, 422, "validation_error"),
        ({"users": ["u"], "extra": 1}, 422, "validation_error"),
        ({"users": ["x" * 513]}, 422, "validation_error"),
        ({"users": ["u"], "filters": {"exclude_items": ["x" * 513]}}, 422, "validation_error"),
        ({"users": ["u"], "exclude_seen": "yes"}, 422, "validation_error"),
        ({"users": ["u"], "filters": {"price_min": -1}}, 422, "validation_error"),
        ({"users": ["u"], "filters": {"price_min": "1"}}, 422, "validation_error"),
        ({"users": ["u"], "filters": {"colour": "red"}}, 422, "validation_error"),
        (
            {"users": ["u"], "filters": {"price_min": 50, "price_max": 10}},
            422,
            "invalid_price_range",
        ),
        ({"users": ["u"], "model": "nope"}, 404, "model_not_found"),
        ({"users": ["u"], "model": "product_search"}, 404, "model_not_found"),
    ],
)
def test_bad_inputs(client: TestClient, body: dict, status: int, code: str) -> None:
    err = assert_error(client.post("/v1/recommend/users", json=body), status, code)
    if code == "invalid_price_range":
        assert err["message"] == "price_min (50) is above price_max (10)"
    if body.get("model") == "product_search":
        assert "search model, not a recommender" in err["message"]
        assert "itemknn" in err["details"]["available"]


def test_no_recommender_published(tmp_path: Path) -> None:
    tiny_search.publish_tiny(tmp_path)
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path))) as c:
        assert_error(c.post("/v1/recommend/users", json={"users": ["u"]}), 503, "model_unavailable")
        assert_error(c.get("/v1/items/x/bought-together"), 503, "model_unavailable")
        # the search model finds similar items by text, so /similar still answers
        assert c.get("/v1/items/a/similar").json()["model"]["name"] == "product_search"


# ------------------------------------------------------------------ item-to-item
@pytest.mark.parametrize("name", [None, "itemknn", "ease", "copurchase", "category"])
def test_similar_equals_direct_call(
    client: TestClient, loaded: dict[str, Recommender], name: str | None
) -> None:
    model = loaded[name or "itemknn"]
    item = str(model.item_map_.ids[3])  # type: ignore[attr-defined]
    params = {"k": 8} | ({"model": name} if name else {})
    body = client.get(f"/v1/items/{quote(item, safe='')}/similar", params=params).json()
    assert body["model"]["name"] == (name or "itemknn")  # the default prefers item-kNN
    assert body["item_id"] == item and body["fallback"] is None
    ids, scores = model.similar_items([item], 8)  # type: ignore[attr-defined]
    assert pairs(body["items"]) == expected(ids[0], scores[0])
    assert body["items"] and item not in [i["item_id"] for i in body["items"]]


def test_similar_by_text_vectors(client: TestClient, store: Path) -> None:
    search = ProductSearch.load(ArtifactStore(store), "product_search")
    body = client.get("/v1/items/a/similar", params={"model": "product_search", "k": 3}).json()
    ids, scores = search.similar_items(["a"], 3)
    assert pairs(body["items"]) == expected(ids[0], scores[0])


def test_bought_together_equals_direct_call(
    client: TestClient, loaded: dict[str, Recommender]
) -> None:
    model = loaded["copurchase"]
    assert isinstance(model, CoPurchaseRecommender)
    counts = np.asarray(model.similarity_.getnnz(axis=1))
    item = str(model.item_map_.ids[int(np.argmax(counts))])
    body = client.get(f"/v1/items/{quote(item, safe='')}/bought-together?k=5").json()
    ids, scores = model.bought_together([item], 5)
    assert body["model"]["name"] == "copurchase" and body["fallback"] is None
    assert pairs(body["items"]) == expected(ids[0], scores[0])
    assert len(body["items"]) == 5


@pytest.mark.parametrize("route", ["similar", "bought-together"])
def test_unknown_item_gets_popular(
    client: TestClient, loaded: dict[str, Recommender], route: str
) -> None:
    resp = client.get(f"/v1/items/{quote('no such/ïtem', safe='')}/{route}?k=4")
    assert resp.status_code == 200
    body = resp.json()
    assert body["item_id"] == "no such/ïtem"
    assert body["fallback"]["reason"] == "unknown_item"
    assert body["fallback"]["used"] == "popular"
    ids, scores = loaded["popular"].recommend(["x"], 4)
    assert pairs(body["items"]) == expected(ids[0], scores[0])


@pytest.mark.parametrize(
    ("url", "status", "code"),
    [
        ("/v1/items/a/similar?k=0", 422, "validation_error"),
        (f"/v1/items/a/similar?k={MAX_K + 1}", 422, "validation_error"),
        ("/v1/items/a/similar?model=nope", 404, "model_not_found"),
        ("/v1/items/a/similar?model=popular", 404, "model_not_found"),
        ("/v1/items/a/bought-together?model=itemknn", 404, "model_not_found"),
        ("/v1/items/a/bought-together?model=product_search", 404, "model_not_found"),
        ("/v1/items/a/bought-together?k=abc", 422, "validation_error"),
        (f"/v1/items/{'x' * 600}/similar", 422, "validation_error"),
        ("/v1/items/a/similar?price_min=-1", 422, "validation_error"),
        ("/v1/items/a/similar?price_min=nan", 422, "validation_error"),
        ("/v1/items/a/similar?price_min=9&price_max=3", 422, "invalid_price_range"),
        ("/v1/items/a/bought-together?price_min=9&price_max=3", 422, "invalid_price_range"),
    ],
)
def test_item_bad_inputs(client: TestClient, url: str, status: int, code: str) -> None:
    err = assert_error(client.get(url), status, code)
    if "model=popular" in url:
        assert "does not find similar items" in err["message"]


@pytest.mark.parametrize("item", ["c/1", "é€", "a"])
def test_item_ids_with_slashes_and_unicode(tmp_path: Path, item: str) -> None:
    tiny_recs.publish_tiny(tmp_path)
    s = ArtifactStore(tmp_path)
    knn, cop = load_recommender(s, "itemknn"), load_recommender(s, "copurchase")
    assert isinstance(cop, CoPurchaseRecommender)
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path))) as c:
        for route, call in (
            ("similar", knn.similar_items),
            ("bought-together", cop.bought_together),
        ):  # type: ignore[attr-defined]
            body = c.get(f"/v1/items/{quote(item, safe='')}/{route}", params={"k": 3}).json()
            assert body["item_id"] == item and body["fallback"] is None
            ids, scores = call([item], 3)
            assert pairs(body["items"]) == expected(ids[0], scores[0])
            assert body["items"]


@hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_item_routes_respect_the_filters(
    client: TestClient,
    loaded: dict[str, Recommender],
    catalog: dict[str, tuple[str | None, float | None]],
    data: st.DataObject,
) -> None:
    category = data.draw(st.none() | st.sampled_from(_category_paths(catalog)))
    lo = data.draw(st.none() | st.floats(0, 150))
    hi = data.draw(st.none() | st.floats(0, 300))
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    route, name = data.draw(
        st.sampled_from(
            [
                ("similar", "itemknn"),
                ("similar", "ease"),
                ("similar", "category"),
                ("bought-together", "copurchase"),
            ]
        )
    )
    known = [str(i) for i in loaded[name].item_map_.ids[:50]]  # type: ignore[attr-defined]
    item = data.draw(st.sampled_from([*known, "unknown-item"]))
    params = {"k": 25, "model": name, "category": category, "price_min": lo, "price_max": hi}
    resp = client.get(
        f"/v1/items/{quote(item, safe='')}/{route}",
        params={k: v for k, v in params.items() if v is not None},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["fallback"] is not None) == (item == "unknown-item")
    filters = {"category": category, "min_price": lo, "max_price": hi}
    if item == "unknown-item":
        ids, scores = loaded["popular"].recommend(["x"], 25, filters=filters)
    else:
        model = loaded[name]
        call = model.bought_together if route == "bought-together" else model.similar_items  # type: ignore[attr-defined]
        ids, scores = call([item], 25, filters=filters)
    assert pairs(body["items"]) == expected(ids[0], scores[0])
    for entry in body["items"]:
        cat, price = catalog[entry["item_id"]]
        if category is not None:
            norm = normalize_category(cat or "")
            assert norm == category or norm.startswith(category + ">")
        if lo is not None:
            assert price is not None and price >= lo
        if hi is not None:
            assert price is not None and price <= hi
        assert entry["item_id"] != item


def test_item_routes_drop_an_unknown_category(
    client: TestClient, loaded: dict[str, Recommender]
) -> None:
    item = str(loaded["itemknn"].item_map_.ids[3])  # type: ignore[attr-defined]
    body = client.get(
        f"/v1/items/{item}/similar", params={"category": "No>Such", "price_max": 40, "k": 5}
    ).json()
    assert body["fallback"]["reason"] == "unknown_category"
    ids, scores = loaded["itemknn"].similar_items([item], 5, filters={"max_price": 40.0})  # type: ignore[attr-defined]
    assert pairs(body["items"]) == expected(ids[0], scores[0])
