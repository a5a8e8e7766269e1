"""Durable online learning: a bandit policy behind a write-ahead log in SQLite.

:class:`DurableBandit` wraps a policy. Every decision and every feedback is written to a
SQLite database in WAL mode with ``synchronous=FULL`` (the WAL is fsynced at each commit)
*before* the call returns, so whatever a caller was told has been recorded survives a crash
or a ``SIGKILL`` (decisions may opt out: ``sync_decisions=False``, see
:class:`DurableBandit`). After a restart the policy state is rebuilt from the latest snapshot plus
the feedback logged after it, in log order (policy updates are deterministic, so the rebuilt
state equals the state before the crash).

Feedback is idempotent by decision id: repeating the same reward is acknowledged without
learning it twice; a different reward for a decided id is refused
(:class:`~reclift.models.bandits.base.DuplicateFeedbackError`). The object may be shared by
many threads (one process owns a database file): a single writer thread commits the writes
waiting at the same moment in one transaction (group commit, one fsync per batch), and every
caller returns only after its own write is committed. Decisions waiting for feedback are
also cached in memory, so feedback needs no database read; raw per-arm totals and counts are
kept in memory too (rebuilt from the log on open).

Tables: ``meta`` (policy name and parameters, arm ids), ``decisions`` (id, slate,
propensities, context), ``feedback`` (log sequence number, decision id, rewards) and
``snapshots`` (state ``.npz`` bytes and the feedback sequence number they include).
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from reclift.errors import ReclifError
from reclift.models.bandits.base import (
    F64,
    BanditPolicy,
    Decision,
    DuplicateFeedbackError,
    UnknownDecisionError,
    check_reward,
)
from reclift.models.bandits.registry import get_policy

# Sequence numbers are plain rowids (max + 1): rows are never deleted, so they only grow,
# and unlike AUTOINCREMENT no sqlite_sequence page is rewritten by every commit. (Databases
# made with AUTOINCREMENT work the same.)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE,
    ts REAL NOT NULL,
    actions TEXT NOT NULL,
    propensities TEXT NOT NULL,
    context TEXT
);
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY,
    decision_id TEXT NOT NULL UNIQUE REFERENCES decisions(decision_id),
    ts REAL NOT NULL,
    rewards TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    feedback_seq INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    arms TEXT NOT NULL,
    state BLOB NOT NULL
);
"""


class StoreError(ReclifError):
    """A bandit database that cannot be opened or does not match the policy asked for."""


@dataclass(frozen=True)
class FeedbackResult:
    """Outcome of :meth:`DurableBandit.update`.

    Attributes
    ----------
    decision_id
        The decision the feedback was for.
    applied
        ``True`` if this call recorded and learned the feedback; ``False`` for a repeat of
        feedback already recorded (idempotent retry).
    """

    decision_id: str
    applied: bool


@dataclass(frozen=True)
class ArmTotals:
    """Raw per-arm counts of the recorded feedback (not discounted, not position-weighted).

    Attributes
    ----------
    pulls
        Arm id -> number of times it was shown and got feedback.
    rewards
        Arm id -> sum of its rewards.
    """

    pulls: dict[str, int]
    rewards: dict[str, float]


_DECISION, _FEEDBACK, _SQL, _SNAPSHOT = range(4)
# Rows per multi-row INSERT: 5 parameters each stays far below SQLite's variable limit.
_ROWS_PER_INSERT = 256
_MAX_BATCH = 2048


class _Job:
    """One write waiting for the group commit."""

    __slots__ = ("_lock", "after", "decision", "done", "error", "kind", "params", "sql")

    def __init__(
        self,
        kind: int,
        params: tuple[Any, ...],
        sql: str = "",
        after: Callable[[], None] | None = None,
        decision: _Job | None = None,
    ) -> None:
        self.kind = kind
        self.params = params
        self.sql = sql
        self.after = after
        # Feedback: the write of its decision, when that may still be queued.
        self.decision = decision
        # A bare lock held until the commit (cheaper than threading.Event, which is a
        # Condition written in Python: it showed in profiles at thousands of waits a second).
        self._lock = threading.Lock()
        self._lock.acquire()
        self.done = False
        self.error: BaseException | None = None

    def wait(self) -> None:
        """Block until committed; re-raise the commit's error."""
        if not self.done:
            # Take and hand back: every waiter (a retry may wait too) gets through.
            with self._lock:
                pass
        if self.error is not None:
            raise self.error

    def finish(self) -> None:
        """Mark committed (or failed: set :attr:`error` first) and wake the waiters."""
        self.done = True
        self._lock.release()


