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

Cost: pairs grow with the square of a session's tail, and everything after the self-join is
paid per pair. So each event is turned into integers once, before the join: session and item
codes (numbered in id order, so ties broken by code are broken by id), the time in
microseconds since the first event, the event's time weight and its event-type code. A
session shorter than the window is first reduced to one row per item (every pair of its
events is in the window), which makes the join and the aggregations about 3x smaller on the
simulator; longer sessions take the exact pairwise test. ``clicks`` and ``carts_orders``
share one pass over the pairs (:func:`covisitation_matrices`), and ids come back as strings
just for the ``top_k`` rows kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
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
from reclift.schema.tables import EVENT_TYPES

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


def _tail_positions(events: ir.Table, tail: int) -> ir.Table:
    """Coded events with ``pos``, their place from the end of the session (0 = last).

    The order is :func:`session_tail`'s, on integers (codes follow ids). Only sessions with
    more than ``tail`` events need it: every event of a shorter one is in its tail (``pos``
    0), which spares the window's sort for almost every session. The position is returned
    rather than filtered on: a union with a window is one node the engine computes once for
    both kinds of session, where a filter would be fused into each consumer's own filter
    and the window recomputed for each.
    """
    few = events.filter(events.n <= tail)
    few = few.mutate(pos=ibis.literal(0).cast("int32"))
    many = events.filter(events.n > tail)
    order = [many.t.desc(), many.f.desc(), many.i.desc()]
    window = ibis.window(group_by=many.s, order_by=order)
    ranked = many.mutate(pos=ibis.row_number().over(window).cast("int32"))
    return few.union(ranked)


def _codes(values: ir.Table, column: str) -> ir.Table:
    """Distinct ``column`` values numbered ``code`` 0.. in ascending order.

    The numbering follows the value order, so ties broken by code are broken by id exactly
    as by the id itself; integers hash, compare and sort far faster than strings in the
    self-join and its aggregations.
    """
    distinct = values.select(column).distinct()
    return distinct.mutate(code=ibis.row_number().over(order_by=distinct[column]).cast("int32"))


def _item_parts(items: ir.Table, parts: int) -> ir.Table:
    """``items`` (:func:`_codes`) with ``part``: ``parts`` equal ranges of codes, in order.

    Ranges rather than residues: codes follow ids, so the matrices of consecutive parts
    concatenate already ordered by ``item_a``.
    """
    if parts == 1:
        return items.mutate(part=ibis.literal(0).cast("int32"))
    total = items.aggregate(n_items=items.count())
    sized = items.cross_join(total)
    # In int64: code * parts overflows 32 bits for a few million items and parts.
    part = (sized.code.cast("int64") * parts) // sized.n_items
    return sized.select("item_id", "code", part=part.cast("int32"))


def _session_codes(events: ir.Table) -> ir.Table:
    """Sessions numbered ``code``, with ``span`` (microseconds from first to last event)
    and ``n`` events.

    Both come with the numbering's own aggregation. The span decides which sessions may
    take the per-item shortcut of :func:`_session_pairs` (a tail spans at most its
    session), the count which need their tail cut at all (:func:`_tail_positions`).
    """
    spans = events.filter(events.session_id.notnull())
    spans = spans.group_by("session_id").aggregate(
        first=spans.ts.min(), last=spans.ts.max(), n=spans.count()
    )
    return spans.select(
        "session_id",
        n=spans.n.cast("int32"),
        code=ibis.row_number().over(order_by=spans.session_id).cast("int32"),
        span=spans["last"].delta(spans["first"], unit="microsecond").cast("int64"),
    )


def _type_codes(type_weights: Mapping[str, int]) -> dict[str, int]:
    """A code per weighted event type (sorted by name, so codes never depend on order)."""
    return {t: j for j, t in enumerate(sorted(type_weights))}


def _typed_weight(
    code: ir.IntegerColumn, type_weights: Mapping[str, int]
) -> ir.IntegerScalar | ir.IntegerValue:
    """Sum of the weights of the event types present among ``code`` (each type once).

    Per type, "present" is a max of an indicator: a bitwise OR would need one aggregate
    less, but Spark's Ibis compiler has no ``bit_or``.
    """
    present = [
        ibis.ifelse(code == j, 1, 0).max() * int(type_weights[name])
        for name, j in _type_codes(type_weights).items()
    ]
    return sum(present[1:], start=present[0]) if present else ibis.literal(0)


