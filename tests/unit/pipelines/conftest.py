"""Fixtures for pipeline unit tests: a DuckDB engine and a small events builder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pytest

from reclift.engines import DuckDBEngine
from reclift.schema.tables import EVENTS

T0 = dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.UTC)


def event(
    user: str | None,
    session: str,
    item: str,
    event_type: str = "view",
    minutes: float = 0.0,
    *,
    micros: int = 0,
    quantity: int | None = None,
    price: float | None = None,
    query: str | None = None,
) -> dict[str, Any]:
    """One canonical event, ``minutes`` (+ ``micros``) after a fixed start time."""
    ts = T0 + dt.timedelta(minutes=minutes, microseconds=micros)
    return {
        "user_id": user,
        "session_id": session,
        "item_id": item,
        "event_type": event_type,
        "ts": ts,
        "quantity": quantity,
        "price": price,
        "query": query,
    }


def events_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=EVENTS.schema)


@pytest.fixture
def duck() -> Iterator[DuckDBEngine]:
    with DuckDBEngine() as engine:
        yield engine


@pytest.fixture
def ev() -> Callable[..., dict[str, Any]]:
    return event


@pytest.fixture
def run(duck: DuckDBEngine) -> Callable[..., list[dict[str, Any]]]:
    """Run ``fn(events=..., items=...)`` on DuckDB over event rows; return result rows."""

    def _run(fn: Callable[..., Any], rows: list[dict[str, Any]], **kwargs: Any) -> Any:
        events = duck.read_arrow(events_table(rows), "events")
        items = kwargs.pop("items", None)
        if items is not None:
            kwargs["items"] = duck.read_arrow(pa.Table.from_pylist(items), "items")
        return duck.to_arrow(fn(events, **kwargs)).to_pylist()

    return _run