def _insert_sql(table: str, columns: str, n_cols: int, n_rows: int) -> str:
    row = "(" + ", ".join("?" * n_cols) + ")"
    return f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row] * n_rows)


class _GroupCommitter:
    """The only writer of a database: commits queued writes in batches (one fsync each).

    Callers block until their write is committed; writes waiting at the same time share one
    transaction, which is what makes many concurrent durable updates per second possible
    on a disk whose fsync takes milliseconds. Decisions and feedback of a batch go in one
    multi-row ``INSERT`` per table: each SQLite call releases and re-takes the GIL, and under
    load re-taking it is what costs, so a batch makes at most four calls however many rows it
    holds (one when it holds a single statement).
    ``after`` callbacks run in commit order right after the commit, so in-memory state is
    updated in log order; then ``on_batch(n_feedback, last_feedback_seq, force_snapshot)``.

    Feedback rows of one statement get consecutive sequence numbers (rowids, a single writer,
    no deletes), so the last one is the cursor's ``lastrowid``.
    """

    def __init__(
        self, conn: sqlite3.Connection, on_batch: Callable[[int, int, int, bool], None]
    ) -> None:
        self.conn = conn
        self.on_batch = on_batch
        self.queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="bandit-wal-writer", daemon=True)
        self.thread.start()

    def submit(self, job: _Job) -> _Job:
        self.queue.put(job)
        return job

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        # A write submitted while closing would otherwise wait forever.
        while True:
            try:
                job = self.queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job.error = StoreError("the store was closed before this write was committed")
                job.finish()

    @staticmethod
    def _inserts(
        jobs: list[_Job], table: str, columns: str, n_cols: int
    ) -> list[tuple[str, list[Any]]]:
        out = []
        for start in range(0, len(jobs), _ROWS_PER_INSERT):
            chunk = jobs[start : start + _ROWS_PER_INSERT]
            params = [value for job in chunk for value in job.params]
            out.append((_insert_sql(table, columns, n_cols, len(chunk)), params))
        return out

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < _MAX_BATCH:
                try:
                    job = self.queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            for job in batch:
                # The decision was in an earlier batch (first in, first out) or is in this
                # one; if its commit failed, the feedback must not be logged without it.
                if job.decision is not None and job.decision.error is not None:
                    job.error = StoreError(f"its decision was not logged: {job.decision.error}")
                    job.after = None
            decisions = [j for j in batch if j.kind == _DECISION]
            feedback = [j for j in batch if j.kind == _FEEDBACK and j.error is None]
            statements: list[tuple[str, Any]] = [
                *self._inserts(
                    decisions, "decisions", "decision_id, ts, actions, propensities, context", 5
                ),
                *self._inserts(feedback, "feedback", "decision_id, ts, rewards", 3),
                *((job.sql, job.params) for job in batch if job.kind == _SQL),
            ]
            last_seq = 0
            try:
                # Every SQLite call lets go of the GIL and must take it back, which under load
                # is what costs: one statement commits on its own (autocommit is atomic and
                # fsyncs), several share one explicit transaction.
                explicit = len(statements) > 1
                if explicit:
                    self.conn.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    cursor = self.conn.execute(sql, params)
                    if sql.startswith("INSERT INTO feedback"):
                        # Rows of one INSERT get consecutive numbers (one writer, no
                        # deletes): the last one is the batch's last sequence number.
                        last_seq = int(cursor.lastrowid or 0)
                if explicit:
                    self.conn.execute("COMMIT")
            except BaseException as exc:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                for job in batch:
                    job.error = exc
            else:
                for job in batch:
                    if job.after is not None:
                        try:
                            job.after()
                        except BaseException as exc:
                            job.error = exc
                snapshots = [j for j in batch if j.kind == _SNAPSHOT]
                try:
                    self.on_batch(len(decisions), len(feedback), last_seq, bool(snapshots))
                except Exception as exc:
                    # An automatic snapshot is retried after the next batch (the log is
                    # intact); one that was asked for reports the failure.
                    for job in snapshots:
                        job.error = exc
            for job in batch:
                job.finish()


