"""Uplift metrics against hand-computed values and scikit-uplift's outputs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reclift.evaluation.uplift import (
    UpliftMetricError,
    auuc,
    bootstrap_curve,
    bootstrap_metric,
    plot_curves,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_curve,
)

# y, t, u: treated responder, treated non-responder, control responder, control non-responder.
Y = [1, 0, 1, 0]
T = [1, 1, 0, 0]
U = [4.0, 3.0, 2.0, 1.0]


def test_qini_curve_hand_computed() -> None:
    x, q = qini_curve(Y, U, T)
    # top1: 1 - 0; top2: 1 - 0; top3: 1 - 1 * 2/1; top4: 1 - 1 * 2/2
    np.testing.assert_allclose(x, [0, 1, 2, 3, 4])
    np.testing.assert_allclose(q, [0, 1, 1, -1, 0])


def test_uplift_curve_hand_computed() -> None:
    _, u = uplift_curve(Y, U, T)
    # (rate_t - rate_c) * x: 1*1, 0.5*2, (0.5 - 1)*3, 0*4
    np.testing.assert_allclose(u, [0, 1, 1, -1.5, 0])


def test_ties_are_grouped() -> None:
    x, q = qini_curve(Y, [1.0, 1.0, 0.0, 0.0], T)
    np.testing.assert_allclose(x, [0, 2, 4])
    np.testing.assert_allclose(q, [0, 1, 0])
    # reversing the rows inside the tie does not change anything
    _, q2 = qini_curve(Y[::-1], [0.0, 0.0, 1.0, 1.0], T[::-1])
    np.testing.assert_allclose(q2, q)


def test_uplift_at_k_hand_computed() -> None:
    u = [4.0, 2.0, 3.0, 1.0]  # top 2: row 0 (treated, 1) and row 2 (control, 1)
    assert uplift_at_k(Y, u, T, 2) == pytest.approx(0.0)
    assert uplift_at_k(Y, U, T, 1.0) == pytest.approx(0.0)
    # by group, top half of each: treated row 0 (y=1), control row 2 (y=1)
    assert uplift_at_k(Y, U, T, 0.5, strategy="by_group") == pytest.approx(0.0)
    assert uplift_at_k([1, 0, 0, 1], U, T, 0.5, strategy="by_group") == pytest.approx(1.0)


def test_perfect_ranking_scores_one() -> None:
    y = np.array([1, 0, 1, 0, 1, 0, 0, 0])
    t = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    perfect = y * t - y * (1 - t)
    assert qini_coefficient(y, perfect, t) == pytest.approx(1.0)


# Expected values computed with scikit-uplift 0.5.1 (qini_auc_score, uplift_auc_score,
# uplift_at_k overall / by_group at k=0.3) on exactly these arrays.
SKLIFT = {
    0: (-0.03751534426198803, -0.12980656867072077, 0.5142857142857143, 0.7142857142857143),
    1: (0.043888358023086334, 0.029421477974215217, 0.125, 0.16666666666666666),
    2: (0.01100430682474021, -0.040815328525975414, 0.25, 0.26666666666666666),
}


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 40
    t = (rng.random(n) < 0.5).astype(int)
    y = (rng.random(n) < 0.3 + 0.2 * t).astype(int)
    u = np.round(rng.normal(size=n), 6)
    return y, u, t


@pytest.mark.parametrize("seed", sorted(SKLIFT))
def test_agrees_with_scikit_uplift(seed: int) -> None:
    y, u, t = _case(seed)
    qini, area, at30, at30g = SKLIFT[seed]
    assert qini_coefficient(y, u, t) == pytest.approx(qini, abs=1e-12)
    assert auuc(y, u, t) == pytest.approx(area, abs=1e-12)
    assert uplift_at_k(y, u, t, 0.3) == pytest.approx(at30, abs=1e-12)
    assert uplift_at_k(y, u, t, 0.3, strategy="by_group") == pytest.approx(at30g, abs=1e-12)


def test_continuous_outcome_scale_invariant() -> None:
    rng = np.random.default_rng(3)
    n = 300
    t = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    y = 10 + 5 * x * t + rng.normal(size=n)  # uplift grows with x
    assert qini_coefficient(y, x, t) > 0.3
    assert qini_coefficient(3.5 * y, x, t) == pytest.approx(qini_coefficient(y, x, t))
    assert qini_coefficient(y, -x, t) < 0
    assert auuc(y, x, t) > 0
    assert auuc(y, x, t, normalize=False) > 0 > auuc(y, -x, t, normalize=False)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_row_order_does_not_matter(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 30
    t = np.r_[0, 1, rng.integers(0, 2, n - 2)]
    y = rng.integers(0, 2, n)
    u = rng.integers(0, 5, n).astype(float)  # many ties
    perm = rng.permutation(n)
    for fn in (qini_curve, uplift_curve):
        np.testing.assert_allclose(fn(y, u, t)[1], fn(y[perm], u[perm], t[perm])[1])


def test_bootstrap_band_brackets_estimate() -> None:
    rng = np.random.default_rng(0)
    n = 500
    t = rng.integers(0, 2, n)
    x = rng.random(n)
    y = (rng.random(n) < 0.1 + 0.3 * x * t).astype(float)
    band = bootstrap_curve(y, x, t, n_boot=50)
    assert band.share.shape == band.value.shape == (101,)
    assert (band.lower <= band.value + 1e-12).mean() > 0.95
    assert (band.upper >= band.value - 1e-12).mean() > 0.95
    assert band.upper[50] > band.lower[50]
    est, lo, hi = bootstrap_metric(qini_coefficient, y, x, t, n_boot=50)
    assert lo < est < hi and est > 0
    fig = plot_curves({"model": band})
    assert fig.axes[0].get_title() == "Qini curve"


@pytest.mark.parametrize(
    ("y", "u", "t", "message"),
    [
        ([1, 0], [1.0], [1, 0], "same length"),
        ([], [], [], "at least one row"),
        ([1, 0], [1.0, np.nan], [1, 0], "uplift, row 1: not finite"),
        ([1, 0], [1.0, 2.0], [1, 2], "treatment, row 1: 2 is not 0 or 1"),
        ([1, 0], [1.0, 2.0], [1, 1], "no control rows"),
        ([1, 0], [1.0, 2.0], [0, 0], "no treated rows"),
        ([1, 0], [1.0, 2.0], ["a", "b"], "treatment must hold 0"),
    ],
)
def test_bad_inputs(y: list[float], u: list[float], t: list[object], message: str) -> None:
    with pytest.raises(UpliftMetricError, match=message):
        qini_curve(y, u, t)


def test_bad_k_and_strategy() -> None:
    with pytest.raises(UpliftMetricError, match="share in"):
        uplift_at_k(Y, U, T, 1.5)
    with pytest.raises(UpliftMetricError, match="between 1 and"):
        uplift_at_k(Y, U, T, 9)
    with pytest.raises(UpliftMetricError, match="no control"):
        uplift_at_k(Y, U, T, 2)
    with pytest.raises(UpliftMetricError, match="strategy"):
        uplift_at_k(Y, U, T, 0.5, strategy="both")  # type: ignore[arg-type]
    with pytest.raises(UpliftMetricError, match="no uplift"):
        qini_coefficient([0, 0, 0, 0], U, T)
