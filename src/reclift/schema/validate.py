"""Check data against the canonical tables: coerce every column, reject bad rows, say why.

Two levels of problems:

* **File level** (the whole file is unusable): missing or empty file, header without data,
  missing required or unknown columns, non-UTF-8 bytes, truncated gzip, a record longer than
  :data:`~reclift.schema.readers.MAX_RECORD_BYTES`, invalid JSON Lines, unreadable Parquet,
  a column whose type cannot hold the canonical type (e.g. a naive Arrow timestamp). These
  raise :class:`~reclift.schema.problems.DataFileError`, a
  :class:`~reclift.errors.SchemaError` whose message reads ``FILE[:ROW][:COLUMN]: detail``.
* **Row level** (the row is rejected, the others go on): a missing value in a required
  column, a value that does not parse as its type, a negative value in a ``non_negative``
  column, a value outside (0, 1] in an ``open_unit_interval`` column, an unknown enum value,
  a JSON column that does not hold a JSON object, a duplicate key, a spreadsheet-formula
  cell. Each becomes a :class:`~reclift.schema.problems.Problem` naming file, row and column.

Rows are numbered from 1 as data records (the header is not a record; blank lines are not
counted); numbers stay right across batches.

Duplicate keys: within one file (or one call of :func:`check_arrow_table`), the first
*accepted* row with a key wins; later rows with that key are rejected, naming the row of the
first. A row rejected for another reason does not claim its key.

Spreadsheet formulas (CSV injection): a cell of a text column (not JSON or enum columns) is
refused when, after optional leading whitespace, it starts with ``=`` followed by anything,
with ``@`` followed by a function call (``@SUM(``), or with ``+``/``-`` followed by a letter,
``(``, ``=`` or ``@`` and later containing ``(``, ``|`` or ``!`` (``+cmd|' /C calc'!A0``).
So ``-``, ``+49 shoes``, ``-5`` and ``@home`` pass; numeric columns are never checked (a
negative number is a number).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.errors import SchemaError
from reclift.schema.coerce import (
    ColumnTypeError,
    Issue,
    leading_byte_mask,
    to_bool,
    to_float64,
    to_int64,
    to_mask,
    to_string,
)
from reclift.schema.problems import (
    DataFileError,
    Problem,
    check_column_names,
    show,
)
from reclift.schema.readers import iter_raw_batches
from reclift.schema.tables import TableSpec, get_table
from reclift.schema.timeparse import TIME_UNITS, to_timestamp

__all__ = [
    "REJECTED_SCHEMA",
    "CheckState",
    "CheckedBatch",
    "DataFileError",
    "Problem",
    "ValidationReport",
    "check_arrow_table",
    "iter_checked_batches",
    "validate_file",
]

#: Columns of :attr:`CheckedBatch.rejected`.
REJECTED_SCHEMA = pa.schema(
    [
        pa.field("_file", pa.string(), nullable=False),
        pa.field("_row", pa.int64(), nullable=False),
        pa.field("_column", pa.string()),
        pa.field("_reason", pa.string(), nullable=False),
        pa.field("_raw", pa.string(), nullable=False),
    ]
)

# A leading sign is only dangerous with something a spreadsheet would execute after it: a
# pipe (DDE), a sheet reference ("!A0") or a function call, wherever it comes ("+1+cmd|...").
FORMULA_RE = (
    r"^\s*(=.+|@[A-Za-z_][A-Za-z0-9_.]*\(|[+-][A-Za-z_(=@].*[(|!]"
    r"|[+-].*(\||![$]?[A-Za-z]{1,3}[$]?\d|[A-Za-z_][A-Za-z0-9_.]*\())"
)
FORMULA_MESSAGE = "(refused: it could run code when the file is opened in a spreadsheet)"
REQUIRED_MESSAGE = "a value is required (the cell is empty or null)"


@dataclass
class CheckedBatch:
    """The outcome of checking one batch of rows.

    Attributes
    ----------
    accepted
        Good rows, exactly ``TABLES[table].schema``, in input order.
    rejected
        One row per rejected input row (:data:`REJECTED_SCHEMA`): ``_file``, ``_row``,
        ``_column`` (the offending columns, comma-separated; null for a whole-row problem),
        ``_reason`` (every problem of the row, ``"; "``-separated) and ``_raw`` (the row's
        raw values as a JSON object).
    problems
        One per problem, ordered by row then column position.
    rows_read
        Input rows; always ``accepted.num_rows + rejected.num_rows``.
    """

    accepted: pa.Table
    rejected: pa.Table
    problems: list[Problem]
    rows_read: int


@dataclass
class CheckState:
    """What carries over between successive chunks of one source.

    Pass the same instance to every :func:`check_arrow_table` call for one source (e.g. the
    pages of a PostgreSQL query) so that epoch units stay as first detected and duplicate
    keys are found across chunks, as :func:`iter_checked_batches` does for files.
    """

    units: dict[str, str] = field(default_factory=dict)
    trackers: dict[str, _KeyTracker] = field(default_factory=dict)

    def tracker(self, spec: TableSpec) -> _KeyTracker | None:
        """The key tracker of ``spec`` (None for tables without a key)."""
        if not spec.key:
            return None
        if spec.name not in self.trackers:
            self.trackers[spec.name] = _KeyTracker(spec.key)
        return self.trackers[spec.name]


@dataclass
class ValidationReport:
    """What :func:`validate_file` found.

    Attributes
    ----------
    file, table
        What was checked against what.
    rows_read, rows_ok
        Rows read and rows accepted (for a fatal file: those read before the fatal problem).
    problems
        The problems (at most ``max_problems``), file-level last.
    fatal
        Whether a file-level problem stopped the check.
    problem_count
        Number of problems found, including those beyond ``max_problems``.
    """

    file: str
    table: str
    rows_read: int
    rows_ok: int
    problems: list[Problem]
    fatal: bool
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        """True when the file was read completely and every row was accepted."""
        return not self.fatal and self.problem_count == 0 and self.rows_ok == self.rows_read

    @property
    def rows_rejected(self) -> int:
        """Rows read but not accepted."""
        return self.rows_read - self.rows_ok

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict of the report."""
        return {
            "file": self.file,
            "table": self.table,
            "ok": self.ok,
            "fatal": self.fatal,
            "rows_read": self.rows_read,
            "rows_ok": self.rows_ok,
            "rows_rejected": self.rows_rejected,
            "problem_count": self.problem_count,
            "problems": [
                {"file": p.file, "row": p.row, "column": p.column, "message": p.message}
                for p in self.problems
            ],
        }


