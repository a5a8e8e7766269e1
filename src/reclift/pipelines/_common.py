"""Helpers shared by pipelines: input checks and a total order over events."""

from __future__ import annotations

from collections.abc import Iterable

import ibis
import ibis.expr.types as ir

from reclift.errors import ReclifError
from reclift.schema.tables import EVENT_TYPES


class PipelineError(ReclifError):
    """A pipeline given an input it cannot work on (missing columns, bad parameters)."""


def require_columns(table: ir.Table, columns: Iterable[str], what: str) -> None:
    """Raise :class:`PipelineError` naming the columns of ``what`` that ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise PipelineError(
            f"{what} is missing column(s) {', '.join(missing)}; it has: {', '.join(table.columns)}"
        )


def event_type_rank(event_type: ir.StringValue) -> ir.IntegerValue:
    """Funnel position of an event type (view 0 < click 1 < cart 2 < order 3, unknown 4)."""
    cases = [(event_type == name, i) for i, name in enumerate(EVENT_TYPES)]
    rank: ir.IntegerValue = ibis.cases(*cases, else_=len(EVENT_TYPES))
    return rank


def null_safe_keys(value: ir.Value) -> list[ir.Value]:
    """Ascending sort keys that put nulls last on every engine.

    Ibis emits ``ORDER BY x ASC`` without ``NULLS LAST``; DuckDB and Spark then disagree on
    where nulls go. Ordering by ``isnull()`` first (false < true) fixes it: all nulls then tie
    on the second key, wherever the engine would put them.
    """
    return [value.isnull(), value]


def event_order_keys(events: ir.Table) -> list[ir.Value]:
    """A total order over the events of one actor, identical on every engine.

    Time first, then funnel position (a view precedes a cart at the same microsecond), then
    the remaining columns, so only fully identical rows tie (and their order cannot show).
    """
    keys: list[ir.Value] = [
        events.ts,
        event_type_rank(events.event_type),
        events.event_type,
        events.item_id,
        events.session_id,
    ]
    for name in ("quantity", "price", "query", "user_id"):
        if name in events.columns:
            keys.extend(null_safe_keys(events[name]))
    return keys
