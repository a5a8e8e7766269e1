"""Shared building blocks of the public-data-set loaders.

Every loader reads a data set in its original public format and returns canonical tables
(:mod:`reclift.schema.tables`) whose Arrow schema is exactly ``TABLES[name].schema``. Helpers
here build those tables, resolve where the files are and turn a missing or malformed file
into a :class:`DatasetError` that names the path and the command that downloads the data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from reclift.errors import ReclifError
from reclift.schema.tables import TABLES, TIMESTAMP

DATA_DIR_ENV = "RECLIFT_DATA_DIR"


class DatasetError(ReclifError):
    """A public data set that is missing, incomplete or not in its documented format."""


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about one public data set.

    Attributes
    ----------
    name
        Registry name, e.g. ``"movielens-100k"``.
    description
        One line on what the data is.
    license
        The license as stated by the publisher.
    folder
        Default folder name under the data directory (``../shared/data`` or
        ``$RECLIFT_DATA_DIR``).
    download
        The command a user runs to get the files (reclift never downloads at run time).
    tables
        Canonical tables the loader yields.
    extras
        Non-canonical tables the loader also exposes (raw ratings, official splits, ...).
    files
        Files (relative to the folder) that must exist for the data set to count as present.
    """

    name: str
    description: str
    license: str
    folder: str
    download: str
    tables: tuple[str, ...]
    extras: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


@dataclass
class LoadResult:
    """What a loader returns.

    Attributes
    ----------
    tables
        Canonical tables by name, each with exactly ``TABLES[name].schema``.
    extras
        Non-canonical companion tables (e.g. raw ratings, split assignments).
    notes
        Human-readable remarks on decisions taken while loading (rows skipped and why).
    """

    tables: dict[str, pa.Table]
    extras: dict[str, pa.Table] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_data_dir() -> Path:
    """Directory holding the public data sets.

    ``$RECLIFT_DATA_DIR`` when set; otherwise ``../shared/data`` beside a source checkout
    when it exists, else ``../shared/data`` relative to the working directory.
    """
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    if checkout.is_dir():
        return checkout
    return Path.cwd().parent / "shared" / "data"


def need_file(root: Path, name: str, info: DatasetInfo) -> Path:
    """Return ``root / name`` or raise a :class:`DatasetError` naming it and the download."""
    path = root / name
    if not path.is_file():
        raise DatasetError(
            f"{info.name}: file not found: {path}",
            hint=f"download the data set with: {info.download}",
        )
    return path


def need_dir(root: Path, info: DatasetInfo) -> Path:
    """Check that the data set folder exists."""
    if not root.is_dir():
        raise DatasetError(
            f"{info.name}: folder not found: {root}",
            hint=f"download the data set with: {info.download}",
        )
    return root


def read_csv(path: Path, info: DatasetInfo, columns: Sequence[str], **kwargs: Any) -> pd.DataFrame:
    """Read a CSV with pandas and check that ``columns`` are present.

    Parse failures and missing columns become :class:`DatasetError` naming the file.
    """
    try:
        frame: pd.DataFrame = pd.read_csv(path, **kwargs)
    except (ValueError, UnicodeDecodeError, OSError, EOFError) as exc:
        raise DatasetError(f"{info.name}: cannot read {path}: {exc}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetError(
            f"{info.name}: {path} lacks column(s) {', '.join(missing)}; "
            f"found {', '.join(map(str, frame.columns))}",
            hint=f"expected the original public format; download with: {info.download}",
        )
    return frame


def json_strings(records: Iterable[Mapping[str, Any]], *, clean: bool = True) -> list[str]:
    """Serialise records as compact JSON objects with sorted keys (stable bytes).

    ``clean=False`` skips turning numpy scalars and NaN into plain values, for records the
    caller built from plain Python values only (much faster on wide records).
    """
    encoder = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    if clean:
        return [encoder.encode(_plain(r)) for r in records]
    return [encoder.encode(r) for r in records]


