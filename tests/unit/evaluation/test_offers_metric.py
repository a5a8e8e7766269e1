"""Per-offer AUC and wAUC against hand-computed values and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from reclift.errors import ReclifError
from reclift.evaluation.offers import (
    OfferScore,
    auc,
    offer_bucket,
    score_offer,
    summarize,
    weighted_auc,
)


def test_hand_computed_auc_with_tie_and_exclusion() -> None:
    scores = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    labels = np.array([1, 0, 1, 0, 0])
    # pairs (pos, neg): 0.9 beats all 3 negatives; 0.8 ties one and beats two -> 2.5
    assert auc(scores, labels) == pytest.approx((3 + 2.5) / 6)
    # excluding the negative at 0.8 (it matches the key): 0.9 beats 2, 0.8 beats 2 -> 4/4
    exclude = np.array([False, True, True, False, False])  # a positive is never excluded
    assert auc(scores, labels, exclude) == 1.0


def test_weighted_auc_hand_computed() -> None:
    rs = [
        OfferScore("m", "genre", "a", 10, 5, 0.8),
        OfferScore("m", "genre", "b", 30, 5, 0.6),
        OfferScore("m", "genre", "c", 0, 5, math.nan),
    ]
    assert weighted_auc(rs) == pytest.approx((10 * 0.8 + 30 * 0.6) / 40)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=2, max_size=60).filter(
        lambda rows: 0 < sum(r[1] for r in rows) < len(rows)
    )
)
def test_auc_matches_sklearn(rows: list[tuple[int, bool]]) -> None:
    scores = np.array([r[0] for r in rows], dtype=float)  # few values: many ties
    labels = np.array([r[1] for r in rows])
    assert auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))


def test_exclusion_equals_sklearn_on_kept_rows() -> None:
    rng = np.random.default_rng(0)
    s = rng.normal(size=200)
    y = rng.random(200) < 0.3
    ex = rng.random(200) < 0.2
    keep = y | ~ex
    assert auc(s, y, ex) == pytest.approx(roc_auc_score(y[keep], s[keep]))


def test_degenerate_and_bad_inputs() -> None:
    assert math.isnan(auc(np.ones(3), np.ones(3)))
    with pytest.raises(ReclifError, match=r"scores \(3,\) and labels \(2,\)"):
        auc(np.ones(3), np.ones(2))
    with pytest.raises(ReclifError, match="NaN or infinite"):
        auc(np.array([np.nan, 1.0]), np.array([0, 1]))


def test_buckets_and_summary() -> None:
    assert [offer_bucket(n) for n in (9, 10, 200, 201)] == [
        "rare",
        "cold-start",
        "cold-start",
        "popular",
    ]
    rng = np.random.default_rng(1)
    y = rng.random(500) < 0.5
    perfect = score_offer("m", "t", "o1", y.astype(float), y)
    assert perfect.auc == 1.0 and perfect.bucket == "popular"
    small = score_offer("m", "t", "o2", -y.astype(float), y, n_pos=20)
    table = summarize([perfect, small, OfferScore("m", "t", "o3", 3, 9, 0.5)])
    assert table[["bucket", "n_offers", "wauc"]].values.tolist() == [
        ["cold-start", 1, 0.0],
        ["popular", 1, 1.0],
    ]
