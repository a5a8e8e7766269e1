"""Off-policy estimators against hand-computed values and known true policy values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reclift.evaluation.ope import (
    LoggedFeedback,
    OPEError,
    RewardModel,
    estimate_policy_value,
    parse_estimators,
)

ALL = ("replay", "ipw", "snipw", "dm", "dr", "switch-dr")


def test_hand_computed_small_case() -> None:
    # 4 rounds, 2 actions, 1 position.
    data = LoggedFeedback(
        action=[0, 1, 0, 1],
        reward=[1.0, 0.0, 0.0, 1.0],
        pscore=[0.5, 0.5, 0.25, 0.75],
        position=[0, 0, 0, 0],
        n_actions=2,
    )
    pi_e = np.array([[0.8, 0.2]] * 4)[:, :, None]  # (4, 2, 1)
    q = np.array([[0.6, 0.3], [0.6, 0.3], [0.5, 0.5], [0.2, 0.4]])[:, :, None]
    est = estimate_policy_value(data, pi_e, ALL, estimated_rewards=q, tau=1.0, n_bootstrap=0)
    w = np.array([0.8 / 0.5, 0.2 / 0.5, 0.8 / 0.25, 0.2 / 0.75])
    r = np.array([1.0, 0.0, 0.0, 1.0])
    assert est["ipw"].value == pytest.approx((w * r).mean())  # 0.4666...
    assert est["ipw"].value == pytest.approx((1.6 + 0.2 / 0.75) / 4)
    assert est["snipw"].value == pytest.approx((w * r).sum() / w.sum())
    assert est["replay"].value == pytest.approx((0.8 * 1 + 0.2 * 1) / (0.8 + 0.2 + 0.8 + 0.2))
    dm_rows = np.array([0.8 * 0.6 + 0.2 * 0.3, 0.54, 0.5, 0.8 * 0.2 + 0.2 * 0.4])
    assert est["dm"].value == pytest.approx(dm_rows.mean())
    q_logged = np.array([0.6, 0.3, 0.5, 0.4])
    corr = w * (r - q_logged)
    assert est["dr"].value == pytest.approx((dm_rows + corr).mean())
    # tau = 1: only rounds with w <= 1 (rows 1 and 3) keep the correction.
    assert est["switch-dr"].value == pytest.approx((dm_rows + corr * (w <= 1)).mean())
    assert np.isnan(est["ipw"].ci_low)


def synthetic(n: int, rng: np.random.Generator) -> tuple[LoggedFeedback, np.ndarray, np.ndarray]:
    """Logs of a context-dependent logger; returns (data, pi_e, true q)."""
    n_actions, n_pos = 4, 2
    x = rng.integers(0, 3, n)  # 3 context cells
    base = np.array([[0.1, 0.3, 0.5, 0.2], [0.4, 0.2, 0.1, 0.3], [0.2, 0.2, 0.6, 0.1]])
    kappa = np.array([1.0, 0.6])
    q = base[x][:, :, None] * kappa[None, None, :]  # (n, A, P)
    logger = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    position = rng.integers(0, n_pos, n)
    u = rng.random(n)
    action = (u[:, None] > np.cumsum(logger[x], axis=1)).sum(axis=1)
    pscore = logger[x, action]
    reward = (rng.random(n) < q[np.arange(n), action, position]).astype(float)
    target = np.array([[0.1, 0.1, 0.7, 0.1], [0.7, 0.1, 0.1, 0.1], [0.0, 0.0, 1.0, 0.0]])
    pi_e = np.repeat(target[x][:, :, None], n_pos, axis=2)
    data = LoggedFeedback(
        action=action,
        reward=reward,
        pscore=pscore,
        position=position,
        n_actions=n_actions,
        context=np.eye(3)[x],
    )
    return data, pi_e, q


def true_value() -> float:
    base = np.array([[0.1, 0.3, 0.5, 0.2], [0.4, 0.2, 0.1, 0.3], [0.2, 0.2, 0.6, 0.1]])
    target = np.array([[0.1, 0.1, 0.7, 0.1], [0.7, 0.1, 0.1, 0.1], [0.0, 0.0, 1.0, 0.0]])
    per_cell = (target * base).sum(axis=1)  # uniform cells, uniform positions
    return float(per_cell.mean() * (1.0 + 0.6) / 2)


def test_ips_snips_dr_unbiased_and_intervals_cover() -> None:
    truth = true_value()
    rng = np.random.default_rng(42)
    names = ("ipw", "snipw", "dr", "switch-dr")
    values: dict[str, list[float]] = {k: [] for k in names}
    covered: dict[str, int] = dict.fromkeys(names, 0)
    reps = 40
    for rep in range(reps):
        data, pi_e, q = synthetic(1500, rng)
        wrong_q = np.clip(q + 0.15, 0, 1)  # a biased reward model: DR must stay unbiased
        est = estimate_policy_value(
            data, pi_e, names, estimated_rewards=wrong_q, n_bootstrap=60, random_state=rep
        )
        for k in names:
            values[k].append(est[k].value)
            covered[k] += est[k].ci_low <= truth <= est[k].ci_high
    for k in names:
        v = np.array(values[k])
        se = v.std(ddof=1) / np.sqrt(reps)
        assert abs(v.mean() - truth) < 3.5 * se + 1e-3, (k, v.mean(), truth, se)
        assert covered[k] / reps >= 0.8, (k, covered[k])


def test_dm_exact_with_exact_reward_model() -> None:
    data, pi_e, q = synthetic(3000, np.random.default_rng(0))
    est = estimate_policy_value(data, pi_e, ["dm", "dr"], estimated_rewards=q, n_bootstrap=0)
    cond_truth = pi_e[np.arange(3000), :, data.position] * q[np.arange(3000), :, data.position]
    assert est["dm"].value == pytest.approx(cond_truth.sum(axis=1).mean(), abs=1e-12)
    assert est["dm"].value == pytest.approx(true_value(), abs=0.01)


def test_fitted_reward_model_close_to_truth() -> None:
    # The true model has context x action interactions: a tree model captures them.
    data, pi_e, q = synthetic(4000, np.random.default_rng(1))
    qhat = RewardModel("lightgbm", n_folds=2, params={"n_estimators": 60, "n_jobs": 1}).fit_predict(
        data
    )
    rows = np.arange(data.n_rounds)
    err = np.abs(qhat[rows, :, data.position] - q[rows, :, data.position]).mean()
    assert err < 0.05
    est = estimate_policy_value(data, pi_e, ["dm", "dr"], estimated_rewards=qhat, n_bootstrap=0)
    assert est["dr"].value == pytest.approx(true_value(), abs=0.03)


def test_uniform_logger_replay_equals_snipw() -> None:
    rng = np.random.default_rng(3)
    n = 500
    data = LoggedFeedback(
        action=rng.integers(0, 5, n),
        reward=rng.random(n),
        pscore=np.full(n, 0.2),
        position=np.zeros(n, int),
        n_actions=5,
    )
    pi_e = rng.dirichlet(np.ones(5), size=n)[:, :, None]
    est = estimate_policy_value(data, pi_e, ["replay", "snipw"], n_bootstrap=0)
    assert est["replay"].value == pytest.approx(est["snipw"].value)


def _data(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "action": [0, 1],
        "reward": [1.0, 0.0],
        "pscore": [0.5, 0.5],
        "position": [0, 0],
        "n_actions": 2,
    }
    base.update(over)
    return base


BAD_LOGS = [
    ({"pscore": [0.5, 0.0]}, "propensity at row 1 (0.0) is outside (0, 1]"),
    ({"pscore": [1.5, 0.5]}, "propensity at row 0 (1.5) is outside (0, 1]"),
    ({"action": [0, 2]}, "action at row 1 (2) outside [0, 2)"),
    ({"reward": [1.0, float("nan")]}, "reward at row 1 (nan) is not finite"),
    ({"position": [0, -1]}, "position at row 1 (-1) is negative"),
    ({"reward": [1.0]}, "reward has 1 rows, action has 2"),
    ({"action": [], "reward": [], "pscore": [], "position": []}, "logged feedback is empty"),
]


@pytest.mark.parametrize(("over", "message"), BAD_LOGS)
def test_bad_logs(over: dict[str, object], message: str) -> None:
    with pytest.raises(OPEError) as info:
        LoggedFeedback(**_data(**over))  # type: ignore[arg-type]
    assert message in str(info.value)


def test_bad_action_dist_and_estimators() -> None:
    data = LoggedFeedback(**_data())  # type: ignore[arg-type]
    with pytest.raises(OPEError, match=r"action_dist\[0, :, 0\] sums to 0.9"):
        estimate_policy_value(data, np.array([[[0.5], [0.4]]]), ["ipw"])
    with pytest.raises(OPEError, match="expected \\(2 or 1, 2, >= 1\\)"):
        estimate_policy_value(data, np.ones((2, 3, 1)) / 3, ["ipw"])
    with pytest.raises(OPEError, match="unknown estimator 'magic'"):
        parse_estimators("ipw,magic")
    assert parse_estimators("IPS, snips,dr") == ["ipw", "snipw", "dr"]
    with pytest.raises(OPEError, match="estimated_rewards has shape"):
        estimate_policy_value(
            data, np.full((1, 2, 1), 0.5), ["dm"], estimated_rewards=np.zeros((2, 3, 1))
        )


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    n_actions=st.integers(1, 5),
    seed=st.integers(0, 10_000),
)
def test_properties_candidate_equal_to_logger(n: int, n_actions: int, seed: int) -> None:
    # If the candidate is the logger, every weight is 1: IPW = SNIPW = replay-free mean, and
    # SNIPW always lies within the range of the rewards.
    rng = np.random.default_rng(seed)
    logger = rng.dirichlet(np.ones(n_actions), size=n) * 0.98 + 0.02 / n_actions
    action = np.array([rng.choice(n_actions, p=p) for p in logger])
    reward = rng.random(n)
    data = LoggedFeedback(
        action=action,
        reward=reward,
        pscore=logger[np.arange(n), action],
        position=np.zeros(n, int),
        n_actions=n_actions,
    )
    est = estimate_policy_value(data, logger[:, :, None], ["ipw", "snipw"], n_bootstrap=0)
    assert est["ipw"].value == pytest.approx(reward.mean())
    assert est["snipw"].value == pytest.approx(reward.mean())
    other = rng.dirichlet(np.ones(n_actions), size=n)[:, :, None]
    sn = estimate_policy_value(data, other, ["snipw"], n_bootstrap=0)["snipw"].value
    assert np.isnan(sn) or reward.min() - 1e-12 <= sn <= reward.max() + 1e-12


def test_interactions_let_a_linear_reward_model_fit_context_action_effects() -> None:
    data, _pi_e, q = synthetic(4000, np.random.default_rng(2))
    rows = np.arange(data.n_rounds)

    def error(model: RewardModel) -> float:
        qhat = model.fit_predict(data)
        return float(np.abs(qhat[rows, :, data.position] - q[rows, :, data.position]).mean())

    plain = error(RewardModel("logistic", n_folds=2))
    inter = error(RewardModel("logistic", n_folds=2, interactions=True))
    assert inter < 0.05 and inter < 0.5 * plain