def _plain(value: Any) -> Any:
    """Turn numpy scalars and NaN into JSON-friendly Python values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def frame_records(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    """JSON objects of ``columns`` for every row of ``frame`` (NaN -> null)."""
    sub = frame[list(columns)].astype(object)
    sub = sub.where(sub.notna(), None)
    records = [dict(zip(columns, row, strict=True)) for row in sub.itertuples(index=False)]
    try:
        # object columns already hold Python scalars; clean only if something is not plain
        return json_strings(records, clean=False)
    except (TypeError, ValueError):
        return json_strings(records)


def utc_from_epoch(values: Any, unit: str) -> pa.Array:
    """UTC microsecond timestamps from epoch numbers in ``unit`` (``"s"``, ``"ms"``, ``"us"``)."""
    arr = np.asarray(values)
    factor = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]
    if arr.dtype.kind == "f":
        micros = np.round(arr.astype(np.float64) * factor).astype(np.int64)
    else:
        micros = arr.astype(np.int64) * factor
    return pa.array(micros, type=pa.int64()).cast(TIMESTAMP)


def utc_from_series(series: pd.Series) -> pa.Array:
    """UTC microsecond timestamps from a tz-aware pandas datetime series."""
    converted = series.dt.tz_convert("UTC").astype("datetime64[us, UTC]")
    return pa.array(converted, type=TIMESTAMP)


def constant_ts(moment: datetime, n: int) -> pa.Array:
    """``n`` copies of one UTC instant."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return pa.array([moment] * n, type=TIMESTAMP)


def build_table(name: str, columns: Mapping[str, Any], *, sort: bool = True) -> pa.Table:
    """Assemble a canonical table with exactly ``TABLES[name].schema``.

    Parameters
    ----------
    name
        Canonical table name.
    columns
        Column name -> array-like; columns of the schema not given are all null. The
        number of rows is taken from the first given column.
    sort
        Sort rows by the table's ``order_by`` so output is deterministic.
    """
    spec = TABLES[name]
    unknown = set(columns) - set(spec.columns)
    if unknown:
        raise ValueError(f"{name}: not canonical columns: {sorted(unknown)}")
    n = len(next(iter(columns.values())))
    arrays = []
    for fld in spec.schema:
        if fld.name in columns:
            arr = columns[fld.name]
            if isinstance(arr, pa.ChunkedArray):
                arr = arr.combine_chunks()
            if not isinstance(arr, pa.Array):
                arr = pa.array(arr, type=fld.type, from_pandas=True)
            elif arr.type != fld.type:
                arr = arr.cast(fld.type)
        else:
            arr = pa.nulls(n, type=fld.type)
        if len(arr) != n:
            raise ValueError(f"{name}.{fld.name}: {len(arr)} values, expected {n}")
        if not fld.nullable and arr.null_count:
            raise ValueError(f"{name}.{fld.name}: {arr.null_count} nulls in a required column")
        arrays.append(arr)
    table = pa.Table.from_arrays(arrays, schema=spec.schema)
    if sort and spec.order_by and table.num_rows:
        table = table.sort_by([(c, "ascending") for c in spec.order_by])
    return table


def int_ids(values: Any) -> pa.Array:
    """String ids from integer-valued input (``12.0`` -> ``"12"``); NaN -> null."""
    series = pd.Series(values)
    if series.dtype.kind == "f":
        series = series.astype("Int64")
    out = series.astype("string")
    return pa.array(out, type=pa.string(), from_pandas=True)


def str_ids(values: Any) -> pa.Array:
    """String ids (stripped); empty strings and NaN -> null."""
    series = pd.Series(values, dtype="string").str.strip()
    series = series.mask(series == "")
    return pa.array(series, type=pa.string(), from_pandas=True)


def check_choice(option: str, value: str, choices: Sequence[str], info: DatasetInfo) -> str:
    """Validate a string option of a loader."""
    if value not in choices:
        raise DatasetError(f"{info.name}: {option}={value!r} is not one of: {', '.join(choices)}")
    return value
