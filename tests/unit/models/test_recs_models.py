"""Oracles for the recommenders: closed forms, hand-counted baskets, planted structure."""

from __future__ import annotations

import datetime as dt
import itertools
import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reclift.models.errors import InvalidParameterError
from reclift.models.recs import (
    ALSRecommender,
    BPRRecommender,
    CategoryRecommender,
    CoPurchaseRecommender,
    EASERecommender,
    ItemKNNRecommender,
)
from reclift.models.recs.scored import topk_rows
from reclift.schema.tables import TIMESTAMP

T0 = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def events(rows: list[tuple[str, str, str]], kinds: list[str] | None = None) -> pa.Table:
    """rows: (user, session, item)."""
    return pa.table(
        {
            "user_id": pa.array([r[0] for r in rows], pa.string()),
            "session_id": pa.array([r[1] for r in rows], pa.string()),
            "item_id": pa.array([r[2] for r in rows], pa.string()),
            "event_type": pa.array(kinds or ["order"] * len(rows), pa.string()),
            "ts": pa.array([T0] * len(rows), TIMESTAMP),
        }
    )


# ---------------------------------------------------------------- EASE
def test_ease_matches_the_numpy_closed_form() -> None:
    rng = np.random.default_rng(3)
    x = (rng.random((40, 12)) < 0.3).astype(float)
    rows = [(f"u{u:02d}", "s", f"i{i:02d}") for u, i in zip(*np.nonzero(x), strict=True)]
    model = EASERecommender(l2=7.0).fit(events(rows))
    # reference: B = I - P diag(1 / diag(P)), P = (X^T X + l2 I)^-1 (Steck 2019, eq. 8)
    p = np.linalg.inv(x.T @ x + 7.0 * np.eye(12))
    b = np.eye(12) - p / np.diag(p)[None, :]
    np.testing.assert_allclose(model.weights_, b, atol=1e-5)
    users = [f"u{u:02d}" for u in range(40)]
    ids, scores = model.recommend(users, 3, exclude_seen=True)
    ref = x @ b
    ref[x > 0] = -np.inf
    for u in range(40):
        order = sorted(range(12), key=lambda j: (-ref[u, j], j))[:3]
        assert [f"i{j:02d}" for j in order] == ids[u].tolist()
        np.testing.assert_allclose(scores[u], ref[u, order], rtol=1e-4, atol=1e-5)


def test_ease_refuses_large_catalogs() -> None:
    rows = [("u", "s", f"i{i}") for i in range(5)]
    with pytest.raises(InvalidParameterError, match="5 items exceed max_items=3"):
        EASERecommender(max_items=3).fit(events(rows))
    with pytest.raises(InvalidParameterError, match="l2 must be a positive number"):
        EASERecommender(l2=0).fit(events(rows))


# ---------------------------------------------------------------- co-purchase
BASKETS = {"o1": "abc", "o2": "ab", "o3": "ac", "o4": "bd", "o5": "d"}
BASKET_ROWS = [(f"c{o}", o, item) for o, items in BASKETS.items() for item in items]


def test_copurchase_counts_and_similarities_by_hand() -> None:
    # n_a = 3, n_b = 3, n_c = 2, n_d = 2, N = 5; n_ab = 2, n_ac = 2, n_bc = 1, n_bd = 1
    ev = events(BASKET_ROWS)
    model = CoPurchaseRecommender(similarity="count").fit(ev)
    c = model.cooccurrence_.toarray()
    np.testing.assert_array_equal(c, [[3, 2, 2, 0], [2, 3, 1, 1], [2, 1, 2, 0], [0, 1, 0, 2]])
    assert model.n_baskets_ == 5
    expected = {
        "cosine": {("a", "b"): 2 / 3, ("a", "c"): 2 / math.sqrt(6), ("b", "d"): 1 / math.sqrt(6)},
        "jaccard": {("a", "b"): 2 / 4, ("a", "c"): 2 / 3, ("b", "d"): 1 / 4},
        "lift": {("a", "b"): 2 * 5 / 9, ("a", "c"): 2 * 5 / 6, ("b", "d"): 5 / 6},
    }
    for sim, pairs in expected.items():
        fitted = CoPurchaseRecommender(similarity=sim).fit(ev)
        s = fitted.similarity_.toarray()
        for (i, j), value in pairs.items():
            a, b = "abcd".index(i), "abcd".index(j)
            assert s[a, b] == pytest.approx(value, rel=1e-6)
            assert s[b, a] == pytest.approx(value, rel=1e-6)
    ids, scores = CoPurchaseRecommender(similarity="cosine").fit(ev).bought_together(["a"], 3)
    assert ids[0].tolist() == ["c", "b", None]
    np.testing.assert_allclose(scores[0][:2], [2 / math.sqrt(6), 2 / 3], rtol=1e-6)


