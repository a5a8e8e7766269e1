"""``GET /v1/search`` against direct calls of the same ``ProductSearch`` artifact.

The index covers the simulated shop's catalog (hashed n-gram vectors, so the test needs no
model weights); answers must equal :meth:`ProductSearch.search`, every returned item must
satisfy the filters, and bad inputs are pinned to status and error code.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from reclift.models.recs import PopularRecommender
from reclift.models.recs.base import normalize_category
from reclift.models.search.product_search import ProductSearch
from reclift.serving.app import create_app
from reclift.serving.schemas import MAX_K
from reclift.serving.settings import ServiceSettings
from reclift.workspace.artifacts import ArtifactStore

QUERIES = ["running shoes", "pink laptop", "Wool Sock", "ñandú ☃", "zzzz qqqq"]


@pytest.fixture(scope="module")
def items(sim_shop: Path) -> pa.Table:
    return pq.read_table(sim_shop / "items.parquet")


@pytest.fixture(scope="module")
def store(items: pa.Table, sim_shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("search-api") / "artifacts"
    ProductSearch(
        text_columns=("title", "brand", "category"), encoder="hashing", index_kind="exact"
    ).fit(items).save(root)
    events = pq.read_table(sim_shop / "events.parquet")
    PopularRecommender().fit(events, items).save(root)  # another family, for the 404 case
    return root


@pytest.fixture(scope="module")
def engine(store: Path) -> ProductSearch:
    return ProductSearch.load(ArtifactStore(store), "product_search")


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(ServiceSettings(artifacts=store)), raise_server_exceptions=False
    ) as c:
        yield c


def pairs(body: dict) -> list[tuple[str, float]]:
    return [(i["item_id"], i["score"]) for i in body["items"]]


def direct(engine: ProductSearch, q: str, k: int, **kwargs: object) -> list[tuple[str, float]]:
    ids, scores = engine.search([q], k, **kwargs)  # type: ignore[arg-type]
    return [
        (str(i), float(s))
        for i, s in zip(ids[0].tolist(), scores[0].tolist(), strict=True)
        if i is not None
    ]


def assert_error(resp, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"]["code"] == code, body
    return body["error"]


@pytest.mark.parametrize("q", QUERIES)
@pytest.mark.parametrize("mode", ["hybrid", "bm25", "dense"])
def test_search_equals_direct_call(
    client: TestClient, engine: ProductSearch, q: str, mode: str
) -> None:
    resp = client.get("/v1/search", params={"q": q, "k": 7, "mode": mode})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"]["name"] == "product_search"
    assert body["query"] == q and body["mode"] == mode and body["fallback"] is None
    assert pairs(body) == direct(engine, q, 7, mode=mode)
    assert [i["rank"] for i in body["items"]] == list(range(1, len(body["items"]) + 1))


def test_default_mode_is_hybrid_and_finds_the_title(client: TestClient, items: pa.Table) -> None:
    title = items.column("title")[5].as_py()
    body = client.get("/v1/search", params={"q": title}).json()
    assert body["mode"] == "hybrid"
    assert body["items"][0]["item_id"] == items.column("item_id")[5].as_py()


def test_filters_are_passed_to_the_model(client: TestClient, engine: ProductSearch) -> None:
    params = {"q": "dress", "k": 10, "category": "Fashion", "price_min": 10, "price_max": 60}
    body = client.get("/v1/search", params=params).json()
    filters = {"category": "Fashion", "min_price": 10.0, "max_price": 60.0}
    assert pairs(body) == direct(engine, "dress", 10, filters=filters)
    assert body["items"]


@hsettings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_returned_item_satisfies_the_filters(
    client: TestClient, items: pa.Table, data: st.DataObject
) -> None:
    catalog = {
        r["item_id"]: (r["category"], r["price"])
        for r in items.select(["item_id", "category", "price"]).to_pylist()
    }
    paths = sorted(
        {
            ">".join(normalize_category(c).split(">")[:n])
            for c, _ in catalog.values()
            if c
            for n in (1, 2, 3)
        }
    )
    category = data.draw(st.none() | st.sampled_from(paths))
    lo = data.draw(st.none() | st.floats(0, 150))
    hi = data.draw(st.none() | st.floats(0, 300))
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    q = data.draw(st.sampled_from(QUERIES))
    mode = data.draw(st.sampled_from(["hybrid", "bm25", "dense"]))
    params = {"q": q, "k": 30, "mode": mode, "category": category, "price_min": lo, "price_max": hi}
    resp = client.get("/v1/search", params={k: v for k, v in params.items() if v is not None})
    assert resp.status_code == 200, resp.text
    for item in resp.json()["items"]:
        cat, price = catalog[item["item_id"]]
        if category is not None:
            norm = normalize_category(cat or "")
            assert norm == category or norm.startswith(category + ">")
        if lo is not None:
            assert price is not None and price >= lo
        if hi is not None:
            assert price is not None and price <= hi
        assert math.isfinite(item["score"])


def test_unknown_category_is_dropped_and_reported(
    client: TestClient, engine: ProductSearch
) -> None:
    body = client.get("/v1/search", params={"q": "shoe", "category": "No>Such", "k": 5}).json()
    assert body["fallback"]["reason"] == "unknown_category"
    assert body["fallback"]["used"] == "overall"
    assert pairs(body) == direct(engine, "shoe", 5)


@pytest.mark.parametrize(
    ("params", "status", "code", "says"),
    [
        ({"q": ""}, 422, "validation_error", "non-space"),
        ({"q": "   \t "}, 422, "validation_error", "non-space"),
        ({}, 422, "validation_error", "Field required"),
        ({"q": "x" * 600}, 422, "validation_error", "at most 512"),
        ({"q": "shoe", "k": 0}, 422, "validation_error", "greater than or equal to 1"),
        ({"q": "shoe", "k": MAX_K + 1}, 422, "validation_error", "less than or equal"),
        ({"q": "shoe", "price_min": -1}, 422, "validation_error", "greater than or equal to 0"),
        ({"q": "shoe", "price_min": "inf"}, 422, "validation_error", "finite"),
        ({"q": "shoe", "mode": "fuzzy"}, 422, "validation_error", "hybrid"),
        ({"q": "shoe", "price_min": 9, "price_max": 3}, 422, "invalid_price_range", "above"),
        ({"q": "shoe", "model": "nope"}, 404, "model_not_found", "nope"),
        (
            {"q": "shoe", "model": "popular"},
            404,
            "model_not_found",
            "no search model named 'popular'",
        ),
    ],
)
def test_bad_inputs(client: TestClient, params: dict, status: int, code: str, says: str) -> None:
    err = assert_error(client.get("/v1/search", params=params), status, code)
    text = (
        err["message"]
        + " "
        + " ".join(d.get("msg", "") for d in err["details"] or [] if isinstance(d, dict))
    )
    assert says in text, err


def test_no_search_model_published(tmp_path: Path) -> None:
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path))) as c:
        assert_error(c.get("/v1/search", params={"q": "shoe"}), 503, "model_unavailable")
