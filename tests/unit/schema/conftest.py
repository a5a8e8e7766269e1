"""Writers for canonical tables in every supported file format."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.schema.tables import TABLES

FORMATS = ("csv", "tsv", "jsonl", "parquet")


def sample_table(name: str, rows: int = 3) -> pa.Table:
    """A valid table of ``rows`` rows; the last row has nulls in every nullable column."""
    spec = TABLES[name]
    base = dt.datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=dt.UTC)
    columns: dict[str, list[Any]] = {}
    for field in spec.schema:
        values: list[Any] = []
        for i in range(rows):
            if field.nullable and i == rows - 1 and rows > 1:
                values.append(None)
            elif field.name in spec.enums:
                allowed = spec.enums[field.name]
                values.append(allowed[i % len(allowed)])
            elif field.name in spec.json_columns:
                values.append(json.dumps({"k": i, "name": f"n{i}"}))
            elif pa.types.is_timestamp(field.type):
                values.append(base + dt.timedelta(hours=i, seconds=i))
            elif pa.types.is_int64(field.type):
                values.append(i * 7)
            elif pa.types.is_float64(field.type):
                values.append(0.5 if field.name == "propensity" else i + 0.25)
            elif pa.types.is_boolean(field.type):
                values.append(i % 2 == 0)
            else:
                values.append(f'{field.name}-{i}, "q" é')
        columns[field.name] = values
    return pa.Table.from_pydict(columns, schema=spec.schema)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def write_table(table: pa.Table, path: Path, fmt: str, *, gz: bool = False) -> Path:
    """Write ``table`` to ``path`` in ``fmt`` (optionally gzipped)."""
    rows = table.to_pylist()
    if fmt == "parquet":
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        data = buffer.getvalue()
    elif fmt == "jsonl":
        lines = []
        for row in rows:
            obj = {}
            for key, value in row.items():
                if isinstance(value, dt.datetime):
                    value = value.isoformat()
                elif key in ("attributes", "context") and value is not None:
                    value = json.loads(value)  # nested objects are accepted too
                obj[key] = value
            lines.append(json.dumps(obj, ensure_ascii=False))
        data = ("\n".join(lines) + "\n").encode()
    elif fmt == "tsv":
        lines = ["\t".join(table.column_names)]
        lines += ["\t".join(_text(v) for v in row.values()) for row in rows]
        data = ("\n".join(lines) + "\n").encode()
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in rows:
            writer.writerow([_text(v) for v in row.values()])
        data = out.getvalue().encode()
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


class Samples:
    """What the ``samples`` fixture hands to tests."""

    formats = FORMATS
    sample_table = staticmethod(sample_table)
    write_table = staticmethod(write_table)


@pytest.fixture(scope="session")
def samples() -> type[Samples]:
    return Samples