def _check_time_unit(time_unit: str) -> None:
    if time_unit not in TIME_UNITS:
        raise SchemaError(f"time unit must be one of {', '.join(TIME_UNITS)}, not {time_unit!r}")


def iter_checked_batches(
    source: str | Path,
    table: str,
    *,
    time_unit: str = "auto",
    batch_rows: int = 500_000,
    fmt: str | None = None,
) -> Iterator[CheckedBatch]:
    """Read a file in batches and check every row against ``TABLES[table]``.

    Parameters
    ----------
    source
        A ``.csv``, ``.tsv``, ``.jsonl``/``.json``, ``.parquet`` file, optionally ``.gz``.
    table
        Name of the canonical table.
    time_unit
        ``"auto"`` (detect epoch seconds/milliseconds/microseconds per column), ``"s"``,
        ``"ms"`` or ``"us"``.
    batch_rows
        Rows per batch (about; CSV batches are whole read blocks).
    fmt
        Format override (``csv``, ``tsv``, ``jsonl``, ``parquet``); default: from the name.

    Yields
    ------
    CheckedBatch
        Row numbers continue across batches; duplicate keys are tracked across batches.

    Raises
    ------
    DataFileError
        A file-level problem (possibly after some batches were yielded).
    SchemaError
        An unknown table, format or time unit.
    """
    spec = get_table(table)
    _check_time_unit(time_unit)
    path = Path(source)
    state = CheckState()
    for raw in iter_raw_batches(path, spec, fmt=fmt, batch_rows=batch_rows):
        yield _check(
            raw.table,
            spec,
            source=str(source),
            first_row=raw.first_row,
            time_unit=time_unit,
            units=state.units,
            tracker=state.tracker(spec),
            reader_issues=raw.cell_issues,
        )


