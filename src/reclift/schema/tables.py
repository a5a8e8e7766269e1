"""The canonical tables of reclift's data contract, declared once as Arrow schemas.

Everything outside (files, PostgreSQL, public data sets, the simulator) converts to these
tables at the edge. External ids are strings; time is UTC with microsecond precision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")

EVENT_TYPES: tuple[str, ...] = ("view", "click", "cart", "order")
QUERY_ACTIONS: tuple[str, ...] = ("impression", "click", "order")


@dataclass(frozen=True)
class TableSpec:
    """One canonical table and the rules its rows obey beyond their Arrow types.

    Attributes
    ----------
    name
        Table name, e.g. ``"events"``.
    schema
        Arrow schema; a field's ``nullable`` flag says whether nulls are allowed.
    key
        Columns that identify a row uniquely (empty for fact tables such as events).
    time_columns
        Timestamp columns (UTC).
    enums
        Allowed values of string columns with a closed vocabulary.
    non_negative
        Numeric columns that must be >= 0.
    open_unit_interval
        Numeric columns that must lie in (0, 1] (propensities).
    json_columns
        String columns holding a JSON object.
    ordered
        Pairs ``(earlier, later)`` of columns where, when both are present, ``later`` must not
        come before ``earlier`` (a campaign cannot end before it starts).
    order_by
        Natural sort order for stored data (and for deterministic output).
    """

    name: str
    schema: pa.Schema
    key: tuple[str, ...] = ()
    time_columns: tuple[str, ...] = ()
    enums: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    non_negative: tuple[str, ...] = ()
    open_unit_interval: tuple[str, ...] = ()
    json_columns: tuple[str, ...] = ()
    ordered: tuple[tuple[str, str], ...] = ()
    order_by: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        """Column names in schema order."""
        return list(self.schema.names)

    @property
    def required(self) -> list[str]:
        """Columns that may not be null."""
        return [f.name for f in self.schema if not f.nullable]


def _f(name: str, typ: pa.DataType, nullable: bool = True) -> pa.Field:
    return pa.field(name, typ, nullable=nullable)


_S = pa.string()
_F = pa.float64()
_I = pa.int64()
_B = pa.bool_()

ITEMS = TableSpec(
    name="items",
    schema=pa.schema(
        [
            _f("item_id", _S, False),
            _f("title", _S),
            _f("category", _S),
            _f("brand", _S),
            _f("price", _F),
            _f("attributes", _S),
        ]
    ),
    key=("item_id",),
    non_negative=("price",),
    json_columns=("attributes",),
    order_by=("item_id",),
)

USERS = TableSpec(
    name="users",
    schema=pa.schema([_f("user_id", _S, False), _f("attributes", _S)]),
    key=("user_id",),
    json_columns=("attributes",),
    order_by=("user_id",),
)

EVENTS = TableSpec(
    name="events",
    schema=pa.schema(
        [
            _f("user_id", _S),
            _f("session_id", _S, False),
            _f("item_id", _S, False),
            _f("event_type", _S, False),
            _f("ts", TIMESTAMP, False),
            _f("quantity", _I),
            _f("price", _F),
            _f("query", _S),
        ]
    ),
    time_columns=("ts",),
    enums={"event_type": EVENT_TYPES},
    non_negative=("quantity", "price"),
    order_by=("session_id", "ts", "item_id", "event_type"),
)

EXPOSURES = TableSpec(
    name="exposures",
    schema=pa.schema(
        [
            _f("user_id", _S, False),
            _f("campaign_id", _S, False),
            _f("treatment", _B, False),
            _f("ts", TIMESTAMP, False),
            _f("converted", _B, False),
            _f("revenue", _F),
        ]
    ),
    time_columns=("ts",),
    non_negative=("revenue",),
    order_by=("campaign_id", "user_id", "ts"),
)

CAMPAIGNS = TableSpec(
    name="campaigns",
    schema=pa.schema(
        [
            _f("campaign_id", _S, False),
            _f("seller_id", _S),
            _f("item_id", _S),
            _f("keyword", _S),
            _f("bid", _F),
            _f("impressions", _I),
            _f("clicks", _I),
            _f("orders", _I),
            _f("spend", _F),
            _f("start", TIMESTAMP),
            _f("end", TIMESTAMP),
        ]
    ),
    # A campaign promotes one item under several keywords: one row per (campaign, keyword).
    key=("campaign_id", "keyword"),
    time_columns=("start", "end"),
    non_negative=("bid", "impressions", "clicks", "orders", "spend"),
    ordered=(("start", "end"),),
    order_by=("campaign_id", "keyword"),
)

QUERIES = TableSpec(
    name="queries",
    schema=pa.schema(
        [
            _f("query", _S, False),
            _f("ts", TIMESTAMP, False),
            _f("user_id", _S),
            _f("session_id", _S),
            _f("item_id", _S),
            _f("action", _S),
            _f("relevance", _F),
        ]
    ),
    time_columns=("ts",),
    enums={"action": QUERY_ACTIONS},
    order_by=("ts", "query", "item_id"),
)

BANNER_LOG = TableSpec(
    name="banner_log",
    schema=pa.schema(
        [
            _f("ts", TIMESTAMP, False),
            _f("user_id", _S),
            _f("banner_id", _S, False),
            _f("position", _I),
            _f("propensity", _F, False),
            _f("reward", _F, False),
            _f("context", _S),
        ]
    ),
    time_columns=("ts",),
    non_negative=("position",),
    open_unit_interval=("propensity",),
    json_columns=("context",),
    order_by=("ts", "banner_id"),
)

TABLES: Mapping[str, TableSpec] = MappingProxyType(
    {spec.name: spec for spec in (ITEMS, USERS, EVENTS, EXPOSURES, CAMPAIGNS, QUERIES, BANNER_LOG)}
)


def get_table(name: str) -> TableSpec:
    """Return the spec of a canonical table or raise a :class:`SchemaError` naming the choices."""
    from reclift.errors import SchemaError

    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"unknown table {name!r}; expected one of: {', '.join(TABLES)}") from None


def empty_table(name: str) -> pa.Table:
    """An empty Arrow table with the canonical schema of ``name``."""
    return get_table(name).schema.empty_table()
