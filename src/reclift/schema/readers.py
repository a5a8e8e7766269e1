"""Stream raw batches out of CSV, TSV, JSON Lines and Parquet files (each optionally gzipped).

The readers do the file-level checks (missing or empty file, header, column names, encoding,
gzip integrity, record length, JSON syntax) and hand raw, untyped batches to
:mod:`reclift.schema.validate`, which coerces and checks the values.

* CSV/TSV go through pyarrow's streaming CSV reader with every column read as text, so that
  ids keep their leading zeros and every cell can be checked and reported. Only the empty
  cell is null. CSV honours double quotes (a quoted value may span lines); TSV has no quoting.
  When pyarrow gives up (bad UTF-8, a record too long, a wrong number of fields), the file
  is scanned again with Python's ``csv`` module up to that point to name the row and byte.
* JSON Lines are parsed line by line in Python (slower than the Arrow paths; batches are
  capped at :data:`JSONL_BATCH_ROWS` rows to bound memory); values become text (nested
  objects and arrays become JSON text, which only JSON columns accept). Keys absent from a
  line are null; a key outside the table is a file-level error.
* Parquet is read with ``iter_batches``; its column types are kept for
  :func:`reclift.schema.validate.check_arrow_table` to coerce.

No record may be longer than :data:`MAX_RECORD_BYTES`: a larger one fails fast instead of
being buffered.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import shutil
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from reclift.errors import SchemaError
from reclift.schema.problems import DataFileError, check_column_names
from reclift.schema.tables import TableSpec

#: Longest record (line) accepted, in bytes; also the CSV reader's block size.
MAX_RECORD_BYTES = 1 << 20

#: Largest JSON Lines batch (rows are Python objects until they become Arrow columns).
JSONL_BATCH_ROWS = 100_000

#: Canonical format names.
FORMATS: tuple[str, ...] = ("csv", "tsv", "jsonl", "parquet")
_ALIASES = {"json": "jsonl", "ndjson": "jsonl", "pq": "parquet", "tab": "tsv"}
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_ERRORS = (OSError, EOFError, zlib.error)
_READ_ERRORS = (pa.ArrowException, OSError, EOFError, ValueError, zlib.error)


@dataclass
class RawBatch:
    """Untyped rows of one file.

    Attributes
    ----------
    table
        Raw columns (text for CSV/TSV/JSONL; the file's types for Parquet), in file order.
    first_row
        1-based record number of the first row.
    cell_issues
        Problems the reader already found: ``(row offset in batch, column, message)``.
    """

    table: pa.Table
    first_row: int
    cell_issues: list[tuple[int, str, str]] = field(default_factory=list)


def normalise_format(fmt: str) -> str:
    """Map a format name or alias (``json``, ``ndjson``, ``pq``, ``tab``) to :data:`FORMATS`."""
    name = fmt.lower().lstrip(".")
    name = _ALIASES.get(name, name)
    if name not in FORMATS:
        raise SchemaError(f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}")
    return name


def detect_format(path: Path, fmt: str | None = None) -> tuple[str, bool]:
    """The format of ``path`` and whether its name says it is gzipped.

    The format comes from ``fmt`` when given, else from the extension (``.csv``, ``.tsv``,
    ``.jsonl``/``.json``/``.ndjson``, ``.parquet``/``.pq``, each optionally followed by
    ``.gz``).
    """
    name = path.name.lower()
    gz = name.endswith(".gz")
    if gz:
        name = name[:-3]
    if fmt is not None:
        return normalise_format(fmt), gz
    suffix = Path(name).suffix.lstrip(".")
    try:
        return normalise_format(suffix), gz
    except SchemaError:
        raise SchemaError(
            f"{path}: cannot tell the format from the extension; expected .csv, .tsv, .jsonl, "
            ".json, .parquet (optionally .gz), or give the format explicitly",
        ) from None


def iter_raw_batches(
    path: Path, spec: TableSpec, *, fmt: str | None = None, batch_rows: int = 500_000
) -> Iterator[RawBatch]:
    """Yield raw batches of about ``batch_rows`` rows from ``path``.

    Raises
    ------
    DataFileError
        For every file-level problem (possibly after some batches were yielded).
    """
    name = str(path)
    kind, gz_name = detect_format(path, fmt)
    if not path.exists():
        raise DataFileError(name, "no such file")
    if not path.is_file():
        raise DataFileError(name, "not a regular file")
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise DataFileError(name, f"cannot read the file: {exc.strerror or exc}") from None
    if size == 0:
        raise DataFileError(name, "the file is empty (0 bytes)")
    gz = magic.startswith(_GZIP_MAGIC)
    if gz_name and not gz:
        raise DataFileError(name, "not a gzip file (it does not start with the gzip magic bytes)")
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    if kind in ("csv", "tsv"):
        yield from _csv_batches(path, name, spec, kind, gz, batch_rows)
    elif kind == "jsonl":
        yield from _jsonl_batches(path, name, spec, gz, batch_rows)
    else:
        yield from _parquet_batches(path, name, spec, gz, batch_rows)


def _open_binary(path: Path, gz: bool) -> BinaryIO:
    if gz:
        return cast(BinaryIO, gzip.GzipFile(path, "rb"))
    return path.open("rb")


def _gzip_error(name: str, exc: BaseException, rows: int | None = None) -> DataFileError:
    after = "" if rows is None else f" after {rows} rows"
    return DataFileError(name, f"truncated or corrupt gzip data{after}: {exc}")


def _too_long(line_no: int) -> str:
    return f"line {line_no} is longer than the limit of {MAX_RECORD_BYTES} bytes"


# --------------------------------------------------------------------------------------- CSV


def _csv_dialect(kind: str) -> dict[str, Any]:
    if kind == "tsv":
        return {"delimiter": "\t", "quoting": csv.QUOTE_NONE}
    return {"delimiter": ",", "quotechar": '"'}


def _read_header(path: Path, name: str, gz: bool, kind: str) -> list[str]:
    try:
        with _open_binary(path, gz) as fh:
            line = fh.readline(MAX_RECORD_BYTES + 1)
    except _GZIP_ERRORS as exc:
        raise _gzip_error(name, exc) from None
    if not line:
        raise DataFileError(name, "the file is empty (no header line)")
    if len(line) > MAX_RECORD_BYTES:
        raise DataFileError(name, f"the header {_too_long(1)}")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(
            name,
            f"the header line is not valid UTF-8 (byte 0x{line[exc.start]:02x} at offset "
            f"{exc.start})",
        ) from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise DataFileError(name, "the first line is blank; expected a header line")
    try:
        return next(csv.reader([text], **_csv_dialect(kind)))
    except csv.Error as exc:
        raise DataFileError(name, f"cannot parse the header line: {exc}") from None


def _csv_batches(
    path: Path, name: str, spec: TableSpec, kind: str, gz: bool, batch_rows: int
) -> Iterator[RawBatch]:
    header = _read_header(path, name, gz, kind)
    check_column_names(name, header, spec, row=None)
    quoted = kind == "csv"
    read_options = pacsv.ReadOptions(
        column_names=header, skip_rows=1, block_size=MAX_RECORD_BYTES, use_threads=True
    )
    parse_options = pacsv.ParseOptions(
        delimiter="," if quoted else "\t",
        quote_char='"' if quoted else False,
        newlines_in_values=quoted,
        ignore_empty_lines=True,
    )
    convert_options = pacsv.ConvertOptions(
        column_types={h: pa.string() for h in header},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    rows_done = 0
    pending: list[pa.RecordBatch] = []
    pending_rows = 0
    stream = pa.input_stream(str(path), compression="gzip" if gz else None)
    try:
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=convert_options,
            )
        except _READ_ERRORS as exc:
            # A header with no line break after it: Arrow cannot skip the header row.
            if "Could not skip initial" in str(exc):
                raise DataFileError(name, "the file has a header but no data rows") from None
            raise _diagnose_csv(path, name, gz, kind, len(header), 0, exc) from None
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except _READ_ERRORS as exc:
                raise _diagnose_csv(
                    path, name, gz, kind, len(header), rows_done + pending_rows, exc
                ) from None
            if batch.num_rows == 0:
                continue
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= batch_rows:
                yield RawBatch(pa.Table.from_batches(pending), rows_done + 1)
                rows_done += pending_rows
                pending, pending_rows = [], 0
        if pending:
            yield RawBatch(pa.Table.from_batches(pending), rows_done + 1)
            rows_done += pending_rows
    finally:
        stream.close()
    if rows_done == 0:
        raise DataFileError(name, "the file has a header but no data rows")


def _diagnose_csv(
    path: Path, name: str, gz: bool, kind: str, ncols: int, rows_before: int, exc: BaseException
) -> DataFileError:
    """Find the record pyarrow failed on by scanning the file again with Python's csv."""
    if gz and isinstance(exc, OSError) and not isinstance(exc, pa.ArrowException):
        return _gzip_error(name, exc, rows_before)
    state = {"line": 0, "offset": 0}

    class FoundError(Exception):
        def __init__(self, detail: str) -> None:
            super().__init__(detail)
            self.detail = detail

    def lines(fh: IO[bytes]) -> Iterator[str]:
        while True:
            line = fh.readline(MAX_RECORD_BYTES + 1)
            if not line:
                return
            state["line"] += 1
            if len(line) > MAX_RECORD_BYTES:
                raise FoundError(_too_long(state["line"]))
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as err:
                raise FoundError(
                    f"invalid UTF-8 byte 0x{line[err.start]:02x} at byte offset "
                    f"{state['offset'] + err.start} (line {state['line']})"
                ) from None
            state["offset"] += len(line)
            yield text

    record = 0
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(MAX_RECORD_BYTES)
    try:
        with _open_binary(path, gz) as fh:
            reader = csv.reader(lines(fh), **_csv_dialect(kind), strict=True)
            next(reader, None)
            for fields in reader:
                if not fields:
                    continue
                record += 1
                if len(fields) != ncols:
                    return DataFileError(
                        name,
                        f"expected {ncols} fields, got {len(fields)} (line {state['line']})",
                        row=record,
                    )
    except FoundError as found:
        return DataFileError(name, found.detail, row=record + 1)
    except csv.Error as err:
        return DataFileError(name, f"malformed CSV: {err} (line {state['line']})", row=record + 1)
    except _GZIP_ERRORS as err:
        return _gzip_error(name, err, record)
    finally:
        csv.field_size_limit(previous_limit)
    return DataFileError(name, f"cannot parse as {kind.upper()} after row {rows_before}: {exc}")


# ------------------------------------------------------------------------------ JSON Lines


def _json_cell(value: Any, json_column: bool) -> tuple[str | None, str | None]:
    """A JSON value as text, and a message if the column cannot hold it."""
    if value is None or isinstance(value, str):
        return value, None
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, int | float):
        # repr is exact for both and much cheaper than json.dumps.
        return repr(value), None
    text = json.dumps(value, ensure_ascii=False)
    if json_column:
        return text, None
    kind = "object" if isinstance(value, dict) else "array"
    return text, f"expected a single value, got a JSON {kind}"


