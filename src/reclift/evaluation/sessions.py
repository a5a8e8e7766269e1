"""Session recommendation metrics: the OTTO weighted Recall@20, its labelling, HR@K and MRR@K.

The OTTO metric (``../shared/data/otto_recsys/KAGGLE.md``), exactly:

- predictions of each (session, type) are **truncated after the first 20** (duplicates inside
  those 20 count once);
- ``R_type = sum_i |pred_i,type ∩ truth_i,type| / sum_i min(20, |truth_i,type|)`` over the
  sessions whose truth for that type is non-empty (a missing prediction scores 0 hits);
- ``score = 0.10 R_clicks + 0.30 R_carts + 0.60 R_orders``.

Labels come from cutting each session at a point drawn uniformly among its events
(:func:`truncate_sessions`): ``clicks`` is the *next* clicked item after the cut, ``carts``
and ``orders`` are the sets of items carted / ordered after the cut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.errors import ReclifError
from reclift.models.sessions.labels import Labels, labels_after, truncate_sessions

__all__ = [
    "OTTO_K",
    "OTTO_TYPES",
    "OTTO_WEIGHTS",
    "TARGET_EVENT",
    "Labels",
    "MetricError",
    "OttoScore",
    "hit_rate_mrr",
    "labels_after",
    "next_item_targets",
    "otto_score",
    "read_submission",
    "recall_at_k",
    "split_by_time",
    "truncate_sessions",
]

#: Prediction targets in OTTO's vocabulary (plural) and the canonical event type of each.
OTTO_TYPES: tuple[str, ...] = ("clicks", "carts", "orders")
TARGET_EVENT: Mapping[str, str] = {"clicks": "click", "carts": "cart", "orders": "order"}
OTTO_WEIGHTS: Mapping[str, float] = {"clicks": 0.10, "carts": 0.30, "orders": 0.60}
OTTO_K = 20

Predictions = Mapping[str, Mapping[str, Sequence[str]]]


class MetricError(ReclifError):
    """A metric called with inputs it cannot score (bad k, shapes, unknown target)."""


@dataclass(frozen=True)
class OttoScore:
    """Result of :func:`otto_score`.

    Attributes
    ----------
    score
        Weighted recall over the targets that have at least one labelled session (weights
        of the others are dropped, the rest not renormalised: that is the OTTO definition
        when all three exist).
    recall
        Recall@k per target.
    hits, denominators
        Numerator and denominator of each recall (for pooling and hand checks).
    sessions
        Labelled sessions per target.
    """

    score: float
    recall: dict[str, float]
    hits: dict[str, int]
    denominators: dict[str, int]
    sessions: dict[str, int] = field(default_factory=dict)


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MetricError(f"k must be a positive integer, got {k!r}")
    return int(k)


def otto_score(
    predictions: Predictions,
    labels: Mapping[str, Mapping[str, Sequence[str]]],
    *,
    k: int = OTTO_K,
    weights: Mapping[str, float] = OTTO_WEIGHTS,
) -> OttoScore:
    """OTTO's weighted Recall@k (k = 20 in the competition).

    Parameters
    ----------
    predictions
        session id -> target -> ranked item ids (any length; only the first ``k`` count).
    labels
        session id -> target -> true item ids, as made by :func:`truncate_sessions`.
    k
        Cut-off of predictions and cap of the denominator.
    weights
        Weight per target (default 0.10 / 0.30 / 0.60).

    Returns
    -------
    OttoScore

    Raises
    ------
    MetricError
        For a bad ``k`` or a target without a weight.
    """
    k = _check_k(k)
    hits = dict.fromkeys(weights, 0)
    denom = dict.fromkeys(weights, 0)
    sessions = dict.fromkeys(weights, 0)
    for session, truth_by_type in labels.items():
        pred_by_type = predictions.get(session, {})
        for target, truth in truth_by_type.items():
            if target not in weights:
                raise MetricError(
                    f"labels of session {session!r}: unknown target {target!r}; "
                    f"expected one of {list(weights)}"
                )
            truth_set = set(truth)
            if not truth_set:
                continue
            top = set(list(pred_by_type.get(target, ()))[:k])
            hits[target] += len(top & truth_set)
            denom[target] += min(k, len(truth_set))
            sessions[target] += 1
    recall = {t: hits[t] / denom[t] for t in weights if denom[t]}
    score = float(sum(weights[t] * r for t, r in recall.items()))
    return OttoScore(score, recall, hits, denom, sessions)


def recall_at_k(
    predictions: Predictions,
    labels: Mapping[str, Mapping[str, Sequence[str]]],
    ks: Sequence[int] = (20, 50, 100),
) -> dict[str, dict[int, float]]:
    """Recall@k per target for several ``k`` (OTTO definition, ``min(k, |truth|)`` cap).

    Used for *candidate recall*: pass the full candidate lists as ``predictions`` to see
    the ceiling a ranker over those candidates can reach.

    Returns
    -------
    dict
        target -> k -> recall (targets without labelled sessions are absent).
    """
    out: dict[str, dict[int, float]] = {}
    for k in ks:
        result = otto_score(predictions, labels, k=k)
        for target, value in result.recall.items():
            out.setdefault(target, {})[int(k)] = value
    return out


def next_item_targets(
    events: pa.Table, *, session_col: str = "session_id"
) -> tuple[pa.Table, list[str], list[str]]:
    """Every prefix of every session with the item that follows it (next-item protocol).

    Returns
    -------
    prefixes : pa.Table
        Events re-keyed by prefix: session ``s`` with ``n`` events yields prefixes
        ``"s#1" .. "s#{n-1}"``; prefix ``"s#i"`` holds its first ``i`` events.
    prefix_ids : list of str
        The prefix ids, length ``n_prefixes``.
    targets : list of str
        The next item of each prefix, length ``n_prefixes``.
    """
    idx = pa.array(np.arange(events.num_rows, dtype=np.int64))
    ordered = events.append_column("_row", idx).sort_by(
        [(session_col, "ascending"), ("ts", "ascending"), ("_row", "ascending")]
    )
    sessions = ordered.column(session_col).cast(pa.string()).to_pylist()
    items = ordered.column("item_id").cast(pa.string()).to_pylist()
    take: list[int] = []
    keys: list[str] = []
    prefix_ids: list[str] = []
    targets: list[str] = []
    start = 0
    for i in range(1, len(sessions) + 1):
        if i < len(sessions) and sessions[i] == sessions[start]:
            continue
        for cut in range(1, i - start):
            pid = f"{sessions[start]}#{cut}"
            prefix_ids.append(pid)
            targets.append(items[start + cut])
            take.extend(range(start, start + cut))
            keys.extend([pid] * cut)
        start = i
    out = ordered.take(pa.array(take, type=pa.int64())).drop_columns(["_row"])
    col = out.schema.get_field_index(session_col)
    out = out.set_column(col, session_col, pa.array(keys, type=pa.string()))
    return out, prefix_ids, targets


def hit_rate_mrr(predicted: np.ndarray, truth: Sequence[str], k: int = 20) -> tuple[float, float]:
    """HR@k and MRR@k of next-item predictions.

    Parameters
    ----------
    predicted
        Ranked item ids, shape ``(n, m)`` (``None`` padding allowed); only the first ``k``
        columns count.
    truth
        The true next item of each row, length ``n``.

    Returns
    -------
    (hr, mrr)
        Share of rows whose truth is in the top ``k``; mean of ``1 / rank`` (0 when absent).
    """
    k = _check_k(k)
    pred = np.asarray(predicted, dtype=object)
    if pred.ndim != 2 or pred.shape[0] != len(truth):
        raise MetricError(
            f"predicted must have shape (n, m) with n = len(truth) = {len(truth)}, got {pred.shape}"
        )
    if not len(truth):
        raise MetricError("no rows to score")
    top = pred[:, :k]
    hit = top == np.asarray(truth, dtype=object)[:, None]
    found = hit.any(axis=1)
    rank = np.argmax(hit, axis=1) + 1
    rr = np.where(found, 1.0 / rank, 0.0)
    return float(found.mean()), float(rr.mean())


def read_submission(table: pa.Table) -> dict[str, dict[str, list[str]]]:
    """Parse an OTTO submission table (``session_type``, ``labels``) into predictions."""
    for name in ("session_type", "labels"):
        if name not in table.column_names:
            raise MetricError(f"submission: missing column {name!r}")
    out: dict[str, dict[str, list[str]]] = {}
    keys = table.column("session_type").cast(pa.string()).to_pylist()
    vals = pc.fill_null(table.column("labels").cast(pa.string()), "").to_pylist()
    for row, (key, val) in enumerate(zip(keys, vals, strict=True)):
        session, sep, target = (key or "").rpartition("_")
        if not sep or target not in OTTO_WEIGHTS:
            raise MetricError(
                f"submission row {row}: session_type {key!r} is not <session>_<clicks|carts|orders>"
            )
        out.setdefault(session, {})[target] = val.split()
    return out


def split_by_time(events: pa.Table, test_fraction: float) -> tuple[pa.Table, pa.Table]:
    """OTTO-style time split: training events before the cut, test sessions after it.

    Parameters
    ----------
    events
        Events with ``session_id`` and ``ts``, shape ``(n_events, n_columns)``.
    test_fraction
        Share of the time span, at its end, whose sessions are test sessions.

    Returns
    -------
    train, test
        ``test`` holds every event of the sessions whose first event is at or after the cut;
        ``train`` the other events strictly before the cut (sessions straddling the cut are
        trimmed, as OTTO trimmed its training set).
    """
    if not 0 < test_fraction < 1:
        raise MetricError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    ts = events.column("ts")
    t0, t1 = pc.min(ts).value, pc.max(ts).value
    cut = pa.scalar(int(t0 + (1 - test_fraction) * (t1 - t0)), type=ts.type)
    firsts = events.group_by("session_id").aggregate([("ts", "min")])
    late = firsts.filter(pc.greater_equal(firsts.column("ts_min"), cut)).column("session_id")
    in_test = pc.is_in(events.column("session_id"), value_set=late.combine_chunks())
    train = events.filter(pc.and_(pc.invert(in_test), pc.less(ts, cut)))
    return train, events.filter(in_test)
