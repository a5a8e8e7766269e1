"""Customer features for uplift models from canonical ``users`` and ``events`` tables.

One row per user: the user's ``attributes`` JSON object flattened into columns (text values
become categoricals, dates become days before ``as_of``) plus behaviour before ``as_of``:
event counts by type, distinct sessions and items, mean price paid, spend, and days since
the last event. Users without events get zeros and a missing ``days_since_last``.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reclift.errors import SchemaError

EVENT_TYPES_COUNTED = ("view", "click", "cart", "order")


def _attributes(users: pa.Table, as_of: datetime) -> pd.DataFrame:
    ids = users.column("user_id").to_pylist()
    raw = (
        users.column("attributes").to_pylist()
        if "attributes" in users.column_names
        else [None] * len(ids)
    )
    records: list[dict[str, object]] = []
    for i, text in enumerate(raw):
        if text is None or text == "":
            records.append({})
            continue
        try:
            obj = json.loads(text) if isinstance(text, str) else dict(text)
        except (ValueError, TypeError):
            raise SchemaError(f"users: row {i}: attributes is not a JSON object") from None
        records.append(obj if isinstance(obj, dict) else {})
    frame = pd.DataFrame.from_records(records, index=pd.Index(ids, name="user_id"))
    for col in list(frame.columns):
        values = frame[col]
        if not pd.api.types.is_numeric_dtype(values.dtype):
            dates = pd.to_datetime(values, errors="coerce", utc=True, format="ISO8601")
            if dates.notna().sum() and dates.notna().sum() == values.notna().sum():
                frame[col] = (pd.Timestamp(as_of) - dates).dt.days.astype(np.float64)
            elif values.map(lambda v: isinstance(v, bool) or pd.isna(v)).all():
                frame[col] = values.map(lambda v: np.nan if pd.isna(v) else float(v))
            else:
                frame[col] = values.map(lambda v: None if pd.isna(v) else str(v))
    return frame


def customer_features(
    users: pa.Table, events: pa.Table | None = None, *, as_of: datetime | None = None
) -> pd.DataFrame:
    """Feature frame indexed by ``user_id``, shape ``(n_users, n_features)``.

    Parameters
    ----------
    users
        Canonical ``users`` table (``user_id``, ``attributes`` JSON).
    events
        Canonical ``events`` table; only events before ``as_of`` count.
    as_of
        Cut-off (timezone-aware); default: the last event time, else now.
    """
    if "user_id" not in users.column_names:
        raise SchemaError(f"users: missing column 'user_id'; it has {users.column_names}")
    if as_of is None:
        if events is not None and events.num_rows:
            last = pc.max(events.column("ts")).as_py()
            as_of = last if last is not None else datetime.now().astimezone()
        else:
            as_of = datetime.now().astimezone()
    frame = _attributes(users, as_of)
    if events is None or events.num_rows == 0:
        return frame
    import duckdb

    cols = set(events.column_names)
    ev = events.select(
        [
            c
            for c in ("user_id", "session_id", "item_id", "event_type", "ts", "price", "quantity")
            if c in cols
        ]
    )
    sessions = "count(DISTINCT session_id)" if "session_id" in cols else "NULL"
    price = "avg(price)" if "price" in cols else "NULL"
    qty = "coalesce(quantity, 1)" if "quantity" in cols else "1"
    spend = f"sum(CASE WHEN event_type = 'order' THEN price * {qty} ELSE 0 END)"
    if "price" not in cols:
        spend = "0.0"
    counts = ", ".join(
        f"count(*) FILTER (WHERE event_type = '{et}')::DOUBLE AS n_{et}"
        for et in EVENT_TYPES_COUNTED
    )
    # DuckDB aggregates millions of events in well under a second; pandas groupbys do not.
    con = duckdb.connect()
    try:
        con.register("ev", ev)
        feats = con.execute(
            f"""
            SELECT user_id, count(*)::DOUBLE AS n_events, {counts},
                   {sessions}::DOUBLE AS n_sessions, count(DISTINCT item_id)::DOUBLE AS n_items,
                   {price}::DOUBLE AS mean_price, {spend}::DOUBLE AS spend,
                   date_diff('second', max(ts), ?::TIMESTAMPTZ) / 86400.0 AS days_since_last
            FROM ev WHERE user_id IS NOT NULL AND ts < ?::TIMESTAMPTZ GROUP BY user_id
            """,
            [as_of, as_of],
        ).df()
    finally:
        con.close()
    feats = feats.set_index("user_id")
    out = frame.join(feats, how="left")
    zero = [c for c in feats.columns if c.startswith("n_") or c == "spend"]
    out[zero] = out[zero].fillna(0.0)
    return out
