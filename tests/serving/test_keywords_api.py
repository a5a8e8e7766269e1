"""``POST /v1/keywords/suggest``: answers equal a direct call of the published model; bad
inputs are pinned to status + code + message."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from tests.serving.tiny.keywords import TITLES, interactions, products, publish_tiny

from reclift.models.keywords.suggest import KeywordSuggester
from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings
from reclift.workspace.artifacts import ArtifactStore

ROUTE = "/v1/keywords/suggest"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kw-store")
    publish_tiny(root)
    return root


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    with TestClient(
        create_app(ServiceSettings(artifacts=store, api_keys="k")), raise_server_exceptions=False
    ) as c:
        yield c


@pytest.fixture(scope="module")
def direct(store: Path) -> KeywordSuggester:
    return KeywordSuggester.load(ArtifactStore(store).load("keywords"))


def expected(model: KeywordSuggester, texts: list[str], k: int) -> list[list[dict[str, Any]]]:
    """What the route must answer, from a direct call of the model on the same texts."""
    table = pa.table({"item_id": [f"q{i}" for i in range(len(texts))], "text": texts})
    out = model.suggest(table, k, explain=True)
    per: list[list[dict[str, Any]]] = [[] for _ in texts]
    for row in out.to_pylist():
        reasons = json.loads(row["reasons"]) if row["reasons"] else {}
        per[int(row["item_id"][1:])].append(
            {
                "rank": row["rank"],
                "keyword": row["keyword"],
                "score": pytest.approx(row["score"], abs=1e-6),
                "reasons": [{"feature": f, "contribution": v} for f, v in reasons.items()],
            }
        )
    return per


def test_answers_equal_a_direct_call(
    client: TestClient, direct: KeywordSuggester, store: Path
) -> None:
    body = {
        "products": [
            {"item_id": "p01"},  # by id: the text seen at training
            {"title": "pink yoga mat", "category": "sport>yoga"},  # a new product
            {"item_id": "p01"},  # the same product twice keeps its own entry
            {"item_id": "p07", "title": "stainless steel garden hose"},  # given text wins
            {"description": "   wallet made of leather  "},
        ],
        "k": 4,
    }
    resp = client.post(ROUTE, json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    version = ArtifactStore(store).load("keywords").version
    assert out["model"] == {"name": "keywords", "version": version}
    assert out["scoring"] == "ranker:xgb"
    texts = [
        TITLES["p01"],
        "pink yoga mat sport yoga",
        TITLES["p01"],
        "stainless steel garden hose",
        "wallet made of leather",
    ]
    assert [r["text"] for r in out["results"]] == texts
    assert [r["index"] for r in out["results"]] == list(range(5))
    assert [r["item_id"] for r in out["results"]] == ["p01", None, "p01", "p07", None]
    want = expected(direct, texts, 4)
    for got, exp in zip(out["results"], want, strict=True):
        assert got["keywords"] == exp
        assert [kw["rank"] for kw in got["keywords"]] == list(range(1, len(exp) + 1))
        # the ranker explains every keyword with its three largest SHAP contributions
        assert all(len(kw["reasons"]) == 3 for kw in got["keywords"])
    # sanity of the model itself: the clicked query of a catalog product comes first
    assert out["results"][0]["keywords"][0]["keyword"] == "running shoe"
    assert out["results"][1]["keywords"][0]["keyword"] == "yoga mat"


def test_explain_false_drops_reasons_only(client: TestClient) -> None:
    body: dict[str, Any] = {"products": [{"item_id": "p05"}], "k": 3}
    with_reasons = client.post(ROUTE, json=body).json()
    without = client.post(ROUTE, json={**body, "explain": False}).json()
    strip = [{**kw, "reasons": []} for kw in with_reasons["results"][0]["keywords"]]
    assert without["results"][0]["keywords"] == strip


def test_fusion_model_has_no_reasons(tmp_path: Path) -> None:
    model = KeywordSuggester(("dense", "bm25"), encoder="hashing", ranker=None).fit(
        products(), None, interactions()
    )
    model.save(tmp_path, "keywords")
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path, api_keys="k"))) as c:
        out = c.post(ROUTE, json={"products": [{"item_id": "p09"}], "k": 2}).json()
    assert out["scoring"] == "fusion"
    table = pa.table({"item_id": ["x"], "text": [TITLES["p09"]]})
    direct = model.suggest(table, 2).to_pylist()
    got = out["results"][0]["keywords"]
    assert [k["keyword"] for k in got] == [r["keyword"] for r in direct]
    assert [k["score"] for k in got] == pytest.approx([r["score"] for r in direct], abs=1e-6)
    assert all(k["reasons"] == [] for k in got)


def test_no_model_published_is_503(tmp_path: Path) -> None:
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path, api_keys="k"))) as c:
        resp = c.post(ROUTE, json={"products": [{"title": "a hat"}]})
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "model_unavailable"
    assert resp.json()["error"]["message"] == "no keywords model is published in this workspace"


# (case, body, status, code, message regex or None, validation loc or None)
BAD: list[tuple[str, dict[str, Any], int, str, str | None, list[Any] | None]] = [
    (
        "empty-text",
        {"products": [{"title": "red shoe"}, {"title": "  ", "description": ""}]},
        422,
        "empty_product_text",
        r"^products\[1\] has no text: title, description and category are empty",
        None,
    ),
    (
        "nothing-given",
        {"products": [{}]},
        422,
        "empty_product_text",
        r"^products\[0\] has no text",
        None,
    ),
    (
        "unknown-item-id",
        {"products": [{"item_id": "p01"}, {"item_id": "nope"}]},
        422,
        "unknown_product",
        r"^products\[1\]: item_id 'nope' is not in the model's catalog; send its title",
        None,
    ),
    ("no-products", {"products": []}, 422, "validation_error", None, ["body", "products"]),
    (
        "k-zero",
        {"products": [{"item_id": "p01"}], "k": 0},
        422,
        "validation_error",
        None,
        ["body", "k"],
    ),
    (
        "k-too-big",
        {"products": [{"item_id": "p01"}], "k": 101},
        422,
        "validation_error",
        None,
        ["body", "k"],
    ),
    (
        "k-string",
        {"products": [{"item_id": "p01"}], "k": "3"},
        422,
        "validation_error",
        None,
        ["body", "k"],
    ),
    (
        "unknown-field",
        {"products": [{"item_id": "p01", "colour": "red"}]},
        422,
        "validation_error",
        None,
        ["body", "products", 0, "colour"],
    ),
    (
        "too-many-products",
        {"products": [{"item_id": "p01"}] * 101},
        422,
        "validation_error",
        None,
        ["body", "products"],
    ),
    (
        "unknown-model",
        {"products": [{"item_id": "p01"}], "model": "other"},
        404,
        "model_not_found",
        r"^no keywords model named 'other'$",
        None,
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "code", "message", "loc"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_inputs(
    client: TestClient,
    case: str,
    body: dict[str, Any],
    status: int,
    code: str,
    message: str | None,
    loc: list[Any] | None,
) -> None:
    resp = client.post(ROUTE, json=body)
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code
    if message is not None:
        assert re.search(message, err["message"]), err["message"]
    if loc is not None:
        assert loc in [d["loc"] for d in err["details"]], err["details"]


def test_suggest_leaves_the_served_model_untouched(store: Path) -> None:
    # one loaded model answers concurrent requests: suggesting must not write state on it
    model = KeywordSuggester.load(ArtifactStore(store).load("keywords"))
    before = {k: id(v) for k, v in vars(model).items()}
    model.suggest(pa.table({"item_id": ["a", "b"], "text": ["red shoe", "garden hose"]}), 3)
    model.catalog_texts(["p01", "zzz"])
    assert {k: id(v) for k, v in vars(model).items()} == before