def _coded(
    events: ir.Table,
    bounds: ir.Table,
    sessions: ir.Table,
    items: ir.Table,
    type_weights: Mapping[str, int],
) -> ir.Table:
    """Events as integers, each computed once per event so the self-join handles no strings.

    Columns: session code ``s`` with its ``span`` and ``n``, item code ``i`` (null for a null item,
    which still takes its place in the tail but never pairs), ``t`` in microseconds since
    the first event of the log, the item's part ``ip`` (:func:`_item_parts`), funnel
    position ``f``, time weight ``w`` (see the module
    docstring) and ``tc``, the event type's code for ``carts_orders``. Events without a
    session are dropped: they belong to no session.
    """
    dated = events.cross_join(bounds)
    dated = dated.join(sessions.select("session_id", "span", "n", s="code"), "session_id")
    dated = dated.left_join(items.select("item_id", i="code", ip="part"), "item_id")
    t = dated.ts.delta(dated.t0, unit="microsecond").cast("int64")
    # Whole milliseconds from exact microsecond offsets (engines disagree on "second" deltas,
    # which count boundaries crossed on DuckDB); age * 3000 stays below 2**53 for logs up to
    # about 95 years, so Spark's floating-point floor division is exact too.
    age = t // 1000
    span = dated.t1.delta(dated.t0, unit="microsecond").cast("int64") // 1000
    weight = TIME_WEIGHT_BASE + ibis.ifelse(
        span > 0, (age * TIME_WEIGHT_SPAN) // ibis.greatest(span, 1), 0
    )
    cases = [(dated.event_type == name, j) for name, j in _type_codes(type_weights).items()]
    code = ibis.cases(*cases, else_=-1) if cases else ibis.literal(-1)
    return dated.select(
        "s",
        "span",
        "n",
        "i",
        "ip",
        t=t,
        f=event_type_rank(dated.event_type).cast("int8"),
        w=weight.cast("int32"),
        tc=code.cast("int8"),
    )


@dataclass(frozen=True)
class PairSides:
    """The two inputs of a pair self-join, both per session ``s`` (integer codes).

    Attributes
    ----------
    short
        Sessions shorter than the window, one row per item: ``s``, ``i``, ``ip``, ``w``
        (largest time weight), ``typed`` (summed weights of the event types present).
    long
        Tail events of longer sessions: ``s``, ``i``, ``ip``, ``t``, ``w``, ``tc``.
    window_us
        The pair window in microseconds.
    """

    short: ir.Table
    long: ir.Table
    window_us: int


def _pair_sides(
    events: ir.Table, tail: int, window_us: int, type_weights: Mapping[str, int]
) -> PairSides:
    """Split tail events (:func:`_tail_positions`) into what :func:`_session_pairs` joins.

    A session shorter than the window pairs every event with every other, so its events
    are first reduced to one row per item: the self-join and everything after it then
    cost ``distinct_items ** 2`` instead of ``events ** 2`` and need no per-session
    de-duplication (about 3x fewer rows on the simulator, where items recur within
    sessions). Longer sessions keep their events for the exact pairwise window test.
    """
    short = events.filter(events.pos < tail, events.i.notnull(), events.span < window_us)
    # ``ip`` follows from ``i``: kept for the part filter, not a finer grouping.
    per_item = short.group_by(["s", "i", "ip"]).aggregate(
        w=short.w.max(), typed=_typed_weight(short.tc, type_weights).cast("int32")
    )
    long = events.filter(events.pos < tail, events.i.notnull(), events.span >= window_us)
    return PairSides(
        per_item.select("s", "i", "ip", "w", "typed"),
        long.select("s", "i", "ip", "t", "w", "tc"),
        window_us,
    )


