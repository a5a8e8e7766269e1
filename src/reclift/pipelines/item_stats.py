"""Per-item statistics and popularity ranks from the events table."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import ibis
import ibis.expr.types as ir

from reclift.pipelines._common import PipelineError, require_columns
from reclift.pipelines.sessions import EVENT_COLUMNS
from reclift.pipelines.topk import rank_by
from reclift.schema.tables import EVENT_TYPES

#: Default popularity weights per event type: deeper funnel steps count more.
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"view": 1.0, "click": 2.0, "cart": 4.0, "order": 8.0}
)

#: Revenue is summed in integer micro-units so every engine gets the same total (float sums
#: depend on the order of additions, which differs between parallel engines).
REVENUE_SCALE = 1_000_000


def _weights(weights: Mapping[str, float]) -> dict[str, float]:
    unknown = sorted(set(weights) - set(EVENT_TYPES))
    if unknown:
        raise PipelineError(
            f"unknown event type(s) in popularity weights: {', '.join(unknown)}; "
            f"expected: {', '.join(EVENT_TYPES)}"
        )
    out = {}
    for name in EVENT_TYPES:
        value = weights.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise PipelineError(f"popularity weight for {name!r} must be a number, got {value!r}")
        out[name] = float(value)
    return out


def item_stats(
    events: ir.Table,
    items: ir.Table | None = None,
    *,
    weights: Mapping[str, float] = DEFAULT_WEIGHTS,
) -> ir.Table:
    """Counts, funnel ratios, revenue and popularity ranks per item.

    Parameters
    ----------
    events
        Canonical events, shape ``(n_events, n_columns)``; ``quantity`` and ``price`` are used
        when present.
    items
        Optional catalog (``item_id``, ``category``) for ranks within a category.
    weights
        Popularity score per event type: ``score = sum(weights[t] * n_<t>)``.

    Returns
    -------
    ibis.Table
        One row per item seen in ``events``, shape ``(n_items, n_columns)``, ordered by
        ``popularity_rank``: ``item_id``, ``n_events``, ``n_view``, ``n_click``, ``n_cart``,
        ``n_order`` (int64), ``n_users`` (distinct non-null users), ``n_sessions`` (distinct
        shop session ids), ``first_ts``, ``last_ts``, ``click_to_cart`` = n_cart / n_click
        and ``cart_to_order`` = n_order / n_cart (float64, null when the denominator is 0),
        ``revenue`` (sum of quantity * price over orders, a null quantity counting as 1,
        rounded to 1e-6), ``score`` (float64), ``popularity_rank`` (1 = most popular; ties by
        item_id ascending). With ``items``: also ``category`` and ``category_rank`` (rank
        within the category, same order; null when the item has no category).

    Raises
    ------
    PipelineError
        When a column is missing or a weight is not a number.
    """
    require_columns(events, EVENT_COLUMNS, "events")
    w = _weights(weights)
    counts = {f"n_{name}": events.count(where=events.event_type == name) for name in EVENT_TYPES}
    aggregates: dict[str, ir.Value] = {
        "n_events": events.count(),
        **counts,
        "n_users": events.user_id.nunique(),
        "n_sessions": events.session_id.nunique(),
        "first_ts": events.ts.min(),
        "last_ts": events.ts.max(),
    }
    if "price" in events.columns:
        quantity = (
            events.quantity.fill_null(1).cast("float64")
            if "quantity" in events.columns
            else ibis.literal(1.0)
        )
        line = quantity * events.price * REVENUE_SCALE
        # floor(x + 0.5) rounds the same way on every engine (SQL ROUND does not: Spark
        # rounds the decimal text of a double half-up, DuckDB the binary value).
        micros = ibis.ifelse(events.event_type == "order", (line + 0.5).floor(), ibis.null())
        aggregates["_revenue_micros"] = micros.cast("int64").sum()
    stats = events.group_by("item_id").aggregate(**aggregates)

    if "_revenue_micros" in stats.columns:
        revenue = stats._revenue_micros.fill_null(0).cast("float64") / REVENUE_SCALE
    else:
        revenue = ibis.literal(0.0)
    score: ir.FloatingValue = ibis.literal(0.0)
    for name in EVENT_TYPES:
        score = score + stats[f"n_{name}"].cast("float64") * w[name]
    stats = stats.mutate(
        click_to_cart=stats.n_cart.cast("float64") / stats.n_click.nullif(0).cast("float64"),
        cart_to_order=stats.n_order.cast("float64") / stats.n_cart.nullif(0).cast("float64"),
        revenue=revenue,
        score=score,
    )
    columns = [
        "item_id",
        "n_events",
        *counts,
        "n_users",
        "n_sessions",
        "first_ts",
        "last_ts",
        "click_to_cart",
        "cart_to_order",
        "revenue",
        "score",
    ]
    stats = stats.select(*columns)
    stats = rank_by(stats, "score", id_col="item_id", name="popularity_rank")

    if items is not None:
        require_columns(items, ("item_id", "category"), "items")
        catalog = items.select("item_id", "category")
        stats = stats.left_join(catalog, "item_id").select(*columns, "popularity_rank", "category")
        ranked = rank_by(stats, "score", id_col="item_id", by=["category"], name="_rank")
        stats = ranked.mutate(
            category_rank=ibis.ifelse(ranked.category.isnull(), ibis.null(), ranked._rank)
        ).drop("_rank")
    return stats.order_by("popularity_rank")
