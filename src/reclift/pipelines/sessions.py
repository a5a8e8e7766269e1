"""Sessionisation: re-cut each visitor's events into sessions at inactivity gaps.

A visitor (the *actor*) is the ``user_id`` when known, else the shop's ``session_id`` (an
anonymous visit cannot be linked to anything else). Within an actor, events are put in a total
order (:func:`reclift.pipelines._common.event_order_keys`); a new session starts at the first
event and whenever the time since the previous event is strictly greater than ``gap``.
"""

from __future__ import annotations

from datetime import timedelta

import ibis
import ibis.expr.types as ir

from reclift.pipelines._common import PipelineError, event_order_keys, require_columns
from reclift.schema.tables import EVENT_TYPES

DEFAULT_GAP = timedelta(minutes=30)
EVENT_COLUMNS = ("user_id", "session_id", "item_id", "event_type", "ts")


def _gap_micros(gap: timedelta) -> int:
    if not isinstance(gap, timedelta):
        raise PipelineError(f"session gap must be a timedelta, got {type(gap).__name__}")
    micros = gap // timedelta(microseconds=1)
    if micros <= 0:
        raise PipelineError(f"session gap must be positive, got {gap}")
    return micros


def sessionize(events: ir.Table, gap: timedelta = DEFAULT_GAP) -> ir.Table:
    """Assign every event to a session cut at inactivity gaps.

    Parameters
    ----------
    events
        Canonical events (at least user_id, session_id, item_id, event_type, ts), shape
        ``(n_events, n_columns)``.
    gap
        Inactivity that ends a session: a gap strictly longer than this starts a new one
        (with the default 30 minutes, 29 minutes apart is one session, 31 minutes two,
        exactly 30 one).

    Returns
    -------
    ibis.Table
        The events with two more columns, shape ``(n_events, n_columns + 2)``, ordered by
        ``session_key``, ``event_index``:

        - ``session_key`` (string): ``"u:<user_id>#<n>"`` or, without a user,
          ``"s:<session_id>#<n>"``, where ``n`` counts the actor's sessions from 1 in time
          order. Deterministic, so every engine produces the same keys.
        - ``event_index`` (int64): position of the event in its session, from 0.

    Raises
    ------
    PipelineError
        When a column is missing or ``gap`` is not a positive timedelta.
    """
    require_columns(events, EVENT_COLUMNS, "events")
    gap_us = _gap_micros(gap)

    actor = ibis.coalesce("u:" + events.user_id, "s:" + events.session_id)
    with_actor = events.mutate(_actor=actor)
    order = event_order_keys(with_actor)
    by_actor = ibis.window(group_by=with_actor._actor, order_by=order)
    with_prev = with_actor.mutate(_prev_ts=with_actor.ts.lag().over(by_actor))
    # Microseconds between events, an exact integer on both engines (no interval literals:
    # the Spark backend sees UTC timestamps as naive, DuckDB as zoned).
    elapsed = with_prev.ts.delta(with_prev._prev_ts, unit="microsecond")
    starts = with_prev.mutate(
        _new=ibis.ifelse(with_prev._prev_ts.isnull() | (elapsed > gap_us), 1, 0).cast("int64")
    )
    running = ibis.cumulative_window(group_by=starts._actor, order_by=event_order_keys(starts))
    numbered = starts.mutate(_n=starts._new.sum().over(running))
    keyed = numbered.mutate(session_key=numbered._actor + "#" + numbered._n.cast("string"))
    in_session = ibis.window(group_by=keyed.session_key, order_by=event_order_keys(keyed))
    result = keyed.mutate(event_index=ibis.row_number().over(in_session).cast("int64"))
    result = result.drop("_actor", "_prev_ts", "_new", "_n")
    return result.order_by([result.session_key, result.event_index])


def session_summary(sessions: ir.Table) -> ir.Table:
    """One row per session of :func:`sessionize`'s output.

    Parameters
    ----------
    sessions
        Output of :func:`sessionize`, shape ``(n_events, n_columns)``.

    Returns
    -------
    ibis.Table
        Shape ``(n_sessions, 10 + len(EVENT_TYPES))``, ordered by ``session_key``:
        ``session_key``, ``user_id`` (null for anonymous sessions), ``session_id`` (the
        shop's id of the first event), ``start``, ``end`` (timestamps), ``duration_s``
        (float64, end - start in seconds, exact to the microsecond), ``n_events``,
        ``n_<type>`` for view, click, cart and order, ``n_items`` (distinct items),
        ``n_source_sessions`` (distinct shop session ids merged into this session).
    """
    require_columns(sessions, (*EVENT_COLUMNS, "session_key", "event_index"), "sessions")
    first = sessions.filter(sessions.event_index == 0).select(
        "session_key", _first_session_id=sessions.session_id
    )
    counts = {
        f"n_{name}": sessions.count(where=sessions.event_type == name) for name in EVENT_TYPES
    }
    summary = sessions.group_by("session_key").aggregate(
        user_id=sessions.user_id.max(),
        start=sessions.ts.min(),
        end=sessions.ts.max(),
        n_events=sessions.count(),
        **counts,
        n_items=sessions.item_id.nunique(),
        n_source_sessions=sessions.session_id.nunique(),
    )
    joined = summary.join(first, "session_key")
    duration = joined.end.delta(joined.start, unit="microsecond").cast("float64") / 1_000_000
    result = joined.select(
        "session_key",
        "user_id",
        session_id=joined._first_session_id,
        start=joined.start,
        end=joined.end,
        duration_s=duration,
        n_events=joined.n_events,
        **{name: joined[name] for name in counts},
        n_items=joined.n_items,
        n_source_sessions=joined.n_source_sessions,
    )
    return result.order_by("session_key")