def _session_pairs(
    sides: PairSides, type_weights: Mapping[str, int], part: int | None = None
) -> ir.Table:
    """Pairs ``(a, b)`` of different items in a session's tail, at most the window apart.

    One row per session and pair: ``w`` is the largest time weight of ``a`` over the pair's
    events, ``typed`` the summed ``type_weights`` of the event types of ``b`` in those
    pairs (each type once). With ``part``, only the pairs whose ``a`` is in that part of
    the items (``ip``): the engine then builds its hash table on that part alone and
    streams the rest of the sessions past it.
    """
    short, long, window_us = sides.short, sides.long, sides.window_us
    mine = short if part is None else short.filter(short.ip == part)
    left = mine.select("s", a=mine.i, w=mine.w)
    other = short.view()
    right = other.select("s", b=other.i, typed=other.typed)
    paired = left.join(right, "s")
    within_short = paired.filter(paired.a != paired.b).select("s", "a", "b", "w", "typed")

    mine_l = long if part is None else long.filter(long.ip == part)
    left_l = mine_l.select("s", a=mine_l.i, t_a=mine_l.t, w_a=mine_l.w)
    other_l = long.view()
    right_l = other_l.select("s", b=other_l.i, t_b=other_l.t, tc_b=other_l.tc)
    joined = left_l.join(right_l, "s")
    apart = joined.t_a - joined.t_b
    close = joined.filter(joined.a != joined.b, apart < window_us, apart > -window_us)
    within_long = close.group_by(["s", "a", "b"]).aggregate(
        w=close.w_a.max(), typed=_typed_weight(close.tc_b, type_weights).cast("int32")
    )
    return within_short.union(within_long.select("s", "a", "b", "w", "typed"))


#: Pairs are aggregated on one integer key ``a * PAIR_BASE + b`` (item codes stay far below
#: 2**31): hashing one int64 instead of two columns made the pair aggregation 20-30% faster.
PAIR_BASE = 1 << 31


def _pair_key(a: ir.IntegerValue, b: ir.IntegerValue) -> ir.IntegerValue:
    return a.cast("int64") * PAIR_BASE + b.cast("int64")


