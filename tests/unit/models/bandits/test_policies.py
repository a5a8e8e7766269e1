"""Policies against oracles: regret ordering, exact propensities, drift, position model."""

from __future__ import annotations

import numpy as np
import pytest

from reclift.models.bandits import (
    UCB1,
    BernoulliThompson,
    EpsilonGreedy,
    LinUCB,
    UniformRandom,
    get_policy,
)
from reclift.models.bandits.simulate import simulate_regret
from reclift.models.errors import InvalidParameterError

CTR = [0.05, 0.1, 0.6]
ARMS = ["x", "y", "z"]


def mean_regret(name: str, n_rounds: int, seeds: int = 3, **params: object) -> float:
    finals = []
    for s in range(seeds):
        policy = get_policy(name, arms=ARMS, random_state=s, **params).fit()
        finals.append(simulate_regret(policy, CTR, n_rounds, seed=100 + s).regret[-1])
    return float(np.mean(finals))


def test_regret_order_thompson_ucb_epsilon() -> None:
    # Averaged over seeds on well-separated Bernoulli arms: TS ~10, UCB1 ~40, eps ~125.
    ts = mean_regret("thompson", 2000)
    ucb = mean_regret("ucb1", 2000)
    eps = mean_regret("epsilon-greedy", 2000, epsilon=0.1)
    assert ts < ucb < eps
    # epsilon-greedy's linear part: about epsilon * T * mean gap.
    assert eps == pytest.approx(0.1 * 2000 * (0.55 + 0.5 + 0.0) / 3, rel=0.35)


def test_epsilon_greedy_exact_propensities() -> None:
    policy = EpsilonGreedy(ARMS, epsilon=0.3).fit()
    policy.observe(["z"], 1.0)
    policy.observe(["x"], 0.0)
    policy.observe(["y"], 0.0)
    dist = policy.action_distribution(k=1)[0, :, 0]
    np.testing.assert_allclose(dist, [0.1, 0.1, 0.8])
    for _ in range(30):
        dec = policy.select()
        want = 0.8 if dec.actions[0] == "z" else 0.1
        assert dec.propensities[0] == pytest.approx(want)


def test_thompson_propensity_matches_beta_probability() -> None:
    # Two arms: P(theta_a > theta_b) for Beta(3,1) vs Beta(1,1) is 3/4 exactly.
    policy = BernoulliThompson(["a", "b"], alpha=[3.0, 1.0], beta=[1.0, 1.0]).fit()
    dist = policy.action_distribution(k=1, n_samples=200_000)[0, :, 0]
    assert dist[0] == pytest.approx(0.75, abs=0.005)
    slate = policy.action_distribution(k=2, n_samples=200_000)[0]
    assert slate[0, 1] == pytest.approx(0.25, abs=0.005)


def test_uniform_slate_marginals_exact() -> None:
    policy = UniformRandom(["a", "b", "c", "d", "e"]).fit()
    dec = policy.select(k=3)
    assert dec.propensities == (0.2, 0.2, 0.2)
    counts = np.zeros((5, 3))
    for _ in range(3000):
        d = policy.select(k=3)
        for j, arm in enumerate(d.actions):
            counts["abcde".index(arm), j] += 1
    np.testing.assert_allclose(counts / 3000, 0.2, atol=0.03)


def test_ucb_tries_cold_start_arm_first() -> None:
    policy = UCB1(["a", "b"]).fit()
    for _ in range(20):
        policy.observe(["a"], 1.0)
        policy.observe(["b"], 0.0)
    assert policy.select().actions == ("a",)
    policy.add_arms(["new"])
    assert policy.select().actions == ("new",)


def test_discount_recovers_after_change() -> None:
    # The best arm flips at round 1500: the discounted policy adapts, the stationary one lags.
    before, after = [0.7, 0.2], [0.2, 0.7]

    def run(discount: float) -> float:
        out = []
        for s in range(3):
            pol = BernoulliThompson(["a", "b"], discount=discount, random_state=s).fit()
            curve = simulate_regret(
                pol, before, 3000, seed=s, ctr_after=after, change_at=1500, n_points=2
            )
            out.append(curve.regret[-1])
        return float(np.mean(out))

    assert run(0.98) < 0.5 * run(1.0)


def test_position_model_counts_exposure() -> None:
    # A click at a slot with kappa=0.5 is worth twice the evidence per impression.
    policy = BernoulliThompson(["a", "b", "c"], position_weights=[1.0, 0.5]).fit()
    policy.observe(["a", "b"], [0.0, 1.0])
    np.testing.assert_allclose(policy.n_, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(policy.s_, [0.0, 1.0, 0.0])
    with pytest.raises(InvalidParameterError, match="only 2 positions"):
        policy.select(k=3)


def test_linucb_learns_linear_rewards() -> None:
    rng = np.random.default_rng(0)
    theta = np.array([[1.0, 0.0], [0.0, 1.0]])
    policy = LinUCB(["a", "b"], n_features=2, alpha=0.5).fit()
    for _ in range(300):
        x = rng.normal(size=2)
        code = rng.integers(2)
        reward = float(np.clip(0.5 + 0.4 * theta[code] @ x + rng.normal(0, 0.05), 0, 1))
        policy.observe([["a", "b"][code]], reward, x)
    assert policy.select([2.0, -2.0]).actions == ("a",)
    assert policy.select([-2.0, 2.0]).actions == ("b",)
    with pytest.raises(InvalidParameterError, match="context must hold 2 finite numbers"):
        policy.select([1.0, 2.0, 3.0])
    with pytest.raises(InvalidParameterError, match="needs a context vector"):
        policy.select(None)
