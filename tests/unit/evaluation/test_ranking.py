import math

import pytest

from reclift.errors import ReclifError
from reclift.evaluation.ranking import ranking_scores


def test_hand_computed_scores():
    recs = {"u1": ["a", "b", "c"], "u2": ["x", "y", None]}
    truth = {"u1": {"b", "z"}, "u2": {"q"}, "u3": set()}
    s = ranking_scores(recs, truth, k=3)
    assert s.users == 2 and s.skipped == 1
    assert s.recall == pytest.approx((1 / 2 + 0) / 2)
    assert s.precision == pytest.approx((1 / 3) / 2)
    idcg_u1 = 1 + 1 / math.log2(3)
    assert s.ndcg == pytest.approx(((1 / math.log2(3)) / idcg_u1) / 2)
    assert s.hit_rate == pytest.approx(0.5)


def test_capped_recall_uses_min_k_relevant():
    recs = {"u": ["a", "b"]}
    truth = {"u": {"a", "b", "c", "d"}}
    assert ranking_scores(recs, truth, k=2).recall == pytest.approx(0.5)
    assert ranking_scores(recs, truth, k=2, capped=True).recall == pytest.approx(1.0)


def test_missing_user_counts_as_empty_and_duplicates_do_not_double_count():
    truth = {"u": {"a"}, "v": {"a"}}
    s = ranking_scores({"u": ["a", "a"]}, truth, k=2)
    assert s.recall == pytest.approx(0.5)


def test_bad_k_is_a_clear_error():
    with pytest.raises(ReclifError, match="k must be >= 1, got 0"):
        ranking_scores({}, {}, k=0)


def test_no_evaluable_users_gives_nan():
    assert math.isnan(ranking_scores({}, {"u": set()}, k=5).recall)
