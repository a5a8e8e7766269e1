"""Arrow helpers and streaming Parquet writers with deterministic row groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

TS_TYPE = pa.timestamp("us", tz="UTC")

# Fixed writer options: the same rows always give the same bytes.
_WRITE_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
}


def padded_ids(prefix: str, numbers: npt.NDArray[np.int64], width: int) -> pa.Array:
    """Ids such as ``u0000042`` built in Arrow (no Python loop).

    Parameters
    ----------
    prefix
        Text before the number.
    numbers
        Non-negative integers, shape (n,).
    width
        Zero-padded width of the number.
    """
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def join_strings(*parts: Any) -> pa.Array:
    """Concatenate string arrays and scalars element-wise (nulls propagate)."""
    return pc.binary_join_element_wise(*parts, "")


def take(values: pa.Array, indices: npt.NDArray[np.int64]) -> pa.Array:
    """``values[indices]`` as an Arrow array."""
    return pc.take(values, pa.array(indices, type=pa.int64()))


def ts_array(us: npt.NDArray[np.int64]) -> pa.Array:
    """Microseconds since the epoch -> ``timestamp[us, UTC]``."""
    return pa.array(np.asarray(us, dtype=np.int64), type=pa.int64()).cast(TS_TYPE)


def masked(values: pa.Array, mask: npt.NDArray[np.bool_]) -> pa.Array:
    """``values`` where ``mask`` holds, null elsewhere."""
    return pc.if_else(pa.array(mask), values, pa.scalar(None, type=values.type))


class RowGroupWriter:
    """Stream tables into one Parquet file in row groups of exactly ``rows`` rows.

    Buffering to a fixed row-group size makes the file's bytes depend only on its rows, not on
    how the generator happened to chunk them.
    """

    def __init__(self, path: Path, schema: pa.Schema, rows: int) -> None:
        self.path = path
        self.schema = schema
        self.rows = rows
        self.count = 0
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(str(path), schema, **_WRITE_OPTIONS)

    def write(self, table: pa.Table) -> None:
        """Append rows (cast to the writer's schema)."""
        if table.num_rows == 0:
            return
        table = table.select(self.schema.names).cast(self.schema)
        self._buffer.append(table)
        self._buffered += table.num_rows
        self.count += table.num_rows
        if self._buffered >= self.rows:
            whole = pa.concat_tables(self._buffer)
            n_full = (whole.num_rows // self.rows) * self.rows
            for start in range(0, n_full, self.rows):
                self._writer.write_table(whole.slice(start, self.rows), row_group_size=self.rows)
            rest = whole.slice(n_full)
            self._buffer = [rest] if rest.num_rows else []
            self._buffered = rest.num_rows

    def close(self) -> int:
        """Flush the last row group and close; returns the number of rows written."""
        if self._buffered:
            self._writer.write_table(pa.concat_tables(self._buffer), row_group_size=self.rows)
        self._buffer = []
        self._buffered = 0
        self._writer.close()
        return self.count


def write_table(path: Path, table: pa.Table, schema: pa.Schema, rows: int) -> int:
    """Write a whole table through :class:`RowGroupWriter`."""
    writer = RowGroupWriter(path, schema, rows)
    writer.write(table)
    return writer.close()


def write_json(path: Path, payload: Any) -> None:
    """Write JSON with sorted keys (deterministic bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def sort_parquet(
    src: Path,
    dst: Path,
    schema: pa.Schema,
    order_by: list[str],
    rows: int,
    tmp_dir: Path,
) -> int:
    """Sort a Parquet file out of core with DuckDB and write it with ``schema``.

    ``order_by`` must give a total order (list every column when ties are possible) so the
    output is identical whatever the thread count.
    """
    import duckdb

    tmp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": "512MB", "temp_directory": str(tmp_dir)})
    try:
        con.execute("SET TimeZone = 'UTC'")
        cols = ", ".join(_ident(c) for c in schema.names)
        keys = ", ".join(f"{_ident(c)} ASC NULLS FIRST" for c in order_by)
        src_sql = str(src).replace("'", "''")
        reader = con.sql(
            f"SELECT {cols} FROM read_parquet('{src_sql}') ORDER BY {keys}"
        ).to_arrow_reader(rows)
        writer = RowGroupWriter(dst, schema, rows)
        for batch in reader:
            writer.write(pa.Table.from_batches([batch]))
        return writer.close()
    finally:
        con.close()


def _ident(name: str) -> str:
    """A DuckDB identifier for ``name`` (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'
