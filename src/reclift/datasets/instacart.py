"""Instacart Market Basket Analysis (Kaggle 2017), read as-is (the full data or a user subset).

Download::

    kaggle competitions download -c instacart-market-basket-analysis

License: Instacart's terms for the Kaggle competition (non-commercial use).

Files: ``orders.csv`` (order_id, user_id, eval_set prior/train/test, order_number, order_dow,
order_hour_of_day, days_since_prior_order), ``order_products__prior.csv`` and
``order_products__train.csv`` (order_id, product_id, add_to_cart_order, reordered),
``products.csv``, ``aisles.csv``, ``departments.csv``.

Mapping to canonical tables
---------------------------
items
    ``products``: item_id = product_id, title = product_name, category =
    ``"<department>><aisle>"``; attributes hold aisle_id and department_id.
users
    one row per user_id in ``orders`` (attributes ``{"orders": n}``).
events
    one ``order`` per order line (prior and train), session_id = order_id, user_id,
    quantity 1 (Instacart records presence, not quantity), price null.
    **Synthetic timestamps:** Instacart gives no dates, only each order's rank, hour of day
    and days since the user's previous order. Each user's timeline starts on
    2017-01-01T00:00:00Z: order *k* is on day ``sum(days_since_prior_order of orders 2..k)``
    (the first order's missing value counts as 0; the sum is floored to whole days) at
    ``order_hour_of_day`` o'clock UTC, and its lines follow ``add_to_cart_order`` one second
    apart. Gaps between a user's orders are therefore real (capped at 30 days by the data);
    calendar dates and weekdays are not (``order_dow`` is not used), and timelines of
    different users are not aligned.
Extras: ``orders`` (the orders file with its eval_set split, including the ``test`` orders
that have no lines) and ``order_lines`` (order_id, product_id, add_to_cart_order,
reordered, eval_set).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from reclift.datasets._base import (
    DatasetInfo,
    LoadResult,
    build_table,
    int_ids,
    json_strings,
    need_dir,
    need_file,
    read_csv,
)
from reclift.schema.tables import TIMESTAMP

INFO = DatasetInfo(
    name="instacart",
    description="Instacart market baskets (orders, products, aisles, departments)",
    license="non-commercial (Instacart / Kaggle terms)",
    folder="instacart_subset",
    download="kaggle competitions download -c instacart-market-basket-analysis",
    tables=("items", "users", "events"),
    extras=("orders", "order_lines"),
    files=(
        "orders.csv",
        "order_products__prior.csv",
        "products.csv",
        "aisles.csv",
        "departments.csv",
    ),
)

EPOCH = datetime(2017, 1, 1, tzinfo=UTC)
ORDER_COLUMNS = [
    "order_id",
    "user_id",
    "eval_set",
    "order_number",
    "order_dow",
    "order_hour_of_day",
    "days_since_prior_order",
]
LINE_COLUMNS = ["order_id", "product_id", "add_to_cart_order", "reordered"]


def order_times(orders: pd.DataFrame) -> pd.Series:
    """Synthetic UTC epoch microseconds of each order (see the module docstring)."""
    ordered = orders.sort_values(["user_id", "order_number"])
    gap = ordered["days_since_prior_order"].fillna(0).astype("float64")
    first = ordered["order_number"].eq(ordered.groupby("user_id")["order_number"].transform("min"))
    gap = gap.mask(first, 0.0)
    # Whole days: the data holds integral gaps; a fractional one must not shift the hour.
    day = gap.groupby(ordered["user_id"]).cumsum().apply(np.floor)
    hours = ordered["order_hour_of_day"].astype("float64")
    micros = ((day * 86_400 + hours * 3_600) * 1_000_000).round().astype("int64")
    epoch_us = int(EPOCH.timestamp()) * 1_000_000
    return (micros + epoch_us).reindex(orders.index)


def load(path: Path) -> LoadResult:
    """Load Instacart orders and products.

    Parameters
    ----------
    path
        Folder holding the Instacart CSV files.

    Returns
    -------
    LoadResult
        ``items``, ``users``, ``events`` and the extras ``orders`` and ``order_lines``.
    """
    root = need_dir(Path(path), INFO)
    orders = read_csv(need_file(root, "orders.csv", INFO), INFO, ORDER_COLUMNS)
    line_parts = []
    for split in ("prior", "train"):
        name = f"order_products__{split}.csv"
        if split == "prior" or (root / name).is_file():
            part = read_csv(need_file(root, name, INFO), INFO, LINE_COLUMNS)
            line_parts.append(part.assign(eval_set=split))
    lines = pd.concat(line_parts, ignore_index=True)
    products = read_csv(
        need_file(root, "products.csv", INFO),
        INFO,
        ["product_id", "product_name", "aisle_id", "department_id"],
    )
    aisles = read_csv(need_file(root, "aisles.csv", INFO), INFO, ["aisle_id", "aisle"])
    departments = read_csv(
        need_file(root, "departments.csv", INFO), INFO, ["department_id", "department"]
    )
    products = products.merge(aisles, on="aisle_id", how="left").merge(
        departments, on="department_id", how="left"
    )
    category = [
        ">".join(str(p) for p in (d, a) if isinstance(p, str) and p) or None
        for d, a in zip(products["department"], products["aisle"], strict=True)
    ]
    items = build_table(
        "items",
        {
            "item_id": int_ids(products["product_id"]),
            "title": products["product_name"].astype(str).to_numpy(),
            "category": category,
            "attributes": json_strings(
                {"aisle_id": int(a), "department_id": int(d)}
                for a, d in zip(products["aisle_id"], products["department_id"], strict=True)
            ),
        },
    )
    orders["ts_us"] = order_times(orders)
    joined = lines.merge(
        orders[["order_id", "user_id", "ts_us"]], on="order_id", how="inner", validate="m:1"
    )
    orphan = len(lines) - len(joined)
    micros = (
        joined["ts_us"].to_numpy()
        + (joined["add_to_cart_order"].to_numpy(dtype=np.int64) - 1) * 1_000_000
    )
    events = build_table(
        "events",
        {
            "user_id": int_ids(joined["user_id"]),
            "session_id": int_ids(joined["order_id"]),
            "item_id": int_ids(joined["product_id"]),
            "event_type": pa.array(["order"] * len(joined), type=pa.string()),
            "ts": pa.array(micros, type=pa.int64()).cast(TIMESTAMP),
            "quantity": pa.array(np.ones(len(joined), dtype=np.int64)),
        },
    )
    per_user = orders.groupby("user_id").size().sort_index()
    users = build_table(
        "users",
        {
            "user_id": int_ids(per_user.index.to_numpy()),
            "attributes": json_strings({"orders": int(n)} for n in per_user.to_numpy()),
        },
    )
    extras = {
        "orders": pa.Table.from_pandas(
            orders.drop(columns=["ts_us"]).assign(
                ts=pd.to_datetime(orders["ts_us"], unit="us", utc=True)
            ),
            preserve_index=False,
        ),
        "order_lines": pa.Table.from_pandas(lines, preserve_index=False),
    }
    by_split = orders["eval_set"].value_counts().sort_index()
    split_counts = ", ".join(f"{k}={v}" for k, v in by_split.items())
    notes = [
        f"{len(orders)} orders ({split_counts}), {len(lines)} order lines",
        f"synthetic ts: per-user timeline from {EPOCH.date()} (days since prior order + hour)",
    ]
    if orphan:
        notes.append(f"skipped {orphan} order line(s) whose order_id is not in orders.csv")
    return LoadResult(
        tables={"items": items, "users": users, "events": events}, extras=extras, notes=notes
    )