def _jsonl_batches(
    path: Path, name: str, spec: TableSpec, gz: bool, batch_rows: int
) -> Iterator[RawBatch]:
    expected = spec.columns
    expected_keys = set(expected)
    json_columns = set(spec.json_columns)
    # Python objects are bulky: cap the batch so memory stays bounded whatever batch_rows is.
    batch_rows = min(batch_rows, JSONL_BATCH_ROWS)
    columns: dict[str, list[str | None]] = {c: [] for c in expected}
    issues: list[tuple[int, str, str]] = []
    keys_seen: set[str] = set()
    first_batch = True
    pending = 0
    record = 0
    line_no = 0
    offset = 0

    def flush() -> RawBatch:
        nonlocal first_batch, columns, issues, pending
        if first_batch:
            # Columns absent from every record of the first batch count as missing.
            check_column_names(name, [c for c in expected if c in keys_seen], spec)
            first_batch = False
        table = pa.table(
            {c: pa.array(v, pa.string()) for c, v in columns.items() if c in keys_seen}
        )
        batch = RawBatch(table, record - pending + 1, issues)
        columns = {c: [] for c in expected}
        issues = []
        pending = 0
        return batch

    try:
        with _open_binary(path, gz) as fh:
            while True:
                line = fh.readline(MAX_RECORD_BYTES + 1)
                if not line:
                    break
                line_no += 1
                start = offset
                offset += len(line)
                if len(line) > MAX_RECORD_BYTES:
                    raise DataFileError(name, _too_long(line_no), row=record + 1)
                if line.isspace():
                    continue
                record += 1
                obj = _parse_json_line(name, line, line_no, record, start)
                if not obj.keys() <= expected_keys:
                    unknown = [k for k in obj if k not in expected_keys]
                    raise DataFileError(
                        name,
                        f"unknown key(s): {', '.join(repr(k) for k in unknown)}; table "
                        f"{spec.name} expects: {', '.join(expected)}",
                        row=record,
                    )
                if first_batch:
                    keys_seen.update(obj)
                for column, values in columns.items():
                    value = obj.get(column)
                    if value is not None and type(value) is not str:
                        value, problem = _json_cell(value, column in json_columns)
                        if problem is not None:
                            issues.append((pending, column, problem))
                    values.append(value)
                pending += 1
                if pending >= batch_rows:
                    yield flush()
    except _GZIP_ERRORS as exc:
        raise _gzip_error(name, exc, record) from None
    if pending:
        yield flush()
    if record == 0:
        raise DataFileError(name, "the file has no records (only blank lines)")


