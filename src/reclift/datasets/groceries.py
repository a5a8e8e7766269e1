"""Groceries (arules): 9,835 point-of-sale baskets over 169 product categories.

Download (the CSV export of the ``Groceries`` data of the R package arules)::

    curl -L -o groceries.csv \\
      https://raw.githubusercontent.com/stedy/Machine-Learning-with-R-datasets/master/groceries.csv

or in R: ``library(arules); data(Groceries); write(Groceries, "groceries.csv", format =
"basket", sep = ",")``. License: public domain (as distributed with arules; Hahsler,
Hornik and Reutterer 2006).

Format: one basket a line, items separated by commas, no header.

Mapping to canonical tables
---------------------------
items
    one row per distinct category name (whitespace-stripped); ``item_id`` = ``title`` = the
    name (e.g. ``"whole milk"``).
events
    one ``order`` per (basket, item), quantity 1 (the data has presence only, a repeated
    name in one line is counted once), user_id null (baskets are anonymous), session_id =
    ``"basket-NNNNN"`` with the basket's 1-based line number (5 digits, zero-padded, so
    string order is file order). **Synthetic timestamps:** the data has no times (one month
    of sales, dates unknown); basket *n* (1-based line number) gets
    2000-01-01T00:00:00Z + (n - 1) minutes, so time order is file order and every event of a
    basket shares its ts. Do not read time-of-day or trend effects into them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from reclift.datasets._base import (
    DatasetError,
    DatasetInfo,
    LoadResult,
    build_table,
    need_file,
)
from reclift.schema.tables import TIMESTAMP

INFO = DatasetInfo(
    name="groceries",
    description="Groceries (arules): 9,835 baskets over 169 categories, one basket a line",
    license="public domain",
    folder="groceries_arules",
    download=(
        "curl -L -o groceries.csv https://raw.githubusercontent.com/stedy/"
        "Machine-Learning-with-R-datasets/master/groceries.csv"
    ),
    tables=("items", "events"),
    files=("groceries.csv",),
)

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
STEP_US = 60_000_000


def read_baskets(source: Path) -> list[list[str]]:
    """Baskets as lists of stripped item names, duplicates within a basket removed."""
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"groceries: {source} is not UTF-8 text: {exc}") from None
    baskets = []
    for line in text.splitlines():
        names = [n.strip() for n in line.split(",")]
        baskets.append(list(dict.fromkeys(n for n in names if n)))
    while baskets and not baskets[-1]:
        baskets.pop()
    return baskets


def load(path: Path, *, file: str = "groceries.csv") -> LoadResult:
    """Load the Groceries baskets.

    Parameters
    ----------
    path
        Folder holding ``groceries.csv`` (or the file itself).
    file
        File name inside the folder.

    Returns
    -------
    LoadResult
        ``items`` (169 rows on the original data) and ``events`` (one order per basket item).
    """
    source = Path(path)
    source = source if source.is_file() else need_file(source, file, INFO)
    baskets = read_baskets(source)
    if not baskets:
        raise DatasetError(f"groceries: {source} holds no basket")
    empty = sum(1 for b in baskets if not b)
    sizes = np.array([len(b) for b in baskets], dtype=np.int64)
    line_no = np.repeat(np.arange(1, len(baskets) + 1), sizes)
    names = [n for b in baskets for n in b]
    epoch_us = int(EPOCH.timestamp()) * 1_000_000
    ts = pa.array(epoch_us + (line_no - 1) * STEP_US, type=pa.int64()).cast(TIMESTAMP)
    width = max(5, len(str(len(baskets))))
    events = build_table(
        "events",
        {
            "session_id": [f"basket-{n:0{width}d}" for n in line_no],
            "item_id": names,
            "event_type": pa.array(["order"] * len(names), type=pa.string()),
            "ts": ts,
            "quantity": pa.array(np.ones(len(names), dtype=np.int64)),
        },
    )
    distinct = sorted(set(names))
    items = build_table("items", {"item_id": distinct, "title": distinct})
    notes = [
        f"{len(baskets)} baskets, {len(names)} basket items, {len(distinct)} distinct items",
        f"synthetic ts: {EPOCH.isoformat()} + (line - 1) minutes",
    ]
    if empty:
        notes.append(f"{empty} empty line(s) inside the file produced no events")
    return LoadResult(tables={"items": items, "events": events}, notes=notes)