def test_association_rules_by_hand() -> None:
    rules = CoPurchaseRecommender().fit(events(BASKET_ROWS)).association_rules()
    got = {
        (r["antecedent"], r["consequent"]): (r["count"], r["support"], r["confidence"], r["lift"])
        for r in rules.to_pylist()
    }
    want = {
        ("a", "b"): (2, 0.4, 2 / 3, 10 / 9),
        ("b", "a"): (2, 0.4, 2 / 3, 10 / 9),
        ("a", "c"): (2, 0.4, 2 / 3, 5 / 3),
        ("c", "a"): (2, 0.4, 1.0, 5 / 3),
        ("b", "c"): (1, 0.2, 1 / 3, 5 / 6),
        ("c", "b"): (1, 0.2, 1 / 2, 5 / 6),
        ("b", "d"): (1, 0.2, 1 / 3, 5 / 6),
        ("d", "b"): (1, 0.2, 1 / 2, 5 / 6),
    }
    assert set(got) == set(want)
    for key, values in want.items():
        assert got[key][0] == values[0]
        np.testing.assert_allclose(got[key][1:], values[1:], rtol=1e-9)
    # sorted by lift, then confidence: c -> a (lift 5/3, confidence 1) comes first
    assert rules.slice(0, 2).to_pylist()[0]["antecedent"] == "c"
    strong = (
        CoPurchaseRecommender()
        .fit(events(BASKET_ROWS))
        .association_rules(min_support=0.3, min_confidence=0.7)
    )
    assert [(r["antecedent"], r["consequent"]) for r in strong.to_pylist()] == [("c", "a")]


def test_copurchase_event_types_and_min_count() -> None:
    # views of b with c in o9 must not count when only orders make a basket
    rows = [*BASKET_ROWS, ("x", "o9", "b"), ("x", "o9", "c")]
    kinds = ["order"] * len(BASKET_ROWS) + ["view", "view"]
    model = CoPurchaseRecommender(similarity="count", event_types=["order"]).fit(
        events(rows, kinds)
    )
    assert model.cooccurrence_.toarray()[1, 2] == 1
    everything = CoPurchaseRecommender(similarity="count").fit(events(rows, kinds))
    assert everything.cooccurrence_.toarray()[1, 2] == 2
    pruned = CoPurchaseRecommender(similarity="count", min_count=2).fit(events(BASKET_ROWS))
    assert pruned.similarity_.toarray()[1, 2] == 0 and pruned.similarity_.toarray()[0, 1] == 2
    with pytest.raises(InvalidParameterError, match="similarity must be one of"):
        CoPurchaseRecommender(similarity="dice").fit(events(BASKET_ROWS))
    with pytest.raises(InvalidParameterError, match="event_types must be a list"):
        CoPurchaseRecommender(event_types=["buy"]).fit(events(BASKET_ROWS))


def test_copurchase_recommends_partners_of_the_basket() -> None:
    model = CoPurchaseRecommender(similarity="count").fit(events(BASKET_ROWS))
    ids, scores = model.recommend(["co3"], 2, exclude_seen=True)  # bought a and c
    # b: 2 baskets with a + 1 with c = 3; d was never bought with a or c: score 0
    assert ids[0].tolist() == ["b", "d"]
    assert scores[0].tolist() == [3.0, 0.0]


# ---------------------------------------------------------------- item-kNN
def test_itemknn_matches_brute_force_cosine() -> None:
    rng = np.random.default_rng(5)
    x = (rng.random((30, 10)) < 0.35).astype(float)
    rows = [(f"u{u:02d}", "s", f"i{i:02d}") for u, i in zip(*np.nonzero(x), strict=True)]
    model = ItemKNNRecommender(n_neighbors=3).fit(events(rows))
    norms = np.linalg.norm(x, axis=0)
    cos = (x.T @ x) / np.outer(norms, norms)
    np.fill_diagonal(cos, 0)
    s = model.similarity_.toarray()
    for i in range(10):
        keep = sorted(range(10), key=lambda j: (-cos[i, j], j))[:3]
        np.testing.assert_allclose(s[i, keep], cos[i, keep], rtol=1e-5)
        assert np.count_nonzero(s[i]) == 3
    full = ItemKNNRecommender(n_neighbors=10).fit(events(rows))
    ref = x @ np.where(np.eye(10) > 0, 0, cos).T
    users = [f"u{u:02d}" for u in range(30)]
    got = full._score_users(full.user_map_.encode(users))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- ALS / BPR (implicit)
