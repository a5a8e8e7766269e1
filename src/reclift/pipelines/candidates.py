"""Session candidates and their features: history, co-visitation expansion, popular fallback.

For every session of ``events`` (the sessions to complete), the candidate items are

- the session's own items (history), weighted by recency and event type;
- the top ``n_expand`` co-visitation neighbours of each history item, from every matrix of
  ``neighbours`` (``buy2buy`` expands only items the session carted or ordered);
- the ``n_popular`` most popular items of each type (so every session, even one of unknown
  items, has candidates).

One row per (session, candidate item) carries the features a rules score or a learned
ranker needs (see :data:`FEATURES`). Rows are ordered by ``session_id``, ``item_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import ibis
import ibis.expr.types as ir

from reclift.pipelines._common import PipelineError, event_type_rank, require_columns
from reclift.pipelines.covisitation import MATRICES

#: History event weights (float): what a cart or order says about intent vs a click.
HISTORY_TYPE_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"view": 0.5, "click": 1.0, "cart": 6.0, "order": 3.0}
)
#: A history item never seen gets this in ``h_last_rev`` (positions from the session end).
NOT_IN_HISTORY = 1000
POP_TYPES: tuple[str, ...] = ("click", "cart", "order")

FEATURES: tuple[str, ...] = (
    "h_click",
    "h_cart",
    "h_order",
    "h_recency",
    "h_score",
    "h_last_rev",
    "h_secs",
    *(f"cv_{kind}_{stat}" for kind in MATRICES for stat in ("n", "w")),
    *(f"pop_{t}" for t in POP_TYPES),
    *(f"pop_rank_{t}" for t in POP_TYPES),
    "s_len",
    "s_items",
    "s_secs",
    "h_view",
    "h_click_only",
    "h_last_type",
    "s_n_click",
    "s_n_cart",
    "s_n_order",
    "s_last_type",
    *(f"cv_{kind}_last" for kind in MATRICES),
)
"""Feature columns of :func:`session_candidates`, in output order (all float64)."""


def _history(events: ir.Table, half_life: float) -> tuple[ir.Table, ir.Table]:
    order = [events.ts.desc(), event_type_rank(events.event_type).desc(), events.item_id.desc()]
    window = ibis.window(group_by=events.session_id, order_by=order)
    ranked = events.mutate(
        _rev=(ibis.row_number().over(window) + 1).cast("float64"),
        # 1-based funnel code (view 1 ... order 4): what the shopper did last.
        _code=(event_type_rank(events.event_type) + 1).cast("float64"),
    )
    recency = ibis.literal(0.5) ** (ranked._rev / half_life)
    cases = [(ranked.event_type == t, w) for t, w in HISTORY_TYPE_WEIGHTS.items()]
    tw = ibis.cases(*cases, else_=0.0)
    ranked = ranked.mutate(_w=recency, _tw=recency * tw)
    is_click = ranked.event_type.isin(["click", "view"])
    per_item = ranked.group_by(["session_id", "item_id"]).aggregate(
        h_click=ranked.count(where=is_click).cast("float64"),
        h_cart=ranked.count(where=ranked.event_type == "cart").cast("float64"),
        h_order=ranked.count(where=ranked.event_type == "order").cast("float64"),
        h_recency=ranked._w.sum(),
        h_score=ranked._tw.sum(),
        h_last_rev=ranked._rev.min(),
        _last_ts=ranked.ts.max(),
        h_view=ranked.count(where=ranked.event_type == "view").cast("float64"),
        h_click_only=ranked.count(where=ranked.event_type == "click").cast("float64"),
        h_last_type=ranked._code.argmin(ranked._rev),
    )
    per_session = ranked.group_by("session_id").aggregate(
        s_len=ranked.count().cast("float64"),
        s_items=ranked.item_id.nunique().cast("float64"),
        _s_end=ranked.ts.max(),
        _s_start=ranked.ts.min(),
        s_n_click=ranked.count(where=ranked.event_type == "click").cast("float64"),
        s_n_cart=ranked.count(where=ranked.event_type == "cart").cast("float64"),
        s_n_order=ranked.count(where=ranked.event_type == "order").cast("float64"),
        s_last_type=ranked._code.argmin(ranked._rev),
    )
    return per_item, per_session


def session_candidates(
    events: ir.Table,
    neighbours: ir.Table,
    item_pop: ir.Table,
    *,
    n_expand: int = 20,
    n_popular: int = 20,
    half_life: float = 5.0,
) -> ir.Table:
    """Candidates and features for every session of ``events``.

    Parameters
    ----------
    events
        The sessions to complete: ``session_id``, ``item_id``, ``event_type``, ``ts``,
        shape ``(n_events, n_columns)``.
    neighbours
        Co-visitation neighbours of all matrices: ``kind`` (one of
        :data:`~reclift.pipelines.covisitation.MATRICES`), ``item_a``, ``item_b``, ``score``,
        ``rank``, shape ``(n_pairs, 5)``.
    item_pop
        Item popularity in the fitting period: ``item_id``, ``n_click``, ``n_cart``,
        ``n_order``, shape ``(n_items, 4)``.
    n_expand
        Neighbours taken per history item and matrix (those with ``rank <= n_expand``).
    n_popular
        Popular items added per type.
    half_life
        Recency half-life in events: the ``i``-th event from the end weighs ``0.5 ** (i /
        half_life)`` (the last event has ``i = 1``).

    Returns
    -------
    ibis.Table
        ``session_id``, ``item_id`` and the :data:`FEATURES` (float64), shape
        ``(n_candidates, 2 + len(FEATURES))``, ordered by ``session_id``, ``item_id``.
        ``cv_<kind>_n`` counts history items with this candidate among their neighbours;
        ``cv_<kind>_w`` sums ``recency(history item) * score / best score of that item``;
        ``cv_<kind>_last`` is that normalised score from the session's last item alone (0
        when the candidate is not among its neighbours: what the shopper looks at now);
        ``h_last_rev`` is :data:`NOT_IN_HISTORY` and ``h_secs`` -1 for items outside the
        history; ``pop_rank_<type>`` is the 1-based popularity rank (0 when unranked).
        ``h_view``/``h_click_only`` count the item's views / clicks (``h_click`` counts
        both); ``h_last_type``/``s_last_type`` code the funnel step of the last event with
        the item / of the session (1 view, 2 click, 3 cart, 4 order; 0 outside the
        history); ``s_n_<type>`` count the session's clicks, carts and orders.
    """
    require_columns(events, ("session_id", "item_id", "event_type", "ts"), "events")
    require_columns(neighbours, ("kind", "item_a", "item_b", "score", "rank"), "neighbours")
    require_columns(item_pop, ("item_id", *(f"n_{t}" for t in POP_TYPES)), "item_pop")
    for name, value in (("n_expand", n_expand), ("n_popular", n_popular)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise PipelineError(f"{name} must be a non-negative integer, got {value!r}")
    if not half_life > 0:
        raise PipelineError(f"half_life must be positive, got {half_life!r}")
    ev = events.select(
        session_id=events.session_id.cast("string"),
        item_id=events.item_id.cast("string"),
        event_type=events.event_type,
        ts=events.ts,
    )
    per_item, per_session = _history(ev, half_life)

    # Expansion through each matrix; normalise scores by the best neighbour of item_a so
    # matrices on different scales (thousandths vs counts) mix.
    nb = neighbours.filter(neighbours["rank"] <= n_expand)
    best = nb.group_by(["kind", "item_a"]).aggregate(_best=nb.score.max())
    nb = nb.join(best, ["kind", "item_a"]).select(
        "kind", "item_a", "item_b", _norm=nb.score.cast("float64") / best._best.cast("float64")
    )
    src = per_item.select(
        "session_id",
        item_a=per_item.item_id,
        _hw=ibis.literal(0.5) ** (per_item.h_last_rev / half_life),
        _buy=(per_item.h_cart + per_item.h_order) > 0,
        # The session's last item (the latest event in the total order).
        _last=per_item.h_last_rev == 1.0,
    )
    exp = src.join(nb, src.item_a == nb.item_a).filter((nb.kind != "buy2buy") | src._buy)
    exp = exp.select(
        "session_id",
        "kind",
        item_id=exp.item_b,
        _v=exp._hw * exp._norm,
        _l=ibis.ifelse(exp._last, exp._norm, 0.0),
    )
    cv_aggs: dict[str, ir.Value] = {}
    for kind in MATRICES:
        hit = exp.kind == kind
        cv_aggs[f"cv_{kind}_n"] = exp.count(where=hit).cast("float64")
        cv_aggs[f"cv_{kind}_w"] = ibis.ifelse(hit, exp._v, 0.0).sum()
        cv_aggs[f"cv_{kind}_last"] = ibis.ifelse(hit, exp._l, 0.0).sum()
    cv = exp.group_by(["session_id", "item_id"]).aggregate(**cv_aggs)

    pop = item_pop.select(
        item_id=item_pop.item_id.cast("string"),
        **{f"pop_{t}": item_pop[f"n_{t}"].cast("float64") for t in POP_TYPES},
    )
    ranks = {}
    for t in POP_TYPES:
        col = pop[f"pop_{t}"]
        w = ibis.window(order_by=[col.desc(), pop.item_id])
        ranks[f"pop_rank_{t}"] = (ibis.row_number().over(w) + 1).cast("float64")
    pop = pop.mutate(**ranks)
    is_top = ibis.or_(*[pop[f"pop_rank_{t}"] <= n_popular for t in POP_TYPES])
    top_items = pop.filter(is_top & (n_popular > 0)).select("item_id")
    sessions = per_session.select("session_id")

    keys = (
        per_item.select("session_id", "item_id")
        .union(cv.select("session_id", "item_id"), distinct=True)
        .union(sessions.cross_join(top_items).select("session_id", "item_id"), distinct=True)
    )
    out = keys.left_join(per_item, ["session_id", "item_id"]).drop(
        "session_id_right", "item_id_right"
    )
    out = out.left_join(cv, ["session_id", "item_id"]).drop("session_id_right", "item_id_right")
    out = out.left_join(pop, "item_id").drop("item_id_right")
    out = out.left_join(per_session, "session_id").drop("session_id_right")
    secs = out._s_end.delta(out._last_ts, unit="millisecond").cast("float64") / 1000.0
    span = out._s_end.delta(out._s_start, unit="millisecond").cast("float64") / 1000.0
    values: dict[str, ir.Value] = {}
    for name in FEATURES:
        if name == "h_last_rev":
            values[name] = out[name].fill_null(float(NOT_IN_HISTORY))
        elif name == "h_secs":
            values[name] = secs.fill_null(-1.0)
        elif name == "s_secs":
            values[name] = span
        elif name.startswith("pop_rank_"):
            values[name] = out[name].fill_null(0.0)
        else:
            values[name] = out[name].cast("float64").fill_null(0.0)
    result = out.select("session_id", "item_id", **values)
    return result.order_by(["session_id", "item_id"])
