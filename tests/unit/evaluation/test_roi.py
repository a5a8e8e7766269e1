"""ROI simulation: arithmetic by hand, IPS unbiasedness, strategy ordering on known truth."""

from __future__ import annotations

import numpy as np
import pytest

from reclift.evaluation.roi import (
    RoiError,
    best_budget,
    ips_multiarm_uplift,
    ips_policy_uplift,
    plot_profit,
    simulate_roi,
)


def test_arithmetic_hand_computed() -> None:
    # 4 customers, p = 0.5: IPS terms 2*y for treated, -2*y for control.
    y = [1, 0, 1, 0]
    t = [1, 1, 0, 0]
    score = [4.0, 3.0, 2.0, 1.0]
    rows = simulate_roi(
        {"m": score}, y, t, cost_per_contact=1.0, value_per_unit=10.0, budgets=[1, 3], n_boot=0
    )
    m1, m3 = [r for r in rows if r.strategy == "m"]
    assert (m1.contacts, m1.incremental_outcome, m1.value, m1.cost) == (1, 2.0, 20.0, 1.0)
    assert m1.profit == pytest.approx(19.0) and m1.roi == pytest.approx(19.0)
    assert m1.cost_per_incremental == pytest.approx(0.5)
    # top 3: +2 + 0 - 2 = 0 incremental conversions
    assert (m3.contacts, m3.incremental_outcome, m3.profit) == (3, 0.0, -3.0)
    assert m3.cost_per_incremental == float("inf")
    assert {r.strategy for r in rows} == {"m", "random", "all"}
    assert best_budget(rows, "m") is m1


def test_ips_is_unbiased_over_randomisations() -> None:
    rng = np.random.default_rng(0)
    n, reps, p = 200, 4000, 0.3
    p0 = rng.uniform(0.05, 0.4, n)
    tau = rng.uniform(-0.05, 0.2, n)
    target = rng.random(n) < 0.5
    truth = float(tau[target].sum())
    t = (rng.random((reps, n)) < p).astype(float)
    y = (rng.random((reps, n)) < p0 + t * tau).astype(float)
    est = np.array([ips_policy_uplift(y[r], t[r], target, p) for r in range(reps)])
    se = est.std() / np.sqrt(reps)
    assert abs(est.mean() - truth) < 4 * se
    # The check has power: forgetting the 1/p weights (a plausible bug) is caught.
    naive = np.array([((t[r] - (1 - t[r])) * y[r])[target].sum() for r in range(200)])
    assert abs(naive.mean() - truth) > 10 * se


def test_multiarm_ips_is_unbiased() -> None:
    rng = np.random.default_rng(5)
    n, reps = 150, 3000
    probs = np.array([0.4, 0.35, 0.25])  # control, arm 1, arm 2
    p0 = rng.uniform(0.05, 0.3, n)
    tau = np.column_stack([rng.uniform(0.0, 0.2, n), rng.uniform(-0.1, 0.05, n)])
    assigned = np.where(rng.random(n) < 0.8, 1, 2)  # mostly the better arm
    target = rng.random(n) < 0.6
    truth = float(tau[np.arange(n), assigned - 1][target].sum())
    arm = rng.choice(3, size=(reps, n), p=probs)
    lift = np.concatenate([np.zeros((n, 1)), tau], axis=1)
    y = (rng.random((reps, n)) < p0 + lift[np.arange(n), arm]).astype(float)
    est = np.array(
        [ips_multiarm_uplift(y[r], arm[r], assigned, target, probs) for r in range(reps)]
    )
    se = est.std() / np.sqrt(reps)
    assert abs(est.mean() - truth) < 4 * se
    # the opposite assignment has its own value, and the estimator tracks it too
    swapped = 3 - assigned
    truth_swapped = float(tau[np.arange(n), swapped - 1][target].sum())
    est_swapped = np.array(
        [ips_multiarm_uplift(y[r], arm[r], swapped, target, probs) for r in range(reps)]
    )
    assert abs(truth_swapped - truth) > 8 * se
    assert abs(est_swapped.mean() - truth_swapped) < 4 * est_swapped.std() / np.sqrt(reps)
    with pytest.raises(RoiError, match="assigned arms must be treatments"):
        ips_multiarm_uplift(y[0], arm[0], np.zeros(n, dtype=int), target, probs)
    with pytest.raises(RoiError, match=r"arm codes must be in 0\.\.2"):
        ips_multiarm_uplift(y[0], np.full(n, 3), assigned, target, probs)


def test_oracle_beats_uplift_beats_random_on_truth() -> None:
    rng = np.random.default_rng(1)
    n = 20_000
    tau = rng.normal(0.02, 0.05, n)
    p0 = rng.uniform(0.05, 0.3, n)
    t = rng.integers(0, 2, n)
    y = (rng.random(n) < np.clip(p0 + t * tau, 0, 1)).astype(float)
    uplift = tau + rng.normal(0, 0.04, n)  # a good but imperfect model
    response = p0 + rng.normal(0, 0.01, n)  # ranks by baseline, blind to uplift
    rows = simulate_roi(
        {"uplift": uplift, "response": response},
        y,
        t,
        cost_per_contact=0.5,
        value_per_unit=20.0,
        budgets=[1000, 2500, 5000],
        true_uplift=tau,
        n_boot=30,
    )
    by = {(r.strategy, r.budget): r for r in rows}
    for b in (1000.0, 2500.0, 5000.0):
        oracle, up, rand = by[("oracle", b)], by[("uplift", b)], by[("random", b)]
        assert oracle.true_profit is not None and up.true_profit is not None
        assert rand.true_profit is not None
        assert oracle.true_profit >= up.true_profit >= rand.true_profit
        assert up.profit_lo <= up.profit <= up.profit_hi
    assert best_budget(rows, "oracle", use_truth=True).budget in (1000.0, 2500.0, 5000.0)
    # the IPS estimate tracks the realised value of the uplift strategy
    r = by[("uplift", 2500.0)]
    assert r.incremental_outcome_lo < r.true_incremental_outcome < r.incremental_outcome_hi  # type: ignore[operator]
    fig = plot_profit(rows, use_truth=True)
    assert len(fig.axes[0].lines) >= 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cost_per_contact": 0.0}, "cost_per_contact must be > 0"),
        ({"budgets": []}, "budgets must be"),
        ({"budgets": [-1.0]}, "budgets must be"),
        ({"treatment": [1, 1, 1, 1]}, "both treated and control"),
        ({"treatment": [1, 2, 0, 0]}, "0 \\(control\\) and 1"),
        ({"propensity": 1.0}, "strictly between 0 and 1"),
        ({"scores": {"m": [1.0, 2.0]}}, "strategy 'm' have 2 values"),
        ({"true_uplift": [0.1]}, "true_uplift has 1 values"),
    ],
)
def test_bad_inputs(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "scores": {"m": [1.0, 2.0, 3.0, 4.0]},
        "y": [1, 0, 1, 0],
        "treatment": [1, 1, 0, 0],
        "cost_per_contact": 1.0,
        "value_per_unit": 1.0,
        "budgets": [1.0],
        "n_boot": 0,
    }
    args.update(kwargs)
    with pytest.raises(RoiError, match=message):
        simulate_roi(**args)  # type: ignore[arg-type]