def check_arrow_table(
    raw: pa.Table,
    table: str,
    *,
    source: str,
    first_row: int = 1,
    time_unit: str = "auto",
    state: CheckState | None = None,
) -> CheckedBatch:
    """Check an in-memory table (e.g. rows fetched from PostgreSQL) against ``TABLES[table]``.

    Parameters
    ----------
    raw
        ``n`` rows; columns named as in the canonical table (nullable ones may be absent) of
        any Arrow type that can be coerced: text, integers, floats, decimals, booleans,
        timestamps with a zone, nested values for JSON columns.
    table
        Name of the canonical table.
    source
        Name used in problems (a file name, ``postgresql://.../table``, ...).
    first_row
        Number of the first row (so that successive chunks keep counting).
    time_unit
        As in :func:`iter_checked_batches`.
    state
        Shared across the chunks of one source (see :class:`CheckState`); default: a fresh
        one, i.e. ``raw`` is checked on its own.

    Raises
    ------
    DataFileError
        Missing/unknown columns, or a column type that cannot hold its canonical type.
    """
    spec = get_table(table)
    _check_time_unit(time_unit)
    check_column_names(source, raw.column_names, spec)
    state = CheckState() if state is None else state
    return _check(
        raw,
        spec,
        source=source,
        first_row=first_row,
        time_unit=time_unit,
        units=state.units,
        tracker=state.tracker(spec),
        reader_issues=[],
    )


def validate_file(
    source: str | Path,
    table: str,
    *,
    time_unit: str = "auto",
    max_problems: int | None = None,
    fmt: str | None = None,
    batch_rows: int = 500_000,
) -> ValidationReport:
    """Check a whole file and report every problem; never raises for bad data.

    A file-level problem ends the check and becomes the last problem (row and column where
    known) with ``fatal=True``.

    Raises
    ------
    SchemaError
        Only for usage errors: unknown table, format or time unit.
    """
    spec = get_table(table)
    _check_time_unit(time_unit)
    report = ValidationReport(
        file=str(source), table=spec.name, rows_read=0, rows_ok=0, problems=[], fatal=False
    )

    def add(problems: Sequence[Problem]) -> None:
        report.problem_count += len(problems)
        room = len(problems) if max_problems is None else max_problems - len(report.problems)
        report.problems.extend(problems[: max(room, 0)])

    try:
        for batch in iter_checked_batches(
            source, table, time_unit=time_unit, batch_rows=batch_rows, fmt=fmt
        ):
            report.rows_read += batch.rows_read
            report.rows_ok += batch.accepted.num_rows
            add(batch.problems)
    except DataFileError as exc:
        report.fatal = True
        report.problem_count += 1
        # The fatal problem is always kept, even beyond max_problems.
        report.problems.append(exc.as_problem())
    return report


# ------------------------------------------------------------------------------ internals


@dataclass
class _Flag:
    """Rows of one column flagged by one check."""

    position: int
    column: str | None
    mask: np.ndarray
    message: Callable[[int], str]