@dataclass
class _Awaiting:
    """A decision handed out and waiting for feedback (its log write may be queued)."""

    actions: list[str]
    context: list[float] | None
    job: _Job


@dataclass
class _Inflight:
    """Feedback submitted to the writer and not yet committed."""

    actions: list[str]
    rewards: F64
    job: _Job


class DurableBandit:
    """A policy whose decisions and feedback are logged durably before acknowledgement.

    Use :meth:`create` for a new database and :meth:`open` after a restart.

    Parameters
    ----------
    path
        SQLite database file.
    policy
        A fitted policy whose state matches the log (built by :meth:`create`/:meth:`open`).
    snapshot_every
        Take a snapshot after this many feedbacks (bounds the replay after a restart).
    sync_decisions
        ``True`` (default): :meth:`select` returns once its decision is committed.
        ``False``: it returns once the decision is queued for the next group commit, which
        halves the fsyncs per decision when feedback follows quickly (both share a commit).
        Acknowledged feedback stays exactly as durable: its commit includes its decision
        (same batch or an earlier one, since the writer is first-in first-out), and feedback
        whose decision failed to commit is refused. What a crash can lose is a decision
        handed out in the last few milliseconds, whose feedback then answers
        :class:`~reclift.models.bandits.base.UnknownDecisionError`.
    cache_size
        Decisions waiting for feedback kept in memory, so that feedback for a recent decision
        needs no database read (older ones are read from the log).
    """

    def __init__(
        self,
        path: Path,
        policy: BanditPolicy,
        *,
        snapshot_every: int = 1000,
        sync_decisions: bool = True,
        cache_size: int = 100_000,
    ) -> None:
        self.path = Path(path)
        self.policy = policy
        self.snapshot_every = snapshot_every
        self.sync_decisions = sync_decisions
        self.cache_size = cache_size
        self.info: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._conn = _connect(self.path)
        self._since_snapshot = 0
        self._last_seq = 0
        self._n_decisions = 0
        self._n_feedback = 0
        self._totals_lock = threading.Lock()
        self._pulls: dict[str, int] = {}
        self._rewards: dict[str, float] = {}
        self._awaiting: OrderedDict[str, _Awaiting] = OrderedDict()
        self._inflight: dict[str, _Inflight] = {}
        self._writer: _GroupCommitter | None = None

    def _start(self) -> None:
        # A second connection for the writer thread: readers never see a half-written batch.
        self._writer = _GroupCommitter(_connect(self.path), self._after_batch)

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        policy: BanditPolicy,
        *,
        snapshot_every: int = 1000,
        info: Mapping[str, Any] | None = None,
    ) -> DurableBandit:
        """Start a new database for ``policy`` (fitted or not; it is fitted cold if not).

        ``info`` is any JSON object kept with the database (a campaign's configuration) and
        read back as :attr:`info` after :meth:`open`.
        """
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: already exists; use DurableBandit.open to resume it")
        if not hasattr(policy, "arm_ids_"):
            policy.fit()
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, policy, snapshot_every=snapshot_every)
        store.info = dict(info or {})
        conn = store._conn
        with _Transaction(conn):
            conn.execute(
                "INSERT INTO meta VALUES ('policy', ?), ('params', ?), ('arms', ?), ('info', ?)",
                (
                    policy.name,
                    json.dumps({k: v for k, v in policy.get_params().items() if k != "arms"}),
                    json.dumps(list(policy.arm_ids_)),
                    json.dumps(store.info),
                ),
            )
            conn.execute(*store._snapshot_sql(0))
        store._start()
        return store

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, snapshot_every: int = 1000) -> DurableBandit:
        """Reopen a database: rebuild the policy from its last snapshot and the log after it."""
        path = Path(path)
        if not path.is_file():
            raise StoreError(f"{path}: no bandit database here; create one first")
        conn = _connect(path)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path}: not a bandit database: {exc}") from None
        finally:
            conn.close()
        if "policy" not in meta:
            raise StoreError(f"{path}: not a bandit database (no policy recorded)")
        params: dict[str, Any] = json.loads(meta["params"])
        arms: list[str] = json.loads(meta["arms"])
        store = cls(path, _placeholder(meta["policy"], params, arms), snapshot_every=snapshot_every)
        store.info = json.loads(meta.get("info", "{}"))
        store._recover(meta["policy"], params, arms)
        store._start()
        return store

    def _recover(self, name: str, params: dict[str, Any], arms: list[str]) -> None:
        conn = self._conn
        row = conn.execute(
            "SELECT feedback_seq, arms, state FROM snapshots ORDER BY feedback_seq DESC LIMIT 1"
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no snapshot recorded; the database is incomplete")
        seq, snap_arms, blob = int(row[0]), json.loads(row[1]), bytes(row[2])
        policy = get_policy(name, arms=snap_arms, **params).fit()
        policy.load_state_bytes(blob)
        extra = [a for a in arms if a not in set(snap_arms)]
        if extra:
            policy.add_arms(extra)
        replay = conn.execute(
            "SELECT f.seq, d.actions, d.context, f.rewards FROM feedback f "
            "JOIN decisions d ON d.decision_id = f.decision_id WHERE f.seq > ? ORDER BY f.seq",
            (seq,),
        )
        last = seq
        n = 0
        for fseq, actions, context, rewards in replay:
            ctx = None if context is None else json.loads(context)
            policy.observe(json.loads(actions), json.loads(rewards), ctx, where="log")
            last = int(fseq)
            n += 1
        self.policy = policy
        self._last_seq = last
        self._since_snapshot = n
        self._n_decisions = int(conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
        self._n_feedback = int(conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
        # Raw totals over the whole log in one pass inside SQLite (JSON1).
        for arm, pulls, reward in conn.execute(
            "SELECT a.value, COUNT(*), TOTAL(json_extract(f.rewards, '$[' || a.key || ']')) "
            "FROM feedback f JOIN decisions d ON d.decision_id = f.decision_id, "
            "json_each(d.actions) a GROUP BY a.value"
        ):
            self._pulls[str(arm)] = int(pulls)
            self._rewards[str(arm)] = float(reward)

    def _write(self) -> _GroupCommitter:
        if self._writer is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._writer

    # ------------------------------------------------------------------ serving
    def select(self, context: object = None, k: int = 1) -> Decision:
        """Choose a slate and log the decision durably before returning it.

        See :meth:`~reclift.models.bandits.base.BanditPolicy.select`.
        """
        writer = self._write()
        codes, props, x = self.policy.decide(context, k)
        arm_ids = self.policy.arm_ids_
        actions = [arm_ids[int(c)] for c in codes]
        ctx = None if x is None else [float(v) for v in x]
        decision = Decision(
            # Time-ordered ids (16 hex of nanoseconds, 16 random) append to the id index
            # instead of dirtying a random page of it per insert: fewer pages per commit.
            # 64 random bits keep them unguessable, which lets feedback stay unauthenticated.
            decision_id=f"{time.time_ns():016x}{secrets.token_hex(8)}",
            actions=tuple(actions),
            propensities=tuple(float(p) for p in props),
            context=None if ctx is None else tuple(ctx),
        )
        job = _Job(
            _DECISION,
            (
                decision.decision_id,
                time.time(),
                json.dumps(actions),
                json.dumps(list(decision.propensities)),
                None if ctx is None else json.dumps(ctx),
            ),
        )
        with self._lock:
            # Cached before the commit so that feedback can follow at once; it is checked
            # against the decision's commit in update() and in the writer.
            awaiting = self._awaiting
            awaiting[decision.decision_id] = _Awaiting(actions, ctx, job)
            if len(awaiting) > self.cache_size:
                awaiting.popitem(last=False)
            writer.submit(job)
        if self.sync_decisions:
            try:
                job.wait()
            except BaseException:
                with self._lock:
                    self._awaiting.pop(decision.decision_id, None)
                raise
        return decision

    def update(self, decision_id: str, reward: object) -> FeedbackResult:
        """Record the reward of a logged decision durably, then learn it.

        Parameters
        ----------
        decision_id
            Id of a decision returned by :meth:`select` (before or after a restart).
        reward
            A number (slate of one) or one number per position.

        Returns
        -------
        FeedbackResult
            ``applied=False`` when the same feedback was already recorded.

        Raises
        ------
        UnknownDecisionError
            No such decision in the log.
        DuplicateFeedbackError
            The decision already has a different reward.
        RewardError
            Reward of the wrong length, not finite or outside the reward range.
        """
        if not isinstance(decision_id, str):
            raise UnknownDecisionError(f"decision id must be a string, got {decision_id!r}")
        writer = self._write()
        pending: _Job | None = None
        with self._lock:
            inflight = self._inflight.get(decision_id)
            cached = self._awaiting.get(decision_id)
            previous: F64 | None = None
            if inflight is not None:
                actions, ctx = inflight.actions, None
                previous, pending = inflight.rewards, inflight.job
            elif cached is not None:
                # Waiting for feedback and none submitted since: no database read needed.
                if cached.job.done and cached.job.error is not None:
                    raise StoreError(
                        f"decision {decision_id!r} was never logged ({cached.job.error}); "
                        "its feedback cannot be recorded"
                    )
                actions, ctx = cached.actions, cached.context
            else:
                actions, ctx, previous = self._read_decision(decision_id)
            rewards = check_reward(
                reward, len(actions), self.policy._range(), f"decision {decision_id!r}"
            )
            if previous is not None:
                if not np.allclose(previous, rewards, rtol=0, atol=1e-12):
                    raise DuplicateFeedbackError(
                        f"decision {decision_id!r} already has reward {previous.tolist()}; "
                        f"refusing a different reward {rewards.tolist()}"
                    )
            else:

                def apply() -> None:
                    # Runs in the writer thread right after the commit, in log order.
                    self.policy.observe(actions, rewards, ctx, where="feedback")
                    with self._totals_lock:
                        for arm, r in zip(actions, rewards.tolist(), strict=True):
                            self._pulls[arm] = self._pulls.get(arm, 0) + 1
                            self._rewards[arm] = self._rewards.get(arm, 0.0) + r

                job = writer.submit(
                    _Job(
                        _FEEDBACK,
                        (decision_id, time.time(), json.dumps(rewards.tolist())),
                        after=apply,
                        decision=None if cached is None else cached.job,
                    )
                )
                self._awaiting.pop(decision_id, None)
                self._inflight[decision_id] = _Inflight(actions, rewards, job)
        if previous is not None:
            # A retry: acknowledge once the first copy is durable.
            if pending is not None:
                pending.wait()
            return FeedbackResult(decision_id, applied=False)
        try:
            job.wait()
        finally:
            with self._lock:
                self._inflight.pop(decision_id, None)
        return FeedbackResult(decision_id, applied=True)

    def _read_decision(self, decision_id: str) -> tuple[list[str], list[float] | None, F64 | None]:
        # Caller holds self._lock (the reading connection is not shared between threads).
        conn = self._conn
        row = conn.execute(
            "SELECT actions, context FROM decisions WHERE decision_id = ?", (decision_id,)
        ).fetchone()
        if row is None:
            raise UnknownDecisionError(f"unknown decision id {decision_id!r}")
        got = conn.execute(
            "SELECT rewards FROM feedback WHERE decision_id = ?", (decision_id,)
        ).fetchone()
        previous = None if got is None else np.asarray(json.loads(got[0]), np.float64)
        ctx = None if row[1] is None else json.loads(row[1])
        return json.loads(row[0]), ctx, previous

    def _after_batch(self, n_decisions: int, n_feedback: int, last_seq: int, force: bool) -> None:
        # Writer thread, after the batch's callbacks: the policy holds exactly the log up to
        # last_seq, so a snapshot taken here is consistent with its sequence number.
        self._n_decisions += n_decisions
        if n_feedback:
            self._n_feedback += n_feedback
            self._last_seq = last_seq
            self._since_snapshot += n_feedback
        if (force or self._since_snapshot >= self.snapshot_every) and self._writer is not None:
            conn = self._writer.conn
            with _Transaction(conn):
                conn.execute(*self._snapshot_sql(self._last_seq))

    def add_arms(self, arms: Sequence[str]) -> None:
        """Add cold-start arms (recorded durably).

        Raises
        ------
        InvalidParameterError
            An arm id that is empty, repeated or already known.
        """
        with self._lock:
            self.policy.add_arms(arms)
            self._write().submit(
                _Job(
                    _SQL,
                    (json.dumps(list(self.policy.arm_ids_)),),
                    "UPDATE meta SET value = ? WHERE key = 'arms'",
                )
            ).wait()

    def snapshot(self) -> None:
        """Write a snapshot of the current state now (after the writes queued before)."""
        self._write().submit(_Job(_SNAPSHOT, ())).wait()

    def _snapshot_sql(self, seq: int) -> tuple[str, tuple[Any, ...]]:
        with self.policy._lock:
            blob = self.policy.state_bytes()
            arms = json.dumps(list(self.policy.arm_ids_))
        self._since_snapshot = 0
        return "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)", (
            seq,
            time.time(),
            arms,
            blob,
        )

    def arm_totals(self) -> ArmTotals:
        """Raw pulls and reward sums per arm over all recorded feedback (every known arm)."""
        arms = list(self.policy.arm_ids_)
        with self._totals_lock:
            return ArmTotals(
                pulls={a: self._pulls.get(a, 0) for a in arms},
                rewards={a: self._rewards.get(a, 0.0) for a in arms},
            )

    @property
    def n_decisions(self) -> int:
        """Decisions in the log."""
        return self._n_decisions

    @property
    def n_feedback(self) -> int:
        """Feedbacks in the log (each learned exactly once)."""
        return self._n_feedback

    def stats(self) -> dict[str, Any]:
        """Counts of decisions, feedback and (for count policies) per-arm statistics."""
        state = {k: v.tolist() for k, v in self.policy.get_state().items() if v.ndim == 1}
        totals = self.arm_totals()
        return {
            "policy": self.policy.name,
            "arms": list(self.policy.arm_ids_),
            "decisions": self._n_decisions,
            "feedback": self._n_feedback,
            "pulls": totals.pulls,
            "rewards": totals.rewards,
            "state": state,
        }

    def export_log(self) -> pa.Table:
        """Every decision with feedback as a canonical ``banner_log`` table.

        One row per shown arm: ``ts`` (decision time), ``banner_id``, ``position`` (1-based),
        ``propensity``, ``reward`` and ``context`` (JSON ``{"x": [...]}`` for contextual
        policies). Decisions still waiting for feedback are left out. The result feeds
        :func:`reclift.evaluation.ope.feedback_from_banner_log` directly.
        """
        from reclift.schema.tables import TABLES

        with self._lock:
            rows = self._conn.execute(
                "SELECT d.ts, d.actions, d.propensities, d.context, f.rewards FROM decisions d "
                "JOIN feedback f ON f.decision_id = d.decision_id ORDER BY d.seq"
            ).fetchall()
        cols: dict[str, list[Any]] = {
            k: [] for k in ("ts", "banner_id", "position", "propensity", "reward", "context")
        }
        for ts, actions, props, context, rewards in rows:
            ctx = None if context is None else json.dumps({"x": json.loads(context)})
            for j, (arm, p, r) in enumerate(
                zip(json.loads(actions), json.loads(props), json.loads(rewards), strict=True)
            ):
                cols["ts"].append(int(float(ts) * 1_000_000))
                cols["banner_id"].append(arm)
                cols["position"].append(j + 1)
                cols["propensity"].append(float(p))
                cols["reward"].append(float(r))
                cols["context"].append(ctx)
        schema = TABLES["banner_log"].schema
        arrays = {
            "ts": pa.array(cols["ts"], pa.int64()).cast(schema.field("ts").type),
            "user_id": pa.nulls(len(cols["ts"]), schema.field("user_id").type),
            "banner_id": pa.array(cols["banner_id"], schema.field("banner_id").type),
            "position": pa.array(cols["position"], schema.field("position").type),
            "propensity": pa.array(cols["propensity"], schema.field("propensity").type),
            "reward": pa.array(cols["reward"], schema.field("reward").type),
            "context": pa.array(cols["context"], schema.field("context").type),
        }
        return pa.table(arrays, schema=schema)

    def close(self) -> None:
        """Stop the writer and close the database (everything acknowledged is durable)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            writer.conn.close()
        with self._lock:
            self._conn.close()

    def __enter__(self) -> DurableBandit:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _placeholder(name: str, params: dict[str, Any], arms: list[str]) -> BanditPolicy:
    return get_policy(name, arms=arms, **params).fit()


def _connect(path: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot switch the database to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open the bandit database: {exc}") from None
    return conn


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on error); commit fsyncs the WAL."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
