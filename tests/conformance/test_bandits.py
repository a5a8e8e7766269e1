"""Conformance: every registered bandit policy honours the family contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reclift.errors import ReclifError
from reclift.models.bandits import (
    POLICIES,
    BanditPolicy,
    DuplicateFeedbackError,
    RewardError,
    UnknownArmError,
    UnknownDecisionError,
)
from reclift.models.errors import InvalidParameterError, NotFittedError

ARMS = ["a", "b", "c", "d"]
D = 3


def make(name: str, **extra: Any) -> BanditPolicy:
    params: dict[str, Any] = {"arms": ARMS, "random_state": 7, **extra}
    if POLICIES[name].contextual:
        params["n_features"] = D
    return POLICIES[name](**params)


def ctx(policy: BanditPolicy, rng: np.random.Generator) -> np.ndarray | None:
    return rng.normal(size=D) if policy.contextual else None


def trained(name: str) -> BanditPolicy:
    policy = make(name).fit()
    rng = np.random.default_rng(0)
    for _ in range(40):
        x = ctx(policy, rng)
        dec = policy.select(x, k=2)
        policy.update(dec.decision_id, [float(rng.random() < 0.3), 0.0])
    return policy


NAMES = sorted(POLICIES)


@pytest.mark.parametrize("name", NAMES)
def test_decision_contract(name: str) -> None:
    policy = trained(name)
    x = ctx(policy, np.random.default_rng(1))
    dec = policy.select(x, k=3)
    assert len(dec.actions) == 3 and len(set(dec.actions)) == 3
    assert set(dec.actions) <= set(ARMS)
    assert all(0 < p <= 1 for p in dec.propensities)
    assert len(dec.decision_id) == 32
    dist = policy.action_distribution(None if x is None else x[None, :], k=3, n_samples=2000)
    assert dist.shape == (1, 4, 3)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    # The logged propensity is the probability of the arm at its slot (MC tolerance).
    for j, arm in enumerate(dec.actions):
        assert dec.propensities[j] == pytest.approx(dist[0, ARMS.index(arm), j], abs=0.12)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_same_state_and_output(name: str, tmp_path: Path) -> None:
    policy = trained(name)
    loaded = type(policy).load(policy.save(tmp_path / "models"))
    assert loaded.get_params() == policy.get_params()
    for key, arr in policy.get_state().items():
        np.testing.assert_array_equal(loaded.get_state()[key], arr)
    # Same state and same seed -> same decisions.
    again = type(policy).load(tmp_path / "models")
    rng = np.random.default_rng(3)
    for _ in range(5):
        x = ctx(policy, rng)
        assert loaded.select(x, k=2).actions == again.select(x, k=2).actions


@pytest.mark.parametrize("name", NAMES)
def test_state_bytes_roundtrip(name: str) -> None:
    policy = trained(name)
    fresh = make(name).fit()
    fresh.load_state_bytes(policy.state_bytes())
    for key, arr in policy.get_state().items():
        np.testing.assert_array_equal(fresh.get_state()[key], arr)


@pytest.mark.parametrize("name", NAMES)
def test_cold_start_arm(name: str) -> None:
    policy = trained(name)
    policy.add_arms(["new"])
    assert policy.n_arms == 5
    x = ctx(policy, np.random.default_rng(2))
    dist = policy.action_distribution(None if x is None else x[None, :], k=1, n_samples=500)
    assert dist.shape == (1, 5, 1)
    dec = policy.select(x, k=5)
    assert "new" in dec.actions


BAD: list[tuple[str, type[ReclifError], str]] = [
    ("unknown_decision", UnknownDecisionError, "unknown decision id 'nope'"),
    ("reward_high", RewardError, "reward 2.0 at position 1 is outside [0, 1]"),
    ("reward_nan", RewardError, "reward nan at position 1 is outside [0, 1]"),
    ("reward_len", RewardError, "1 reward(s) for a slate of 2 arm(s)"),
    ("scalar_for_slate", RewardError, "a scalar reward was given for a slate of 2 arms"),
    ("duplicate", DuplicateFeedbackError, "already received its feedback"),
    ("k_zero", InvalidParameterError, "k must be a positive integer, got 0"),
    ("k_big", InvalidParameterError, "k=9 is larger than the number of arms (4)"),
    ("unknown_arm", UnknownArmError, "actions[1]: unknown arm 'zz'"),
    ("dup_arm", InvalidParameterError, "arm 'a' is already known"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("case", "error", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs(name: str, case: str, error: type[ReclifError], message: str) -> None:
    policy = make(name).fit()
    x = ctx(policy, np.random.default_rng(0))
    one = policy.select(x, k=1)
    two = policy.select(x, k=2)
    with pytest.raises(error) as info:
        if case == "unknown_decision":
            policy.update("nope", 1.0)
        elif case == "reward_high":
            policy.update(one.decision_id, 2.0)
        elif case == "reward_nan":
            policy.update(one.decision_id, float("nan"))
        elif case == "reward_len":
            policy.update(two.decision_id, [1.0])
        elif case == "scalar_for_slate":
            policy.update(two.decision_id, 1.0)
        elif case == "duplicate":
            policy.update(one.decision_id, 1.0)
            policy.update(one.decision_id, 1.0)
        elif case == "k_zero":
            policy.select(x, k=0)
        elif case == "k_big":
            policy.select(x, k=9)
        elif case == "unknown_arm":
            policy.observe(["a", "zz"], [0.0, 1.0], x)
        elif case == "dup_arm":
            policy.add_arms(["a"])
    assert message in str(info.value)


@pytest.mark.parametrize("name", NAMES)
def test_not_fitted_and_bad_params(name: str) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        make(name).select(None)
    with pytest.raises(InvalidParameterError, match="discount must be in"):
        make(name, discount=0.0).fit()
    with pytest.raises(InvalidParameterError, match="arms is empty"):
        POLICIES[name](arms=[]).fit()
    with pytest.raises(InvalidParameterError, match="appears more than once"):
        POLICIES[name](arms=["a", "a"]).fit()


@pytest.mark.parametrize("name", NAMES)
def test_durable_restart_rebuilds_state(name: str, tmp_path: Path) -> None:
    from reclift.models.bandits.store import DurableBandit

    db = tmp_path / f"{name}.sqlite"
    store = DurableBandit.create(db, make(name, discount=0.995), snapshot_every=9)
    rng = np.random.default_rng(5)
    for _ in range(25):
        dec = store.select(ctx(store.policy, rng), k=2)
        store.update(dec.decision_id, [float(rng.random() < 0.4), float(rng.random() < 0.2)])
    before = store.policy.get_state()
    store.close()
    again = DurableBandit.open(db)
    assert again.policy.get_params() == store.policy.get_params()
    for key, arr in before.items():
        np.testing.assert_allclose(again.policy.get_state()[key], arr, rtol=1e-10, atol=1e-12)
    again.close()