@dataclass
class _KeyTracker:
    """Keys of accepted rows seen so far, with the row that claimed each."""

    columns: tuple[str, ...]
    keys: list[pa.Array] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)

    def key_array(self, values: MutableMapping[str, pa.Array]) -> pa.Array:
        parts = [pc.cast(values[c], pa.string()) for c in self.columns]
        if len(parts) == 1:
            return pc.fill_null(parts[0], "\x00").combine_chunks()
        joined = pc.binary_join_element_wise(
            *parts, "\x1f", null_handling="replace", null_replacement="\x00"
        )
        return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined

    def check(
        self, values: MutableMapping[str, pa.Array], candidates: np.ndarray, first_row: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Flag duplicates among ``candidates``; returns (mask, row of the first) per row."""
        n = len(candidates)
        duplicate = np.zeros(n, dtype=bool)
        first_seen = np.full(n, -1, dtype=np.int64)
        index = np.flatnonzero(candidates)
        if len(index) == 0:
            return duplicate, first_seen
        keys = self.key_array(values).take(pa.array(index))
        rows = first_row + index.astype(np.int64)
        first = np.full(len(index), -1, dtype=np.int64)
        # Hash only this batch's keys and probe the earlier ones with them.
        for old_keys, old_rows in zip(self.keys, self.rows, strict=True):
            hit = to_mask(pc.is_in(old_keys, value_set=keys))
            if not hit.any():
                continue
            hit_keys = old_keys.filter(pa.array(hit))
            position = pc.fill_null(pc.index_in(keys, value_set=hit_keys), -1).to_numpy(
                zero_copy_only=False
            )
            found = (position >= 0) & (first < 0)
            first[found] = old_rows[hit][position[found]]
        position = pc.index_in(keys, value_set=keys).to_numpy(zero_copy_only=False)
        within = (position != np.arange(len(index))) & (first < 0)
        first[within] = rows[position[within]]
        dup = first >= 0
        self.keys.append(keys.filter(pa.array(~dup)))
        self.rows.append(rows[~dup])
        duplicate[index] = dup
        first_seen[index] = first
        return duplicate, first_seen


def _coerce(
    arr: pa.Array,
    typ: pa.DataType,
    spec: TableSpec,
    name: str,
    time_unit: str,
    units: MutableMapping[str, str],
) -> tuple[pa.Array, list[Issue]]:
    if name in spec.time_columns:
        return to_timestamp(arr, time_unit=time_unit, units=units, column=name)
    if pa.types.is_int64(typ):
        return to_int64(arr)
    if pa.types.is_float64(typ):
        return to_float64(arr)
    if pa.types.is_boolean(typ):
        return to_bool(arr)
    return to_string(arr, json_column=name in spec.json_columns)


def _json_object_mask(values: pa.Array) -> np.ndarray:
    valid = to_mask(pc.is_valid(values))
    looks = to_mask(pc.match_substring_regex(values, r"(?s)^\s*\{.*\}\s*$"))
    bad = valid & ~looks
    candidates = np.flatnonzero(valid & looks)
    if len(candidates):
        texts = values.take(pa.array(candidates)).to_pylist()
        for i, text in zip(candidates, texts, strict=True):
            try:
                ok = isinstance(json.loads(text), dict)
            except (ValueError, RecursionError):
                ok = False
            if not ok:
                bad[i] = True
    result: np.ndarray = bad
    return result


def _constant(text: str) -> Callable[[int], str]:
    return lambda _i: text


def _check(
    raw: pa.Table,
    spec: TableSpec,
    *,
    source: str,
    first_row: int,
    time_unit: str,
    units: MutableMapping[str, str],
    tracker: _KeyTracker | None,
    reader_issues: Sequence[tuple[int, str, str]],
) -> CheckedBatch:
    n = raw.num_rows
    raw_columns = {name: raw.column(name) for name in raw.column_names}
    values: dict[str, pa.Array] = {}
    flags: list[_Flag] = []
    for position, fld in enumerate(spec.schema):
        name = fld.name
        arr = raw_columns.get(name)
        if arr is None:
            values[name] = pa.nulls(n, fld.type)
            continue
        try:
            coerced, issues = _coerce(arr, fld.type, spec, name, time_unit, units)
        except ColumnTypeError as exc:
            raise DataFileError(source, f"column {name} {exc}", column=name) from None
        values[name] = coerced
        failed = np.zeros(n, dtype=bool)
        for mask, message in issues:
            if mask.any():
                flags.append(_Flag(position, name, mask, message))
                failed |= mask
        present = to_mask(pc.is_valid(coerced))
        if not fld.nullable:
            missing = ~present & ~failed
            if missing.any():
                flags.append(_Flag(position, name, missing, _constant(REQUIRED_MESSAGE)))
        flags.extend(_value_flags(coerced, present, position, name, spec))
    for earlier, later in spec.ordered:
        flags.extend(_order_flags(values[earlier], values[later], spec, earlier, later))
    for offset, reader_column, text in reader_issues:
        flagged = np.zeros(n, dtype=bool)
        flagged[offset] = True
        flags.append(
            _Flag(spec.columns.index(reader_column), reader_column, flagged, _constant(text))
        )

    bad = np.zeros(n, dtype=bool)
    for flag in flags:
        bad |= flag.mask
    if tracker is not None:
        duplicate, first_seen = tracker.check(values, ~bad, first_row)
        if duplicate.any():
            key_columns = tracker.columns

            def duplicate_message(i: int) -> str:
                shown = ", ".join(f"{c}={show(values[c][i].as_py())}" for c in key_columns)
                return f"duplicate key {shown}; first seen at row {first_seen[i]}"

            key_column = key_columns[0] if len(key_columns) == 1 else None
            flags.append(_Flag(len(spec.columns), key_column, duplicate, duplicate_message))
            bad |= duplicate

    accepted = pa.Table.from_arrays([values[c] for c in spec.columns], schema=spec.schema)
    if not bad.any():
        return CheckedBatch(accepted, REJECTED_SCHEMA.empty_table(), [], n)
    accepted = accepted.filter(pa.array(~bad))
    problems, rejected = _report(raw, flags, bad, source, first_row)
    return CheckedBatch(accepted, rejected, problems, n)


def _order_flags(
    first: pa.Array, second: pa.Array, spec: TableSpec, earlier: str, later: str
) -> list[_Flag]:
    """Rows where ``later`` comes before ``earlier`` (both present and parsed)."""
    reversed_ = to_mask(pc.fill_null(pc.less(second, first), False))
    if not reversed_.any():
        return []

    def message(i: int) -> str:
        return f"{later} {_iso(second[i].as_py())} is before {earlier} {_iso(first[i].as_py())}"

    return [_Flag(spec.columns.index(later), later, reversed_, message)]


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else show(value)


def _formula_mask(values: pa.Array) -> np.ndarray:
    # Only cells starting with one of these bytes can match FORMULA_RE.
    mask = leading_byte_mask(values, b"=@+- \t\r\n\x0b\x0c")
    if mask.any():
        index = np.flatnonzero(mask)
        candidates = values.take(pa.array(index))
        mask[index] = to_mask(pc.match_substring_regex(candidates, FORMULA_RE))
    result: np.ndarray = mask
    return result


def _value_flags(
    values: pa.Array, present: np.ndarray, position: int, name: str, spec: TableSpec
) -> list[_Flag]:
    """Checks on values that parsed: range, vocabulary, JSON, formulas."""
    flags: list[_Flag] = []

    def add(mask: np.ndarray, message: Callable[[int], str]) -> None:
        mask = mask & present
        if mask.any():
            flags.append(_Flag(position, name, mask, message))

    if name in spec.non_negative:
        add(
            to_mask(pc.less(values, 0)),
            lambda i: f"negative value {values[i].as_py()} (must be >= 0)",
        )
    if name in spec.open_unit_interval:
        inside = to_mask(pc.and_(pc.greater(values, 0), pc.less_equal(values, 1)))
        add(~inside, lambda i: f"{values[i].as_py()} is outside (0, 1]")
    if name in spec.enums:
        allowed = spec.enums[name]
        known = to_mask(pc.is_in(values, value_set=pa.array(allowed, pa.string())))
        add(
            ~known,
            lambda i: f"unknown {name} {show(values[i].as_py())}; allowed: {', '.join(allowed)}",
        )
    elif name in spec.json_columns:
        add(_json_object_mask(values), lambda i: f"not a JSON object: {show(values[i].as_py())}")
    elif pa.types.is_string(values.type):
        add(
            _formula_mask(values),
            lambda i: f"spreadsheet formula {show(values[i].as_py())} {FORMULA_MESSAGE}",
        )
    return flags


def _report(
    raw: pa.Table, flags: list[_Flag], bad: np.ndarray, source: str, first_row: int
) -> tuple[list[Problem], pa.Table]:
    """Problems (ordered by row, then column) and the rejected rows."""
    found: list[tuple[int, int, str | None, str]] = []
    for flag in flags:
        for i in np.flatnonzero(flag.mask).tolist():
            found.append((i, flag.position, flag.column, flag.message(i)))
    found.sort(key=lambda item: (item[0], item[1]))
    problems = [Problem(source, first_row + i, column, message) for i, _, column, message in found]

    index = np.flatnonzero(bad)
    taken = raw.take(pa.array(index))
    # Timestamps outside Python's datetime range cannot become Python objects: keep them as
    # their Arrow text so the quarantined row still shows what was read.
    for pos, column in enumerate(taken.schema):
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            taken = taken.set_column(pos, column.name, pc.cast(taken.column(pos), pa.string()))
    raw_rows = taken.to_pylist()
    by_row: dict[int, list[tuple[str | None, str]]] = {}
    for i, _, column, message in found:
        by_row.setdefault(i, []).append((column, message))
    columns: list[str | None] = []
    reasons: list[str] = []
    for i in index.tolist():
        entries = by_row[i]
        named = list(dict.fromkeys(c for c, _ in entries if c is not None))
        columns.append(",".join(named) if named else None)
        reasons.append("; ".join(f"{c}: {m}" if c else m for c, m in entries))
    rejected = pa.Table.from_arrays(
        [
            pa.array([source] * len(index), pa.string()),
            pa.array(first_row + index.astype(np.int64), pa.int64()),
            pa.array(columns, pa.string()),
            pa.array(reasons, pa.string()),
            pa.array(
                [json.dumps(r, ensure_ascii=False, default=str) for r in raw_rows], pa.string()
            ),
        ],
        schema=REJECTED_SCHEMA,
    )
    return problems, rejected
