"""Oracles for the hybrid fusion: min-max and the convex blend by hand, and ProductSearch's
hybrid mode against the blend of its own BM25 and dense scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from reclift.models.errors import InvalidParameterError
from reclift.models.search import ProductSearch, convex_fusion, minmax

ITEMS = pa.table(
    {
        "item_id": ["a", "b", "c", "d", "e", "f"],
        "title": [
            "red running shoes",
            "red leather bag",
            "blue running shoes for trail",
            "green tea mug",
            "red shoes red laces",
            "espresso machine",
        ],
    }
)


@pytest.mark.parametrize(
    ("scores", "want"),
    [
        ([1.0, 3.0, 2.0], [0.0, 1.0, 0.5]),
        ([-np.inf, 1.0, 5.0], [0.0, 0.0, 1.0]),  # no match = worst
        ([2.0, 2.0], [0.0, 0.0]),  # no spread: no ordering information
        ([np.nan, -np.inf], [0.0, 0.0]),
        ([], []),
    ],
)
def test_minmax_by_hand(scores: list[float], want: list[float]) -> None:
    np.testing.assert_allclose(minmax(np.array(scores)), want)


def test_convex_fusion_by_hand() -> None:
    dense = np.array([0.9, 0.5, 0.7])  # min-max -> 1, 0, 0.5
    lexical = np.array([0.0, 10.0, 5.0])  # min-max -> 0, 1, 0.5
    np.testing.assert_allclose(convex_fusion(dense, lexical, 0.25), [0.25, 0.75, 0.5])
    np.testing.assert_allclose(convex_fusion(dense, lexical, 1.0), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(convex_fusion(dense, lexical, 0.0), [0.0, 1.0, 0.5])


@pytest.fixture(scope="module")
def model() -> ProductSearch:
    return ProductSearch(encoder="hashing", index_kind="exact", dense_weight=0.3).fit(ITEMS)


def oracle_order(model: ProductSearch, query: str, ids: list[str]) -> list[str]:
    """Order of ``ids`` by 0.3 * minmax(cosine) + 0.7 * minmax(BM25), ties by catalog order."""
    codes = model.item_map_.encode(ids)
    qv = model.encoder_.encode([query])[0]
    dense = model.index_.vectors_[codes] @ qv
    lex = model.bm25_.scores([query])[0][codes]
    d = (dense - dense.min()) / (dense.max() - dense.min())
    lx = (lex - lex.min()) / (lex.max() - lex.min())
    fused = 0.3 * d + 0.7 * lx
    return [ids[i] for i in sorted(range(len(ids)), key=lambda i: (-fused[i], codes[i]))]


# RRF orders differ from the blend on these queries (ranks ignore score gaps)
@pytest.mark.parametrize("query", ["shoes", "running", "laces mug", "red shoes"])
def test_rerank_hybrid_is_the_convex_blend(model: ProductSearch, query: str) -> None:
    cands = ["f", "e", "d", "c", "b", "a"]
    got, scores = model.rerank([query], [cands], mode="hybrid")
    assert got[0] == oracle_order(model, query, cands)
    assert scores[0].max() <= 1.0 + 1e-6 and scores[0].min() >= -1e-6


@pytest.mark.parametrize("query", ["shoes", "running", "laces mug", "red shoes"])
def test_search_hybrid_over_the_whole_catalog_is_the_convex_blend(
    model: ProductSearch, query: str
) -> None:
    # depth (100) >= catalog size: the dense list holds every item, so the union fused by
    # search() is the whole catalog and the oracle is the blend over all six items
    ids, _ = model.search([query], 4, mode="hybrid")
    assert ids[0].tolist() == oracle_order(model, query, list("abcdef"))[:4]


def test_weight_one_is_dense_and_zero_is_lexical() -> None:
    dense_only = ProductSearch(encoder="hashing", index_kind="exact", dense_weight=1.0)
    lex_only = ProductSearch(encoder="hashing", index_kind="exact", dense_weight=0.0)
    cands = [list("abcdef")]
    for m, mode in ((dense_only.fit(ITEMS), "dense"), (lex_only.fit(ITEMS), "bm25")):
        assert m.rerank(["red shoes"], cands)[0] == m.rerank(["red shoes"], cands, mode=mode)[0]


def test_rrf_fusion_is_still_available() -> None:
    m = ProductSearch(encoder="hashing", index_kind="exact", fusion="rrf").fit(ITEMS)
    _, scores = m.rerank(["red shoes"], [list("abcdef")])
    # RRF scores with rrf_k = 60 and equal weights are at most 2 / 61
    assert scores[0].max() <= 2 / 61 + 1e-7


def test_unknown_fusion_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="fusion must be one of"):
        ProductSearch(encoder="hashing", fusion="sum").fit(ITEMS)


def test_artifacts_without_a_fusion_keep_rrf(model: ProductSearch, tmp_path: Path) -> None:
    """An artifact published before ``fusion`` existed is served as it was evaluated (RRF)."""
    params = model.get_params()
    del params["fusion"]
    loaded = ProductSearch.load(model.save(tmp_path, meta={"params": params}))
    rrf_model = ProductSearch(
        encoder="hashing", index_kind="exact", dense_weight=0.3, fusion="rrf"
    ).fit(ITEMS)
    assert loaded.fusion == "rrf"
    cands = [list("abcdef")]
    assert loaded.rerank(["shoes"], cands)[0] == rrf_model.rerank(["shoes"], cands)[0]
    assert loaded.rerank(["shoes"], cands)[0] != model.rerank(["shoes"], cands)[0]
    # and a new artifact keeps its fusion
    assert ProductSearch.load(model.save(tmp_path / "new")).fusion == "convex"