def _parse_json_line(name: str, line: bytes, line_no: int, record: int, start: int) -> Any:
    try:
        obj = json.loads(line.decode("utf-8").rstrip("\r\n"))
    except UnicodeDecodeError as err:
        raise DataFileError(
            name,
            f"invalid UTF-8 byte 0x{line[err.start]:02x} at byte offset {start + err.start} "
            f"(line {line_no})",
            row=record,
        ) from None
    except json.JSONDecodeError as err:
        raise DataFileError(
            name, f"invalid JSON on line {line_no}: {err.msg} (column {err.colno})", row=record
        ) from None
    except RecursionError:
        raise DataFileError(name, f"JSON nested too deeply on line {line_no}", row=record) from None
    if not isinstance(obj, dict):
        kind = "array" if isinstance(obj, list) else type(obj).__name__
        raise DataFileError(
            name,
            f"line {line_no} holds a JSON {kind}; JSON Lines need one object per line",
            row=record,
        )
    return obj


# ---------------------------------------------------------------------------------- Parquet


def _parquet_batches(
    path: Path, name: str, spec: TableSpec, gz: bool, batch_rows: int
) -> Iterator[RawBatch]:
    with contextlib.ExitStack() as stack:
        source: str | Path = path
        if gz:
            # Parquet needs random access: inflate to a temporary file first.
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="reclift-pq-"))
            source = Path(tmp) / "data.parquet"
            try:
                with gzip.open(path, "rb") as src, source.open("wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except _GZIP_ERRORS as exc:
                raise _gzip_error(name, exc) from None
            if Path(source).stat().st_size == 0:
                raise DataFileError(name, "the file is empty (0 bytes after gunzip)")
        try:
            parquet = stack.enter_context(pq.ParquetFile(source))
            names = parquet.schema_arrow.names
        except _READ_ERRORS as exc:
            raise DataFileError(name, f"not a readable Parquet file: {exc}") from None
        check_column_names(name, names, spec)
        row = 1
        batches = parquet.iter_batches(batch_size=batch_rows)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except _READ_ERRORS as exc:
                raise DataFileError(
                    name, f"cannot read Parquet data after row {row - 1}: {exc}"
                ) from None
            if batch.num_rows == 0:
                continue
            yield RawBatch(pa.Table.from_batches([batch]), row)
            row += batch.num_rows
        if row == 1:
            raise DataFileError(name, "the file has no data rows")
