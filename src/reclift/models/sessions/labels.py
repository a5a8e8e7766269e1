"""OTTO's labelling: cut sessions at a random point and label what follows.

Used to build training examples (the ranker) and test sets (evaluation, which re-exports it
from :mod:`reclift.evaluation.sessions`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from reclift.errors import SchemaError

#: session id -> target ("clicks"/"carts"/"orders") -> items (clicks holds at most one).
Labels = dict[str, dict[str, list[str]]]


def capped_recall(
    predictions: dict[str, dict[str, list[str]]], labels: Labels, k: int
) -> dict[str, float]:
    """Recall@k per target with OTTO's ``min(k, |truth|)`` denominator (see the metric)."""
    hits: dict[str, int] = {}
    denom: dict[str, int] = {}
    for session, by_target in labels.items():
        for target, truth in by_target.items():
            if not truth:
                continue
            top = set(predictions.get(session, {}).get(target, [])[:k])
            hits[target] = hits.get(target, 0) + len(top & set(truth))
            denom[target] = denom.get(target, 0) + min(k, len(set(truth)))
    return {t: hits[t] / denom[t] for t in denom}


def truncate_sessions(
    events: pa.Table,
    *,
    seed: int = 0,
    session_col: str = "session_id",
) -> tuple[pa.Table, Labels]:
    """Cut every session at a random point and label what follows (OTTO's test protocol).

    A session of ``n >= 2`` events (in time order; ties keep their input order) is cut after
    ``c`` events with ``c`` uniform in ``1..n-1``: events ``0..c-1`` are the input, events
    ``c..n-1`` give the labels. Sessions with one event cannot be cut and are kept whole,
    unlabelled. Targets whose truth is empty are omitted from a session's labels.

    Parameters
    ----------
    events
        Canonical events (``session_col``, ``item_id``, ``event_type``, ``ts``), shape
        ``(n_events, n_columns)``.
    seed
        Seed of the cut points (same seed, same cuts).
    session_col
        Column identifying a session.

    Returns
    -------
    history : pa.Table
        The kept prefix of each session, shape ``(n_kept, n_columns)``, sorted by session
        then time.
    labels : dict
        session id -> ``{"clicks": [next clicked item], "carts": [...], "orders": [...]}``.
    """
    for name in (session_col, "item_id", "event_type", "ts"):
        if name not in events.column_names:
            raise SchemaError(f"events: missing column {name!r}; it has {events.column_names}")
    idx = pa.array(np.arange(events.num_rows, dtype=np.int64))
    ordered = events.append_column("_row", idx).sort_by(
        [(session_col, "ascending"), ("ts", "ascending"), ("_row", "ascending")]
    )
    sessions = np.asarray(ordered.column(session_col).cast(pa.string()).to_pylist(), dtype=object)
    n = sessions.size
    starts = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1]]) if n else np.array([])
    ends = np.r_[starts[1:], n].astype(np.int64) if n else np.array([], dtype=np.int64)
    rng = np.random.default_rng(seed)
    lengths = ends - starts
    # One draw per session (even uncuttable ones) so cuts do not shift when a session changes.
    u = rng.random(lengths.size)
    cuts = np.where(lengths >= 2, 1 + np.floor(u * (lengths - 1)).astype(np.int64), lengths)
    keep = np.zeros(n, dtype=bool)
    items = ordered.column("item_id").cast(pa.string()).to_pylist()
    types = ordered.column("event_type").cast(pa.string()).to_pylist()
    labels: Labels = {}
    for s, e, c in zip(starts.tolist(), ends.tolist(), cuts.tolist(), strict=True):
        keep[s : s + c] = True
        if c >= e - s:
            continue
        truth = labels_after(items[s + c : e], types[s + c : e])
        if truth:
            labels[str(sessions[s])] = truth
    history = ordered.filter(pa.array(keep)).drop_columns(["_row"])
    return history, labels


def labels_after(items: Sequence[str], types: Sequence[str]) -> dict[str, list[str]]:
    """OTTO labels of the events that follow a cut (in time order).

    Parameters
    ----------
    items, types
        Item ids and canonical event types of the events after the cut, length ``m`` each.

    Returns
    -------
    dict
        ``clicks``: the first clicked item; ``carts``/``orders``: distinct carted/ordered
        items in order of first occurrence; empty targets are omitted.
    """
    truth: dict[str, list[str]] = {}
    for item, kind in zip(items, types, strict=True):
        if kind == "click" and "clicks" not in truth:
            truth["clicks"] = [item]
        elif kind in ("cart", "order"):
            bucket = truth.setdefault(kind + "s", [])
            if item not in bucket:
                bucket.append(item)
    return truth
