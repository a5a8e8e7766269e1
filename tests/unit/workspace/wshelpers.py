"""Builders of small canonical tables and source files for the workspace tests."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reclift.schema.tables import TABLES

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def events(n: int, *, start: datetime = T0, seed: int = 0, prefix: str = "") -> pa.Table:
    """``n`` valid events, one per minute from ``start``."""
    rng = np.random.default_rng(seed)
    kinds = np.array(["view", "click", "cart", "order"])
    return pa.table(
        {
            "user_id": [f"{prefix}u{i % 97}" for i in range(n)],
            "session_id": [f"{prefix}s{i // 5}" for i in range(n)],
            "item_id": [f"i{int(x)}" for x in rng.integers(0, 50, n)],
            "event_type": kinds[rng.integers(0, 4, n)].tolist(),
            "ts": [start + timedelta(minutes=i) for i in range(n)],
            "quantity": pa.array(rng.integers(1, 4, n), pa.int64()),
            "price": pa.array(np.round(rng.uniform(1, 100, n), 2)),
            "query": [None] * n,
        },
        schema=TABLES["events"].schema,
    )


def items(rows: list[tuple[str, str, float]]) -> pa.Table:
    """Items from ``(item_id, title, price)`` tuples."""
    return pa.table(
        {
            "item_id": [r[0] for r in rows],
            "title": [r[1] for r in rows],
            "category": ["a>b"] * len(rows),
            "brand": ["acme"] * len(rows),
            "price": [r[2] for r in rows],
            "attributes": [json.dumps({"n": i}) for i in range(len(rows))],
        },
        schema=TABLES["items"].schema,
    )


def write_parquet(table: pa.Table, path: Path) -> Path:
    pq.write_table(table, path)
    return path


def write_csv(table: pa.Table, path: Path, *, bad: dict[int, dict[str, str]] | None = None) -> Path:
    """Write ``table`` as CSV (timestamps ISO 8601 with zone); ``bad`` overrides cells by row."""
    bad = bad or {}
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(table.column_names)
        for i, row in enumerate(table.to_pylist()):
            cells = []
            for name, value in row.items():
                if name in bad.get(i, {}):
                    cells.append(bad[i][name])
                elif value is None:
                    cells.append("")
                elif isinstance(value, datetime):
                    cells.append(value.isoformat())
                else:
                    cells.append(str(value))
            writer.writerow(cells)
    return path


def sorted_rows(table: pa.Table) -> list[dict[str, object]]:
    return sorted(table.to_pylist(), key=lambda r: json.dumps(r, sort_keys=True, default=str))
