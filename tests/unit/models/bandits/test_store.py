"""Durable store: write-ahead log, restart recovery, idempotency, threads, bad input."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from reclift.models.bandits import (
    BernoulliThompson,
    DuplicateFeedbackError,
    LinUCB,
    RewardError,
    UnknownDecisionError,
)
from reclift.models.bandits.store import DurableBandit, StoreError

ARMS = ["a", "b", "c"]


def test_wal_full_sync_and_logged_before_ack(tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite"
    store = DurableBandit.create(db, BernoulliThompson(ARMS))
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    dec = store.select(k=2)
    # A second connection (another process after a crash) sees the decision already.
    other = sqlite3.connect(db)
    assert other.execute("SELECT COUNT(*) FROM decisions").fetchone()[0] == 1
    store.update(dec.decision_id, [1.0, 0.0])
    assert other.execute("SELECT rewards FROM feedback").fetchone()[0] == "[1.0, 0.0]"
    other.close()
    store.close()


@pytest.mark.parametrize("snapshot_every", [1, 7, 10_000])
def test_restart_rebuilds_exact_state(tmp_path: Path, snapshot_every: int) -> None:
    db = tmp_path / "b.sqlite"
    reference = BernoulliThompson(ARMS, discount=0.99).fit()
    store = DurableBandit.create(
        db, BernoulliThompson(ARMS, discount=0.99), snapshot_every=snapshot_every
    )
    rng = np.random.default_rng(0)
    pending = []
    for i in range(60):
        dec = store.select(k=2)
        if i % 5 == 4:
            pending.append(dec)  # feedback arrives after the restart
            continue
        reward = [float(rng.random() < 0.4), float(rng.random() < 0.2)]
        store.update(dec.decision_id, reward)
        reference.observe(dec.actions, reward)
        if i == 30:
            store.add_arms(["late"])
            reference.add_arms(["late"])
    store.close()
    again = DurableBandit.open(db, snapshot_every=snapshot_every)
    assert again.policy.arm_ids_ == [*ARMS, "late"]
    for key, arr in reference.get_state().items():
        np.testing.assert_allclose(again.policy.get_state()[key], arr, rtol=1e-12)
    # Decisions made before the restart accept feedback after it.
    for dec in pending:
        assert again.update(dec.decision_id, [1.0, 1.0]).applied
        reference.observe(dec.actions, [1.0, 1.0])
    np.testing.assert_allclose(again.policy.n_, reference.n_, rtol=1e-12)
    again.close()


def test_contextual_policy_restart(tmp_path: Path) -> None:
    db = tmp_path / "lin.sqlite"
    store = DurableBandit.create(db, LinUCB(ARMS, n_features=2), snapshot_every=3)
    rng = np.random.default_rng(1)
    for _ in range(10):
        dec = store.select(rng.normal(size=2))
        store.update(dec.decision_id, float(rng.random()))
    state = store.policy.get_state()
    store.close()
    again = DurableBandit.open(db)
    np.testing.assert_allclose(again.policy.get_state()["A"], state["A"])
    np.testing.assert_allclose(again.policy.get_state()["b"], state["b"])
    again.close()


def test_feedback_idempotent_by_decision_id(tmp_path: Path) -> None:
    store = DurableBandit.create(tmp_path / "b.sqlite", BernoulliThompson(ARMS))
    dec = store.select()
    assert store.update(dec.decision_id, 1.0).applied
    n_before = store.policy.n_.copy()
    result = store.update(dec.decision_id, 1.0)
    assert not result.applied
    np.testing.assert_array_equal(store.policy.n_, n_before)
    with pytest.raises(DuplicateFeedbackError, match="already has reward"):
        store.update(dec.decision_id, 0.0)
    assert store.stats()["feedback"] == 1
    store.close()


BAD = [
    ("unknown", UnknownDecisionError, "unknown decision id 'missing'"),
    ("not_str", UnknownDecisionError, "decision id must be a string, got 5"),
    ("range", RewardError, "reward -1.0 at position 1 is outside [0, 1]"),
    ("text", RewardError, "reward 'click' is not a number"),
    ("length", RewardError, "3 reward(s) for a slate of 1 arm(s)"),
]


@pytest.mark.parametrize(("case", "error", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_feedback_is_refused_and_not_logged(
    tmp_path: Path, case: str, error: type[Exception], message: str
) -> None:
    store = DurableBandit.create(tmp_path / "b.sqlite", BernoulliThompson(ARMS))
    dec = store.select()
    args: dict[str, tuple[object, object]] = {
        "unknown": ("missing", 1.0),
        "not_str": (5, 1.0),
        "range": (dec.decision_id, -1.0),
        "text": (dec.decision_id, "click"),
        "length": (dec.decision_id, [1.0, 0.0, 1.0]),
    }
    decision_id, reward = args[case]
    with pytest.raises(error) as info:
        store.update(decision_id, reward)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert store.stats()["feedback"] == 0
    store.close()


def test_open_and_create_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no bandit database here"):
        DurableBandit.open(tmp_path / "none.sqlite")
    db = tmp_path / "b.sqlite"
    DurableBandit.create(db, BernoulliThompson(ARMS)).close()
    with pytest.raises(StoreError, match="already exists"):
        DurableBandit.create(db, BernoulliThompson(ARMS))
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite"):
        DurableBandit.open(junk)


def test_many_threads_no_lost_or_double_updates(tmp_path: Path) -> None:
    db = tmp_path / "b.sqlite"
    store = DurableBandit.create(db, BernoulliThompson(ARMS), snapshot_every=25)
    n_threads, per_thread = 8, 25
    errors: list[BaseException] = []
    acked: list[tuple[str, float]] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(per_thread):
                dec = store.select()
                reward = float(rng.random() < 0.5)
                store.update(dec.decision_id, reward)
                store.update(dec.decision_id, reward)  # a retry: must not count twice
                with lock:
                    acked.append((dec.actions[0], reward))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    total = n_threads * per_thread
    assert store.policy.n_.sum() == pytest.approx(total)
    assert store.policy.s_.sum() == pytest.approx(sum(r for _, r in acked))
    for i, arm in enumerate(ARMS):
        assert store.policy.n_[i] == sum(1 for a, _ in acked if a == arm)
    store.close()
    again = DurableBandit.open(db)
    np.testing.assert_allclose(again.policy.n_.sum(), total)
    assert again.stats()["feedback"] == total
    again.close()


def test_export_log_feeds_off_policy_evaluation(tmp_path: Path) -> None:
    from reclift.evaluation.ope import estimate_policy_value, feedback_from_banner_log
    from reclift.models.bandits import UniformRandom
    from reclift.schema.tables import TABLES

    store = DurableBandit.create(tmp_path / "b.sqlite", UniformRandom(ARMS))
    rng = np.random.default_rng(0)
    ctr = {"a": 0.1, "b": 0.3, "c": 0.6}
    for i in range(300):
        dec = store.select(k=2)
        if i % 10 == 0:
            continue  # no feedback yet: not exported
        store.update(dec.decision_id, [float(rng.random() < ctr[a]) for a in dec.actions])
    table = store.export_log()
    store.close()
    assert table.schema == TABLES["banner_log"].schema
    assert table.num_rows == 270 * 2
    assert set(table.column("position").to_pylist()) == {1, 2}
    assert all(p == pytest.approx(1 / 3) for p in table.column("propensity").to_pylist())
    data = feedback_from_banner_log(table)
    always_c = np.zeros((1, 3, 2))
    always_c[0, 2, :] = 1.0
    est = estimate_policy_value(data, always_c, ["ipw"], n_bootstrap=100)
    assert est["ipw"].ci_low <= 0.6 <= est["ipw"].ci_high
