"""Co-visitation matrices: which items a session touches together, kept as top-K neighbours.

Three matrices, each a long table ``(item_a, item_b, score, rank)`` holding for every
``item_a`` its best ``top_k`` neighbours ``item_b`` (``rank`` 1 = best, ties broken by
``item_b`` ascending, so DuckDB and Spark return identical rows):

``clicks`` (time-weighted)
    Pairs of different items in the last ``tail`` events of a session, at most ``window``
    apart. A pair counts once per session; its weight grows linearly with the time of the
    later ``item_a`` event from 1 (start of the log) to 4 (end), so recent co-visits count
    more.
``carts_orders`` (type-weighted)
    Same pairs, counted once per session and event type of ``item_b``, weighted by that
    type (click 1, cart 6, order 3 by default): "after seeing A, people cart B".
``buy2buy``
    Pairs among cart and order events only, at most ``buy_window`` apart, weight 1 per
    session: "bought together".

All weights are integers (the time weight in thousandths), so sums are exact and both
engines agree bit for bit. Everything is joins and aggregations, so DuckDB runs it out of
core.

Cost: the self-join emits about ``sum(min(len(session), tail) ** 2)`` rows, and everything
after it is paid per pair. So each event is turned into integers once, before the join:
session and item codes (numbered in id order, so ties broken by code are broken by id) and
the time in microseconds since the first event. The join then compares, hashes and
aggregates integers only, and ids come back as strings just for the ``top_k`` rows kept.
Timestamp deltas per pair (``DATE_DIFF`` on DuckDB) had cost more than the join itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType

import ibis
import ibis.expr.types as ir

from reclift.pipelines._common import (
    PipelineError,
    event_type_rank,
    null_safe_keys,
    require_columns,
)
from reclift.pipelines.topk import top_k

MATRICES: tuple[str, ...] = ("clicks", "carts_orders", "buy2buy")
DEFAULT_TYPE_WEIGHTS: Mapping[str, int] = MappingProxyType(
    {"view": 1, "click": 1, "cart": 6, "order": 3}
)
COLUMNS = ("session_id", "item_id", "event_type", "ts")
#: Time weight scale: weights run from 1000 (oldest) to 4000 (newest) thousandths.
TIME_WEIGHT_BASE = 1000
TIME_WEIGHT_SPAN = 3000


def _micros(value: timedelta, what: str) -> int:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise PipelineError(f"{what} must be a positive timedelta, got {value!r}")
    return value // timedelta(microseconds=1)


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise PipelineError(f"{what} must be a positive integer, got {value!r}")
    return value


def session_tail(events: ir.Table, tail: int) -> ir.Table:
    """The last ``tail`` events of each session (total order: time, funnel, item id)."""
    order = [events.ts.desc(), event_type_rank(events.event_type).desc(), events.item_id.desc()]
    window = ibis.window(group_by=events.session_id, order_by=order)
    ranked = events.mutate(_pos=ibis.row_number().over(window))
    return ranked.filter(ranked._pos < tail).drop("_pos")


def _codes(values: ir.Table, column: str) -> ir.Table:
    """Distinct ``column`` values numbered ``code`` 0.. in ascending order.

    The numbering follows the value order, so ties broken by code are broken by id exactly
    as by the id itself; integers hash, compare and sort far faster than strings in the
    self-join and its aggregations.
    """
    distinct = values.select(column).distinct()
    return distinct.mutate(code=ibis.row_number().over(order_by=distinct[column]))


def _coded(events: ir.Table, bounds: ir.Table, items: ir.Table) -> ir.Table:
    """Events as integers: session code ``s``, item code ``i``, ``t`` in microseconds.

    ``t`` counts from the first event of the log and is computed once per event, so the
    self-join compares plain integers: a timestamp delta per pair (``DATE_DIFF`` on DuckDB)
    made the join several times slower than the pairing itself.
    """
    sessions = _codes(events, "session_id").select("session_id", s="code")
    dated = events.cross_join(bounds)
    dated = dated.join(sessions, "session_id").join(items.select("item_id", i="code"), "item_id")
    return dated.select(
        "s",
        "i",
        event_type=dated.event_type,
        t=dated.ts.delta(dated.t0, unit="microsecond").cast("int64"),
    )


def _pairs(events: ir.Table, window_us: int) -> ir.Table:
    left = events.select("s", a=events.i, t_a=events.t)
    other = events.view()
    right = other.select("s", b=other.i, t_b=other.t, type_b=other.event_type)
    joined = left.join(right, "s")
    apart = joined.t_a - joined.t_b
    return joined.filter(joined.a != joined.b, apart < window_us, apart > -window_us).select(
        "s", "a", "b", "t_a", "type_b"
    )


def _top(scored: ir.Table, k: int, items: ir.Table) -> ir.Table:
    # Rank on item codes (ordered like the ids), then translate only the kept rows.
    best = top_k(scored, k, "score", id_col="b", by=["a"])
    ids_a = items.select(a="code", item_a="item_id")
    ids_b = items.select(b="code", item_b="item_id")
    named = best.join(ids_a, "a").join(ids_b, "b")
    out = named.select("item_a", "item_b", "score", "rank")
    return out.order_by([*null_safe_keys(out.item_a), out.rank])


def covisitation(
    events: ir.Table,
    *,
    kind: str = "clicks",
    top_k_neighbours: int = 20,
    tail: int = 30,
    window: timedelta = timedelta(hours=24),
    buy_window: timedelta = timedelta(days=14),
    type_weights: Mapping[str, int] = DEFAULT_TYPE_WEIGHTS,
) -> ir.Table:
    """One co-visitation matrix as top-K neighbours per item.

    Parameters
    ----------
    events
        Events with ``session_id``, ``item_id``, ``event_type``, ``ts`` (canonical types),
        shape ``(n_events, n_columns)``. Sessions are taken as given (run
        :func:`reclift.pipelines.sessionize` first to re-cut them).
    kind
        ``clicks``, ``carts_orders`` or ``buy2buy`` (see the module docstring).
    top_k_neighbours
        Neighbours kept per ``item_a``.
    tail
        Only the last ``tail`` events of each session form pairs (bounds the quadratic
        self-join on very long sessions).
    window
        Maximum time between the two events of a pair (clicks, carts_orders).
    buy_window
        Maximum time between the two events of a pair (buy2buy).
    type_weights
        Integer weight per event type of ``item_b`` (carts_orders).

    Returns
    -------
    ibis.Table
        ``item_a`` (string), ``item_b`` (string), ``score`` (int64: summed integer weights;
        clicks in thousandths), ``rank`` (int64, 1..top_k_neighbours), ordered by
        ``item_a``, ``rank``.

    Raises
    ------
    PipelineError
        A missing column or an invalid parameter.
    """
    require_columns(events, COLUMNS, "events")
    k = _positive_int(top_k_neighbours, "top_k_neighbours")
    n_tail = _positive_int(tail, "tail")
    if kind not in MATRICES:
        raise PipelineError(f"unknown co-visitation kind {kind!r}; expected one of {MATRICES}")
    base = events.select(
        session_id=events.session_id.cast("string"),
        item_id=events.item_id.cast("string"),
        event_type=events.event_type,
        ts=events.ts,
    )
    bounds = base.aggregate(t0=base.ts.min(), t1=base.ts.max())
    items = _codes(base, "item_id")
    if kind == "buy2buy":
        buys = base.filter(base.event_type.isin(["cart", "order"]))
        coded = _coded(session_tail(buys, n_tail), bounds, items)
        pairs = _pairs(coded, _micros(buy_window, "buy_window"))
        once = pairs.select("s", "a", "b").distinct()
        scored = once.group_by(["a", "b"]).aggregate(score=once.count().cast("int64"))
        return _top(scored, k, items)
    pairs = _pairs(_coded(session_tail(base, n_tail), bounds, items), _micros(window, "window"))
    if kind == "carts_orders":
        bad = [t for t, w in type_weights.items() if isinstance(w, bool) or not isinstance(w, int)]
        if bad:
            raise PipelineError(f"type_weights must be integers; not for {bad}")
        once = pairs.select("s", "a", "b", "type_b").distinct()
        cases = [(once.type_b == t, int(w)) for t, w in type_weights.items()]
        weight = ibis.cases(*cases, else_=0).cast("int64")
        scored = once.group_by(["a", "b"]).aggregate(score=weight.sum())
        return _top(scored.filter(scored.score > 0), k, items)
    # clicks: one pair per session at its latest time, weighted by how recent that time is.
    last = pairs.group_by(["s", "a", "b"]).aggregate(t=pairs.t_a.max())
    dated = last.cross_join(bounds)
    # Whole milliseconds from exact microsecond offsets (engines disagree on "second" deltas,
    # which count boundaries crossed on DuckDB); age * 3000 stays below 2**53 for logs up to
    # about 95 years, so Spark's floating-point floor division is exact too.
    age = dated.t // 1000
    span = dated.t1.delta(dated.t0, unit="microsecond").cast("int64") // 1000
    weight = TIME_WEIGHT_BASE + ibis.ifelse(
        span > 0, (age * TIME_WEIGHT_SPAN) // ibis.greatest(span, 1), 0
    )
    weighted = dated.select("a", "b", w=weight.cast("int64"))
    scored = weighted.group_by(["a", "b"]).aggregate(score=weighted.w.sum())
    return _top(scored, k, items)


def covisitation_all(events: ir.Table, **params: object) -> dict[str, ir.Table]:
    """The three matrices (:data:`MATRICES`) with shared parameters (see :func:`covisitation`)."""
    return {kind: covisitation(events, kind=kind, **params) for kind in MATRICES}  # type: ignore[arg-type]