def _top(scored: ir.Table, k: int, items: ir.Table) -> ir.Table:
    """Best ``k`` per ``a`` from ``(key, score)`` rows; ids back as strings for those only.

    Scores are sums of integers, never null, so the window sorts on two plain keys (the
    generic :func:`~reclift.pipelines.topk.top_k` adds a null test for other callers).
    """
    split = scored.select(a=scored.key // PAIR_BASE, b=scored.key % PAIR_BASE, score="score")
    window = ibis.window(group_by=split.a, order_by=[split.score.desc(), split.b])
    ranked = split.mutate(rank=(ibis.row_number().over(window) + 1).cast("int64"))
    best = ranked.filter(ranked["rank"] <= k)
    ids_a = items.select(a="code", item_a="item_id")
    ids_b = items.select(b="code", item_b="item_id")
    named = best.join(ids_a, "a").join(ids_b, "b")
    out = named.select("item_a", "item_b", "score", "rank")
    return out.order_by([*null_safe_keys(out.item_a), out.rank])


def _check_part(item_part: object) -> tuple[int, int]:
    match item_part:
        case (int(part), int(parts)) if (
            not isinstance(part, bool) and not isinstance(parts, bool) and 0 <= part < parts
        ):
            return part, parts
    raise PipelineError(
        f"item_part must be (part, parts) with 0 <= part < parts, got {item_part!r}"
    )


@dataclass(frozen=True)
class CovisitationInputs:
    """A log prepared for the pair self-joins of :func:`matrices_of`.

    Everything before the self-joins, which does not depend on the part of the items being
    paired: item and session codes, session tails, per-item rows of short sessions. Built
    by :func:`covisitation_inputs`; :meth:`cache` computes it once on the engine for
    several parts.

    Attributes
    ----------
    items
        ``item_id``, ``code`` and ``part`` of every item (:func:`_item_parts`).
    views
        The pair sides of ``clicks`` and ``carts_orders`` (``None`` when not asked for).
    buys
        The pair sides of ``buy2buy`` (``None`` when not asked for).
    parts
        Number of item parts (``ip`` runs over ``0 .. parts - 1``).
    type_weights
        Weight per event type of ``item_b`` (``carts_orders``).
    """

    items: ir.Table
    views: PairSides | None
    buys: PairSides | None
    parts: int
    type_weights: Mapping[str, int]
    cached: bool = False

    def _tables(self) -> list[ir.Table]:
        sides = [side for side in (self.views, self.buys) if side is not None]
        return [self.items, *(t for side in sides for t in (side.short, side.long))]

    def cache(self) -> CovisitationInputs:
        """The same inputs computed once and kept by the engine (release with :meth:`release`).

        DuckDB keeps them in temporary tables (spilled past its memory limit), Spark as
        cached DataFrames.
        """

        def cached(side: PairSides | None) -> PairSides | None:
            if side is None:
                return None
            return replace(side, short=side.short.cache(), long=side.long.cache())

        return replace(
            self,
            items=self.items.cache(),
            views=cached(self.views),
            buys=cached(self.buys),
            cached=True,
        )

    def release(self) -> None:
        """Drop what :meth:`cache` kept (nothing for inputs that were not cached)."""
        if self.cached:
            for table in self._tables():
                table.release()


def _check_kinds(kinds: Sequence[str]) -> None:
    unknown = [kind for kind in kinds if kind not in MATRICES]
    if unknown or not kinds:
        raise PipelineError(
            f"unknown co-visitation kind {unknown[0] if unknown else None!r}; "
            f"expected one of {MATRICES}"
        )


def covisitation_inputs(
    events: ir.Table,
    *,
    kinds: Sequence[str] = MATRICES,
    tail: int = 30,
    window: timedelta = timedelta(hours=24),
    buy_window: timedelta = timedelta(days=14),
    type_weights: Mapping[str, int] = DEFAULT_TYPE_WEIGHTS,
    parts: int = 1,
) -> CovisitationInputs:
    """Prepare ``events`` for :func:`matrices_of` (see :func:`covisitation_matrices`).

    Parameters
    ----------
    events
        As in :func:`covisitation`.
    kinds
        Matrices the inputs must serve, from :data:`MATRICES`.
    tail, window, buy_window, type_weights
        As in :func:`covisitation`.
    parts
        Number of equal ranges of item ids the matrices will be built in.

    Returns
    -------
    CovisitationInputs
        Lazy expressions on the engine of ``events``.

    Raises
    ------
    PipelineError
        A missing column or an invalid parameter.
    """
    require_columns(events, COLUMNS, "events")
    _check_kinds(kinds)
    n_tail = _positive_int(tail, "tail")
    n_parts = _positive_int(parts, "parts")
    bad = [t for t, w in type_weights.items() if isinstance(w, bool) or not isinstance(w, int)]
    if bad:
        raise PipelineError(f"type_weights must be integers; not for {bad}")
    base = events.select(
        session_id=events.session_id.cast("string"),
        item_id=events.item_id.cast("string"),
        event_type=events.event_type,
        ts=events.ts,
    )
    bounds = base.aggregate(t0=base.ts.min(), t1=base.ts.max())
    items = _item_parts(_codes(base, "item_id"), n_parts)
    coded = _coded(base, bounds, _session_codes(base), items, type_weights)
    views = buys = None
    if "clicks" in kinds or "carts_orders" in kinds:
        window_us = _micros(window, "window")
        views = _pair_sides(_tail_positions(coded, n_tail), n_tail, window_us, type_weights)
    if "buy2buy" in kinds:
        # Carts and orders have a tail of their own.
        buy_ranks = [EVENT_TYPES.index(t) for t in ("cart", "order")]
        buy_tails = _tail_positions(coded.filter(coded.f.isin(buy_ranks)), n_tail)
        buys = _pair_sides(buy_tails, n_tail, _micros(buy_window, "buy_window"), {})
    return CovisitationInputs(items, views, buys, n_parts, MappingProxyType(dict(type_weights)))


def matrices_of(
    inputs: CovisitationInputs,
    *,
    kinds: Sequence[str] = MATRICES,
    top_k_neighbours: int = 20,
    part: int = 0,
) -> dict[str, ir.Table]:
    """The matrices of one part of the items from prepared inputs.

    Parameters
    ----------
    inputs
        From :func:`covisitation_inputs` (cached or not) with every kind asked here.
    kinds
        Matrices to build, from :data:`MATRICES`.
    top_k_neighbours
        As in :func:`covisitation`.
    part
        Which of ``inputs.parts`` ranges of ``item_a`` ids, ``0 <= part < inputs.parts``.

    Returns
    -------
    dict[str, ibis.Table]
        One table per kind, each as returned by :func:`covisitation`, restricted to the
        ``item_a`` of the part.

    Raises
    ------
    PipelineError
        An invalid parameter, or a kind the inputs were not prepared for.
    """
    _check_kinds(kinds)
    k = _positive_int(top_k_neighbours, "top_k_neighbours")
    _check_part((part, inputs.parts))
    mine = None if inputs.parts == 1 else part
    out: dict[str, ir.Table] = {}
    if "clicks" in kinds or "carts_orders" in kinds:
        if inputs.views is None:
            raise PipelineError("these inputs were prepared without clicks and carts_orders")
        # "After seeing A, people cart B": each event type of b in the pairs adds its weight.
        pairs = _session_pairs(inputs.views, inputs.type_weights, mine)
        keyed = pairs.select(key=_pair_key(pairs.a, pairs.b), w=pairs.w, typed=pairs.typed)
        scores = keyed.group_by("key").aggregate(
            clicks=keyed.w.sum().cast("int64"), carts_orders=keyed.typed.sum().cast("int64")
        )
        if "clicks" in kinds:
            out["clicks"] = _top(scores.select("key", score=scores.clicks), k, inputs.items)
        if "carts_orders" in kinds:
            positive = scores.filter(scores.carts_orders > 0)
            out["carts_orders"] = _top(
                positive.select("key", score=positive.carts_orders), k, inputs.items
            )
    if "buy2buy" in kinds:
        if inputs.buys is None:
            raise PipelineError("these inputs were prepared without buy2buy")
        once = _session_pairs(inputs.buys, {}, mine)
        keyed_buys = once.select(key=_pair_key(once.a, once.b))
        scored = keyed_buys.group_by("key").aggregate(score=keyed_buys.count().cast("int64"))
        out["buy2buy"] = _top(scored, k, inputs.items)
    return {kind: out[kind] for kind in kinds}


def covisitation_matrices(
    events: ir.Table,
    *,
    kinds: Sequence[str] = MATRICES,
    top_k_neighbours: int = 20,
    tail: int = 30,
    window: timedelta = timedelta(hours=24),
    buy_window: timedelta = timedelta(days=14),
    type_weights: Mapping[str, int] = DEFAULT_TYPE_WEIGHTS,
    item_part: tuple[int, int] = (0, 1),
) -> dict[str, ir.Table]:
    """Several co-visitation matrices from one pass over the pairs.

    ``clicks`` and ``carts_orders`` share their pairs: both scores come out of the same
    aggregation, so asking for both costs about as much as asking for one.

    ``item_part`` splits the work for logs whose pairs do not fit in memory: the pairs of
    a range of items are aggregated and cut to their top-K a part at a time, each part a
    separate run. The rows of parts ``(0, n)``, ``(1, n)``, ... ``(n - 1, n)``
    concatenated are exactly the rows of ``(0, 1)``, in the same order (parts are ranges
    of item ids). Each such expression prepares the log again; to prepare it once, cache
    :func:`covisitation_inputs` and call :func:`matrices_of` per part (as
    :class:`reclift.models.sessions.features.CovisitIndex` does).

    Parameters
    ----------
    events
        As in :func:`covisitation`.
    kinds
        Matrices to build, from :data:`MATRICES`.
    top_k_neighbours, tail, window, buy_window, type_weights
        As in :func:`covisitation`.
    item_part
        ``(part, parts)``: only the rows whose ``item_a`` is in the ``part``-th of
        ``parts`` equal ranges of the log's item ids (in sorted order), ``0 <= part <
        parts``. The default is every row.

    Returns
    -------
    dict[str, ibis.Table]
        One table per kind, each as returned by :func:`covisitation`.

    Raises
    ------
    PipelineError
        A missing column or an invalid parameter.
    """
    part, parts = _check_part(item_part)
    _positive_int(top_k_neighbours, "top_k_neighbours")
    inputs = covisitation_inputs(
        events,
        kinds=kinds,
        tail=tail,
        window=window,
        buy_window=buy_window,
        type_weights=type_weights,
        parts=parts,
    )
    return matrices_of(inputs, kinds=kinds, top_k_neighbours=top_k_neighbours, part=part)


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
    if kind not in MATRICES:
        raise PipelineError(f"unknown co-visitation kind {kind!r}; expected one of {MATRICES}")
    return covisitation_matrices(
        events,
        kinds=(kind,),
        top_k_neighbours=top_k_neighbours,
        tail=tail,
        window=window,
        buy_window=buy_window,
        type_weights=type_weights,
    )[kind]


def covisitation_all(events: ir.Table, **params: object) -> dict[str, ir.Table]:
    """The three matrices (:data:`MATRICES`) with shared parameters (see :func:`covisitation`)."""
    return covisitation_matrices(events, kinds=MATRICES, **params)  # type: ignore[arg-type]