def _two_communities() -> tuple[pa.Table, list[str]]:
    """Users 0-19 take items a0-a9, users 20-39 take b0-b9; each misses one item."""
    rows = []
    for u in range(40):
        group = "a" if u < 20 else "b"
        for i in range(10):
            if i != u % 10:
                rows.append((f"u{u:02d}", "s", f"{group}{i}"))
    return events(rows), [f"u{u:02d}" for u in range(40)]


@pytest.mark.parametrize(
    "model",
    [ALSRecommender(factors=8, iterations=10), BPRRecommender(factors=8, iterations=200)],
    ids=["als", "bpr"],
)
def test_factor_models_recover_planted_communities(model: ALSRecommender) -> None:
    ev, users = _two_communities()
    ids, _ = model.fit(ev).recommend(users, 1, exclude_seen=True)
    hits = sum(ids[u][0] == f"{'a' if u < 20 else 'b'}{u % 10}" for u in range(len(users)))
    assert hits >= 36  # the one missing item of the user's own community
    sim, _ = model.similar_items(["a0", "b0"], 5)
    assert all(i.startswith("a") for i in sim[0]) and all(i.startswith("b") for i in sim[1])


def test_factor_models_are_reproducible_and_validate() -> None:
    ev, users = _two_communities()
    a = BPRRecommender(factors=4, iterations=5).fit(ev).recommend(users, 3)
    b = BPRRecommender(factors=4, iterations=5).fit(ev).recommend(users, 3)
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(InvalidParameterError, match="factors must be a positive integer"):
        ALSRecommender(factors=0).fit(ev)
    with pytest.raises(InvalidParameterError, match="learning_rate must be a positive"):
        BPRRecommender(learning_rate="fast").fit(ev)  # type: ignore[arg-type]


# ---------------------------------------------------------------- category
def test_category_affinity_with_decay() -> None:
    items = pa.table(
        {"item_id": ["x1", "x2", "y1", "y2", "z1"], "category": ["x", "x", "y>1", "y>2", "z"]}
    )
    rows, kinds, ts = [], [], []
    # popularity from other users: x2 > x1, y2 > y1, z1 most popular of all
    for n, item in enumerate(["x2", "x2", "x1", "y2", "y2", "y1", "z1", "z1", "z1", "z1"]):
        rows.append((f"p{n}", f"p{n}", item))
        kinds.append("order")
        ts.append(T0)
    # the user: old interest in x (3 events, 60 days ago), recent in y (1 event, today)
    for item, age in [("x1", 60), ("x1", 60), ("x2", 60), ("y1", 0)]:
        rows.append(("me", "s", item))
        kinds.append("view")
        ts.append(T0 - dt.timedelta(days=age))
    ev = events(rows, kinds).set_column(4, "ts", pa.array(ts, TIMESTAMP))
    recent = CategoryRecommender(half_life_days=10, level=1).fit(ev, items)
    ids, _ = recent.recommend(["me"], 5)
    # decayed affinity: y = 1, x = 3 * 2**-6: y items first (best first), then x, then z
    assert ids[0].tolist() == ["y2", "y1", "x2", "x1", "z1"]
    flat = CategoryRecommender(half_life_days=None, level=1).fit(ev, items)
    assert flat.recommend(["me"], 5)[0][0].tolist() == ["x2", "x1", "y2", "y1", "z1"]
    top, _ = flat.top_in_category("y", 3)
    assert top.tolist() == ["y2", "y1", None]
    with pytest.raises(InvalidParameterError, match="level must be a positive integer"):
        CategoryRecommender(level=0).fit(ev, items)


# ---------------------------------------------------------------- top-k
@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float32, (3, 7), elements=st.sampled_from([-np.inf, 0.0, 1.0, 2.5, -1.0])),
    st.integers(1, 9),
)
def test_topk_rows_matches_a_full_sort(scores: np.ndarray, k: int) -> None:
    codes, values = topk_rows(scores, k)
    for r in range(3):
        finite = [j for j in range(7) if np.isfinite(scores[r, j])]
        want = sorted(finite, key=lambda j: (-scores[r, j], j))[:k]
        assert codes[r][: len(want)].tolist() == want
        assert (codes[r][len(want) :] == -1).all()
        np.testing.assert_array_equal(values[r][: len(want)], scores[r, want])


def test_topk_ties_at_the_cut_go_to_the_smaller_id() -> None:
    scores = np.array([[1.0, 2.0, 1.0, 1.0, 0.5]], dtype=np.float32)
    assert topk_rows(scores, 2)[0].tolist() == [[1, 0]]
    assert list(itertools.chain(topk_rows(scores, 3)[0].tolist())) == [[1, 0, 2]]
