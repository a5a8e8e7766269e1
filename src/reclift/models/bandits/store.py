"""Durable online learning: a bandit policy behind a write-ahead log in SQLite.

:class:`DurableBandit` wraps a policy. Every decision and every feedback is written to a
SQLite database in WAL mode with ``synchronous=FULL`` (the WAL is fsynced at each commit)
*before* the call returns, so whatever a caller was told has been recorded survives a crash
or a ``SIGKILL``. After a restart the policy state is rebuilt from the latest snapshot plus
the feedback logged after it, in log order (policy updates are deterministic, so the rebuilt
state equals the state before the crash).

Feedback is idempotent by decision id: repeating the same reward is acknowledged without
learning it twice; a different reward for a decided id is refused
(:class:`~reclift.models.bandits.base.DuplicateFeedbackError`). The object may be shared by
many threads (one process owns a database file): a single writer thread commits the writes
waiting at the same moment in one transaction (group commit, one fsync per batch), and every
caller returns only after its own write is committed.

Tables: ``meta`` (policy name and parameters, arm ids), ``decisions`` (id, slate,
propensities, context), ``feedback`` (log sequence number, decision id, rewards) and
``snapshots`` (state ``.npz`` bytes and the feedback sequence number they include).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
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

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    decision_id TEXT NOT NULL UNIQUE,
    ts REAL NOT NULL,
    actions TEXT NOT NULL,
    propensities TEXT NOT NULL,
    context TEXT
);
CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
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


class _Job:
    """One write waiting for the group commit."""

    __slots__ = ("after", "error", "event", "params", "rowid", "sql")

    def __init__(
        self, sql: str, params: tuple[Any, ...], after: Callable[[_Job], None] | None
    ) -> None:
        self.sql = sql
        self.params = params
        self.after = after
        self.event = threading.Event()
        self.error: BaseException | None = None
        self.rowid = 0


class _GroupCommitter:
    """The only writer of a database: commits queued writes in batches (one fsync each).

    Callers block until their write is committed; writes waiting at the same time share one
    transaction, which is what makes many concurrent durable updates per second possible
    on a disk whose fsync takes milliseconds. ``after`` callbacks run in commit order right
    after the commit, so in-memory state is updated in log order.
    """

    def __init__(self, conn: sqlite3.Connection, on_batch: Callable[[], None]) -> None:
        self.conn = conn
        self.on_batch = on_batch
        self.queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="bandit-wal-writer", daemon=True)
        self.thread.start()

    def submit(
        self, sql: str, params: tuple[Any, ...], after: Callable[[_Job], None] | None = None
    ) -> _Job:
        job = _Job(sql, params, after)
        self.queue.put(job)
        return job

    def write(self, sql: str, params: tuple[Any, ...]) -> _Job:
        """Submit and wait; re-raise the commit's error."""
        job = self.submit(sql, params)
        job.event.wait()
        if job.error is not None:
            raise job.error
        return job

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self.queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < 1024:
                try:
                    job = self.queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                for job in batch:
                    job.rowid = int(self.conn.execute(job.sql, job.params).lastrowid or 0)
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
                            job.after(job)
                        except BaseException as exc:
                            job.error = exc
                # A failed snapshot is retried after the next batch; the log is intact.
                with contextlib.suppress(Exception):
                    self.on_batch()
            for job in batch:
                job.event.set()


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
    """

    def __init__(self, path: Path, policy: BanditPolicy, *, snapshot_every: int = 1000) -> None:
        self.path = Path(path)
        self.policy = policy
        self.snapshot_every = snapshot_every
        self._lock = threading.Lock()
        self._conn = _connect(self.path)
        self._since_snapshot = 0
        self._last_seq = 0
        self._inflight: dict[str, tuple[F64, _Job]] = {}
        self._writer: _GroupCommitter | None = None

    def _start(self) -> None:
        # A second connection for the writer thread: readers never see a half-written batch.
        self._writer = _GroupCommitter(_connect(self.path), self._maybe_snapshot)

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(
        cls, path: str | os.PathLike[str], policy: BanditPolicy, *, snapshot_every: int = 1000
    ) -> DurableBandit:
        """Start a new database for ``policy`` (fitted or not; it is fitted cold if not)."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: already exists; use DurableBandit.open to resume it")
        if not hasattr(policy, "arm_ids_"):
            policy.fit()
        path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(path, policy, snapshot_every=snapshot_every)
        conn = store._conn
        with _Transaction(conn):
            conn.execute(
                "INSERT INTO meta VALUES ('policy', ?), ('params', ?), ('arms', ?)",
                (
                    policy.name,
                    json.dumps({k: v for k, v in policy.get_params().items() if k != "arms"}),
                    json.dumps(list(policy.arm_ids_)),
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

    def _write(self) -> _GroupCommitter:
        if self._writer is None:
            raise StoreError(f"{self.path}: the store is closed")
        return self._writer

    # ------------------------------------------------------------------ serving
    def select(self, context: object = None, k: int = 1) -> Decision:
        """Choose a slate and log the decision durably before returning it.

        See :meth:`~reclift.models.bandits.base.BanditPolicy.select`.
        """
        codes, props, x = self.policy.decide(context, k)
        decision = self.policy.make_decision(codes, props, x)
        ctx = None if decision.context is None else json.dumps(list(decision.context))
        self._write().write(
            "INSERT INTO decisions (decision_id, ts, actions, propensities, context) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                decision.decision_id,
                time.time(),
                json.dumps(list(decision.actions)),
                json.dumps(list(decision.propensities)),
                ctx,
            ),
        )
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
        with self._lock:
            conn = self._conn
            row = conn.execute(
                "SELECT actions, context FROM decisions WHERE decision_id = ?", (decision_id,)
            ).fetchone()
            if row is None:
                raise UnknownDecisionError(f"unknown decision id {decision_id!r}")
            actions: list[str] = json.loads(row[0])
            rewards = check_reward(
                reward, len(actions), self.policy._range(), f"decision {decision_id!r}"
            )
            inflight = self._inflight.get(decision_id)
            if inflight is not None:
                previous: F64 | None = inflight[0]
                pending: _Job | None = inflight[1]
            else:
                got = conn.execute(
                    "SELECT rewards FROM feedback WHERE decision_id = ?", (decision_id,)
                ).fetchone()
                previous = None if got is None else np.asarray(json.loads(got[0]), np.float64)
                pending = None
            if previous is not None:
                if not np.allclose(previous, rewards, rtol=0, atol=1e-12):
                    raise DuplicateFeedbackError(
                        f"decision {decision_id!r} already has reward {previous.tolist()}; "
                        f"refusing a different reward {rewards.tolist()}"
                    )
            else:
                ctx = None if row[1] is None else json.loads(row[1])

                def apply(job: _Job) -> None:
                    # Runs in the writer thread right after the commit, in log order.
                    self.policy.observe(actions, rewards, ctx, where="feedback")
                    self._last_seq = job.rowid
                    self._since_snapshot += 1

                job = writer.submit(
                    "INSERT INTO feedback (decision_id, ts, rewards) VALUES (?, ?, ?)",
                    (decision_id, time.time(), json.dumps(rewards.tolist())),
                    apply,
                )
                self._inflight[decision_id] = (rewards, job)
        if previous is not None:
            # A retry: acknowledge once the first copy is durable.
            if pending is not None:
                pending.event.wait()
                if pending.error is not None:
                    raise pending.error
            return FeedbackResult(decision_id, applied=False)
        job.event.wait()
        with self._lock:
            self._inflight.pop(decision_id, None)
        if job.error is not None:
            raise job.error
        return FeedbackResult(decision_id, applied=True)

    def _maybe_snapshot(self) -> None:
        # Writer thread, between batches: the policy holds exactly the log up to _last_seq.
        if self._since_snapshot >= self.snapshot_every and self._writer is not None:
            conn = self._writer.conn
            with _Transaction(conn):
                conn.execute(*self._snapshot_sql(self._last_seq))

    def add_arms(self, arms: Sequence[str]) -> None:
        """Add cold-start arms (recorded durably)."""
        with self._lock:
            self.policy.add_arms(arms)
            self._write().write(
                "UPDATE meta SET value = ? WHERE key = 'arms'",
                (json.dumps(list(self.policy.arm_ids_)),),
            )

    def snapshot(self) -> None:
        """Write a snapshot of the current state now (waits for in-flight writes first)."""
        writer = self._write()
        done = writer.submit("SELECT 1", ())
        done.event.wait()
        sql, params = self._snapshot_sql(self._last_seq)
        writer.write(sql, params)

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

    def stats(self) -> dict[str, Any]:
        """Counts of decisions, feedback and (for count policies) per-arm statistics."""
        with self._lock:
            n_dec = self._conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
            n_fb = self._conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
        state = {k: v.tolist() for k, v in self.policy.get_state().items() if v.ndim == 1}
        return {
            "policy": self.policy.name,
            "arms": list(self.policy.arm_ids_),
            "decisions": int(n_dec),
            "feedback": int(n_fb),
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
