"""Ingest files and PostgreSQL tables into a workspace: idempotent, atomic, incremental.

Sources
-------
* Local files (CSV, TSV, JSON Lines, Parquet; optionally ``.gz``), given as a path or a
  ``file://`` URL. The format comes from the extension unless ``fmt`` is given.
* PostgreSQL: ``postgresql://user[:password]@host:port/db?table=NAME`` (``schema.name`` is
  accepted) or the same URL without ``table`` plus ``query="SELECT ..."``.

Semantics
---------
Idempotent
    A file is identified by the sha256 of its bytes: ingesting the same content into the
    same table again commits nothing and says so. Rows fetched from PostgreSQL are hashed
    the same way (their Arrow IPC form), so an unchanged dimension table adds nothing.
Atomic
    Parts and the quarantine file are written into ``.tmp-*`` directories, fsynced and
    renamed into place; only then is the manifest replaced (atomically). A process killed
    at any moment leaves the previous manifest and all of its parts; orphans are removed
    on the next :meth:`Workspace.open`.
Incremental
    Every source has a watermark: the greatest value of the table's first time column
    among its accepted rows. For PostgreSQL sources the next ingest fetches only rows with
    ``time column > watermark`` (the column must be a timestamp; rows arriving later with an
    older timestamp are not picked up, as with any high-water mark). For files the
    watermark is recorded and shown, and idempotence comes from the content hash.
Bad rows
    ``on_error="reject"``: if any row is bad nothing is committed, every problem is
    reported (:class:`IngestRejectedError`). ``on_error="quarantine"``: good rows are committed
    and bad rows go to ``quarantine/<table>/<seq>-<ingest id>.parquet`` with their file, row,
    column and reason. ``rows_read == rows_accepted + rows_quarantined`` always holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reclift.errors import SchemaError, WorkspaceError, require
from reclift.schema.problems import Problem
from reclift.schema.tables import TableSpec, get_table
from reclift.workspace.artifacts import _fsync_dir, sha256_file
from reclift.workspace.store import PartInfo, Workspace, fsync_file, utc_now

OnError = Literal["reject", "quarantine"]
ON_ERROR_CHOICES: tuple[str, ...] = ("reject", "quarantine")

#: Problems kept in memory (and in the result); the total is always counted.
MAX_PROBLEMS_KEPT = 10_000
#: A part is closed and a new one started after this many rows.
PART_ROWS = 10_000_000
#: Rows fetched from PostgreSQL per round trip.
PG_BATCH_ROWS = 100_000
PARQUET_COMPRESSION = "zstd"


#: Test hook: ``RECLIFT_TEST_CRASH_AT=<point>`` SIGKILLs the process at that commit step, so
#: the crash-atomicity tests can hit every window deterministically.
CRASH_ENV = "RECLIFT_TEST_CRASH_AT"


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class IngestError(WorkspaceError):
    """An ingest that cannot run (bad source, unreachable database, ...)."""


class IngestRejectedError(SchemaError):
    """``on_error="reject"`` and at least one row is bad; nothing was committed.

    Attributes
    ----------
    result
        The :class:`IngestResult` (counts and the problems found, nothing committed).
    """

    def __init__(self, message: str, result: IngestResult) -> None:
        super().__init__(
            message, hint="fix the rows, or use --on-error quarantine to keep the good rows"
        )
        self.result = result


@dataclass
class IngestResult:
    """What one ingest did.

    Attributes
    ----------
    table
        Canonical table.
    source
        The source (path or URL without password; plus the query for PostgreSQL).
    source_sha256
        sha256 of the file (or of the fetched rows).
    committed
        Whether a new manifest was committed.
    unchanged
        True when the same content had already been ingested into this table (nothing added).
    message
        One line for humans.
    rows_read, rows_accepted, rows_quarantined
        Row counts; ``rows_read == rows_accepted + rows_quarantined``.
    problem_count
        Number of problems found (a row can have several).
    problems
        The first :data:`MAX_PROBLEMS_KEPT` problems.
    parts
        Committed part paths, relative to the workspace.
    quarantine
        Relative path of the quarantine file, if rows were quarantined.
    watermark_before, watermark_after
        The source's watermark (ISO 8601) before and after.
    seconds
        Wall time.
    """

    table: str
    source: str
    source_sha256: str = ""
    committed: bool = False
    unchanged: bool = False
    message: str = ""
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)
    quarantine: str | None = None
    watermark_before: str | None = None
    watermark_after: str | None = None
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        """Rows read per second of wall time."""
        return self.rows_read / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable summary (problems as strings)."""
        return {
            "table": self.table,
            "source": self.source,
            "source_sha256": self.source_sha256,
            "committed": self.committed,
            "unchanged": self.unchanged,
            "message": self.message,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_quarantined": self.rows_quarantined,
            "problem_count": self.problem_count,
            "problems": [str(p) for p in self.problems],
            "parts": self.parts,
            "quarantine": self.quarantine,
            "watermark_before": self.watermark_before,
            "watermark_after": self.watermark_after,
            "seconds": self.seconds,
        }


# ---------------------------------------------------------------------- sources
@dataclass(frozen=True)
class _FileSource:
    path: Path
    label: str
    key: str


@dataclass(frozen=True)
class _PgSource:
    conninfo: str
    relation: str | None
    query: str | None
    label: str
    key: str


def _redact(url: urllib.parse.SplitResult) -> str:
    netloc = url.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{host}"
    return urllib.parse.urlunsplit((url.scheme, netloc, url.path, "", ""))


_PG_MAX_IDENTIFIER_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL silently truncates longer names


def _pg_relation(text: str) -> tuple[str, ...]:
    """Parse ``?table=`` (``table`` or ``schema.table``) into identifier parts.

    The parts are only ever composed with ``psycopg.sql.Identifier`` (quoted, so any
    character is data, never SQL). Refused here with a clear message instead: an empty
    part, a NUL byte (PostgreSQL cannot store it) and a part longer than 63 bytes, which
    PostgreSQL would silently truncate to the name of a different table.
    """
    parts = tuple(text.split(".", 1))
    for part in parts:
        if not part.strip():
            raise IngestError(
                f"table name {text!r} is not valid: use ?table=NAME or ?table=SCHEMA.NAME"
            )
        if "\x00" in part:
            raise IngestError(f"table name {text!r} contains a NUL character")
        if len(part.encode()) > _PG_MAX_IDENTIFIER_BYTES:
            raise IngestError(
                f"table name part {part[:20]!r}... is longer than "
                f"{_PG_MAX_IDENTIFIER_BYTES} bytes (PostgreSQL would truncate it)"
            )
    return parts


def _resolve_source(source: str | os.PathLike[str], query: str | None) -> _FileSource | _PgSource:
    text = os.fspath(source)
    if "://" in text:
        try:
            urllib.parse.urlsplit(text).port  # noqa: B018  (parses host and port, may raise)
        except ValueError as exc:
            scheme = text.split("://", 1)[0]
            raise IngestError(f"source is not a valid {scheme} URL: {exc}") from None
    scheme = urllib.parse.urlsplit(text).scheme.lower() if "://" in text else ""
    if scheme in {"postgresql", "postgres"}:
        url = urllib.parse.urlsplit(text)
        params = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        relation = next((v for k, v in params if k == "table"), None)
        rest = [(k, v) for k, v in params if k != "table"]
        if relation is None and not query:
            raise IngestError(
                f"PostgreSQL source {_redact(url)} names no table",
                hint="add ?table=NAME to the URL or pass --query 'SELECT ...'",
            )
        if relation is not None and query:
            raise IngestError(
                f"PostgreSQL source {_redact(url)}: give either ?table=NAME or --query, not both"
            )
        if relation is not None:
            _pg_relation(relation)
        conninfo = urllib.parse.urlunsplit(
            (url.scheme, url.netloc, url.path, urllib.parse.urlencode(rest), "")
        )
        what = f"table={relation}" if relation is not None else f"query={query}"
        label = f"{_redact(url)}?{what}"
        return _PgSource(conninfo, relation, query, label, key=label)
    if query:
        raise IngestError("--query is only for PostgreSQL sources (postgresql://...)")
    if scheme == "file":
        url = urllib.parse.urlsplit(text)
        if url.netloc not in {"", "localhost"}:
            raise IngestError(f"{text}: file:// URLs must name a local file (file:///path)")
        path = Path(urllib.parse.unquote(url.path))
    elif scheme:
        raise IngestError(
            f"{text}: unsupported source scheme {scheme!r}",
            hint="use a local path, a file:// URL or a postgresql:// URL",
        )
    else:
        path = Path(text)
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    if not path.is_file():
        raise IngestError(f"{path}: not a regular file")
    resolved = path.resolve()
    return _FileSource(resolved, str(resolved), key=f"file:{resolved}")


# ---------------------------------------------------------------------- part writing
class _PartWriter:
    """Writes accepted batches into Parquet parts inside a temp directory."""

    def __init__(self, tmp: Path, spec: TableSpec, seq: int, ingest_id: str) -> None:
        self.tmp = tmp
        self.spec = spec
        self.seq = seq
        self.ingest_id = ingest_id
        self.files: list[tuple[str, int, dict[str, list[str] | None]]] = []
        self._writer: pq.ParquetWriter | None = None
        self._name = ""
        self._rows = 0
        self._ranges: dict[str, list[Any]] = {}

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is not None and self._rows + table.num_rows > PART_ROWS:
            self._close()
        if self._writer is None:
            self._name = f"part-{self.seq:09d}-{len(self.files):04d}-{self.ingest_id}.parquet"
            self._writer = pq.ParquetWriter(
                self.tmp / self._name, self.spec.schema, compression=PARQUET_COMPRESSION
            )
            self._rows = 0
            self._ranges = {}
        self._writer.write_table(table)
        self._rows += table.num_rows
        for col in self.spec.time_columns:
            mm = pc.min_max(table[col])
            lo, hi = mm["min"].as_py(), mm["max"].as_py()
            if lo is None:
                continue
            cur = self._ranges.get(col)
            self._ranges[col] = [lo, hi] if cur is None else [min(cur[0], lo), max(cur[1], hi)]

    def _close(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        ranges: dict[str, list[str] | None] = {
            col: ([v.isoformat() for v in self._ranges[col]] if col in self._ranges else None)
            for col in self.spec.time_columns
        }
        self.files.append((self._name, self._rows, ranges))

    def finish(self) -> list[tuple[str, int, dict[str, list[str] | None]]]:
        self._close()
        return self.files

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class _QuarantineWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer: pq.ParquetWriter | None = None
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")
        self._writer.write_table(table.cast(self._schema))
        self.rows += table.num_rows

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# ---------------------------------------------------------------------- progress
@dataclass
class _Progress:
    enabled: bool
    description: str
    total: int | None = None
    _progress: Any = None
    _task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total, rate="")
        self._start = time.perf_counter()
        self._done = 0
        return self

    def advance(self, rows: int) -> None:
        self._done += rows
        if self._progress is not None:
            elapsed = max(time.perf_counter() - self._start, 1e-9)
            self._progress.update(
                self._task, advance=rows, rate=f"{self._done / elapsed:,.0f} rows/s"
            )

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


# ---------------------------------------------------------------------- PostgreSQL
_PG_OIDS: Mapping[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int64(),
    23: pa.int64(),
    700: pa.float64(),
    701: pa.float64(),
    1700: pa.float64(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
_PG_JSON_OIDS = {114, 3802}


def _pg_column(values: list[Any], oid: int) -> pa.Array:
    typ = _PG_OIDS.get(oid)
    if oid == 1700:
        values = [None if v is None else float(v) for v in values]
    elif oid in _PG_JSON_OIDS:
        values = [None if v is None else json.dumps(v, sort_keys=True) for v in values]
        typ = pa.string()
    elif typ is None:
        values = [
            None if v is None else (str(v) if not isinstance(v, Decimal | datetime | str) else v)
            for v in values
        ]
        typ = None
    try:
        return pa.array(values, type=typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def _pg_batches(
    src: _PgSource, spec: TableSpec, watermark: str | None, batch_rows: int
) -> Iterator[pa.Table]:
    """Stream the source's rows (newer than ``watermark``) as raw Arrow tables."""
    psycopg: Any = require("psycopg", "postgres")
    from psycopg import sql

    time_col = spec.time_columns[0] if spec.time_columns else None
    if src.relation is not None:
        base: Any = sql.SQL("SELECT * FROM {}").format(sql.Identifier(*_pg_relation(src.relation)))
    else:
        base = sql.SQL("SELECT * FROM ({}) AS reclift_q").format(
            sql.SQL(str(src.query).strip().rstrip(";"))
        )
    params: list[Any] = []
    stmt = base
    if time_col is not None:
        if watermark is not None:
            stmt = sql.SQL("{} WHERE {} > %s::timestamptz").format(base, sql.Identifier(time_col))
            params.append(watermark)
        stmt = sql.SQL("{} ORDER BY {}").format(stmt, sql.Identifier(time_col))
    try:
        conn = psycopg.connect(src.conninfo, connect_timeout=10, options="-c TimeZone=UTC")
    except psycopg.Error as exc:
        raise IngestError(f"{src.label}: cannot connect to PostgreSQL: {exc}".strip()) from None
    try:
        with conn.transaction(), conn.cursor(name=f"reclift_{uuid.uuid4().hex[:12]}") as cur:
            try:
                cur.execute(stmt, params)
                while True:
                    rows = cur.fetchmany(batch_rows)
                    if cur.description is None:
                        return
                    names = [d.name for d in cur.description]
                    oids = [d.type_code for d in cur.description]
                    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
                    yield pa.table(
                        {
                            n: _pg_column(list(c), o)
                            for n, c, o in zip(names, columns, oids, strict=True)
                        }
                    )
                    if len(rows) < batch_rows:
                        return
            except psycopg.Error as exc:
                raise IngestError(
                    f"{src.label}: PostgreSQL error: {str(exc).strip().splitlines()[0]}"
                ) from None
    finally:
        conn.close()


# ---------------------------------------------------------------------- ingest
def ingest(
    ws: Workspace,
    table: str,
    source: str | os.PathLike[str],
    *,
    query: str | None = None,
    on_error: str = "reject",
    time_unit: str = "auto",
    fmt: str | None = None,
    progress: bool = True,
    batch_rows: int = 500_000,
) -> IngestResult:
    """Ingest one source into ``table`` of ``ws`` (see the module docstring for semantics).

    Parameters
    ----------
    ws
        Open workspace.
    table
        Canonical table name.
    source
        File path, ``file://`` URL or ``postgresql://`` URL.
    query
        SQL query (PostgreSQL sources without ``?table=``).
    on_error
        ``"reject"`` (all or nothing) or ``"quarantine"`` (keep good rows).
    time_unit
        How numeric timestamps are read: ``"auto"``, ``"s"`` or ``"ms"``.
    fmt
        File format override (``csv``, ``tsv``, ``jsonl``, ``parquet``).
    progress
        Show a rich progress bar (rows/s) on stderr.
    batch_rows
        Rows validated per batch.

    Returns
    -------
    IngestResult

    Raises
    ------
    IngestRejectedError
        ``on_error="reject"`` and some rows are bad (nothing committed).
    SchemaError
        The source is unusable as a whole (missing columns, unreadable, ...).
    IngestError
        Bad source specification or an unreachable database.
    """
    spec = get_table(table)
    if on_error not in ON_ERROR_CHOICES:
        raise IngestError(
            f"unknown --on-error {on_error!r}; expected one of: {', '.join(ON_ERROR_CHOICES)}"
        )
    src = _resolve_source(source, query)
    start = time.perf_counter()
    with ws.lock():
        manifest = ws.manifest()
        result = _ingest_locked(
            ws, manifest, spec, src, on_error, time_unit, fmt, progress, batch_rows
        )
    result.seconds = time.perf_counter() - start
    return result


def _ingest_locked(
    ws: Workspace,
    manifest: dict[str, Any],
    spec: TableSpec,
    src: _FileSource | _PgSource,
    on_error: str,
    time_unit: str,
    fmt: str | None,
    progress: bool,
    batch_rows: int,
) -> IngestResult:
    from reclift.schema import validate

    result = IngestResult(table=spec.name, source=src.label)
    source_state = manifest.setdefault("sources", {}).get(src.key, {})
    result.watermark_before = source_state.get("watermark")
    result.watermark_after = result.watermark_before

    hasher: Any = None
    total: int | None = None
    batches: Iterator[Any]
    if isinstance(src, _FileSource):
        result.source_sha256 = sha256_file(src.path)
        previous = _previous_ingest(manifest, spec.name, result.source_sha256)
        if previous is not None:
            result.unchanged = True
            result.message = (
                f"{src.label}: already ingested into {spec.name} at "
                f"{previous['ingested_at']} (same sha256 {result.source_sha256[:12]}); "
                f"nothing added"
            )
            return result
        if (fmt or "").lower() == "parquet" or src.path.name.lower().endswith((".parquet", ".pq")):
            try:
                total = pq.ParquetFile(src.path).metadata.num_rows
            except (OSError, pa.ArrowException):
                total = None
        batches = validate.iter_checked_batches(
            src.path, spec.name, time_unit=time_unit, batch_rows=batch_rows, fmt=fmt
        )
    else:
        hasher = hashlib.sha256()
        raw = _pg_batches(src, spec, result.watermark_before, min(batch_rows, PG_BATCH_ROWS))
        batches = _check_pg(raw, spec.name, src.label, time_unit, hasher)

    seq = ws.new_seq(manifest)
    ingest_id = uuid.uuid4().hex[:12]
    tmp_parts = ws.tables_dir / spec.name / f".tmp-{ingest_id}"
    tmp_quarantine = ws.quarantine_dir / spec.name / f".tmp-{ingest_id}"
    tmp_parts.mkdir(parents=True)
    tmp_quarantine.mkdir(parents=True)
    quarantine_name = f"{seq:09d}-{ingest_id}.parquet"
    parts = _PartWriter(tmp_parts, spec, seq, ingest_id)
    quarantine = _QuarantineWriter(tmp_quarantine / quarantine_name)
    try:
        with _Progress(progress, f"ingest {spec.name}", total) as bar:
            for batch in batches:
                result.rows_read += batch.rows_read
                result.rows_accepted += batch.accepted.num_rows
                result.problem_count += len(batch.problems)
                room = MAX_PROBLEMS_KEPT - len(result.problems)
                if room > 0:
                    result.problems.extend(batch.problems[:room])
                bad = batch.rows_read - batch.accepted.num_rows
                if on_error == "reject":
                    if bad == 0 and result.rows_read == result.rows_accepted:
                        parts.write(batch.accepted)
                    # Once a bad row is seen nothing will be committed: keep validating
                    # (to report every problem) but stop writing.
                else:
                    parts.write(batch.accepted)
                    quarantine.write(batch.rejected)
                bar.advance(batch.rows_read)
        result.rows_quarantined = result.rows_read - result.rows_accepted
        if hasher is not None:
            result.source_sha256 = hasher.hexdigest()
        files = parts.finish()
        quarantine.close()

        if on_error == "reject" and result.rows_quarantined > 0:
            result.message = (
                f"{src.label}: {result.rows_quarantined:,} of {result.rows_read:,} rows are bad "
                f"({result.problem_count:,} problems); nothing was committed"
            )
            first = "; ".join(str(p) for p in result.problems[:3])
            raise IngestRejectedError(f"{result.message}. First: {first}", result)

        if isinstance(src, _PgSource):
            if result.rows_read == 0:
                result.message = f"{src.label}: no new rows" + (
                    f" after watermark {result.watermark_before}" if result.watermark_before else ""
                )
                return result
            previous = _previous_ingest(manifest, spec.name, result.source_sha256)
            if previous is not None:
                result.unchanged = True
                result.message = (
                    f"{src.label}: the fetched rows equal an earlier ingest into {spec.name} "
                    f"({previous['ingested_at']}); nothing added"
                )
                return result

        _commit(
            ws,
            manifest,
            spec,
            src,
            result,
            files,
            tmp_parts,
            seq,
            ingest_id,
            tmp_quarantine / quarantine_name if quarantine.rows else None,
            on_error,
        )
        return result
    finally:
        parts.abort()
        quarantine.close()
        shutil.rmtree(tmp_parts, ignore_errors=True)
        shutil.rmtree(tmp_quarantine, ignore_errors=True)


def _check_pg(
    raw: Iterator[pa.Table], table: str, label: str, time_unit: str, hasher: Any
) -> Iterator[Any]:
    from reclift.schema import validate

    first_row = 1
    # One state for the whole source: duplicate keys and epoch units carry across pages.
    state = validate.CheckState()
    for chunk in raw:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, chunk.schema) as writer:
            writer.write_table(chunk)
        hasher.update(sink.getvalue().to_pybytes())
        if chunk.num_rows == 0:
            continue
        yield validate.check_arrow_table(
            chunk, table, source=label, first_row=first_row, time_unit=time_unit, state=state
        )
        first_row += chunk.num_rows


def _previous_ingest(manifest: Mapping[str, Any], table: str, sha: str) -> dict[str, Any] | None:
    for record in manifest.get("ingests", []):
        if record.get("table") == table and record.get("source_sha256") == sha:
            return dict(record)
    return None


def _commit(
    ws: Workspace,
    manifest: dict[str, Any],
    spec: TableSpec,
    src: _FileSource | _PgSource,
    result: IngestResult,
    files: Sequence[tuple[str, int, dict[str, list[str] | None]]],
    tmp_parts: Path,
    seq: int,
    ingest_id: str,
    quarantine_tmp: Path | None,
    on_error: str,
) -> None:
    now = utc_now().isoformat()
    table_dir = ws.tables_dir / spec.name
    new_parts: list[PartInfo] = []
    for name, _rows, _ranges in files:
        fsync_file(tmp_parts / name)
    _crash_point("before_rename")
    for name, rows, ranges in files:
        (tmp_parts / name).replace(table_dir / name)
        new_parts.append(
            PartInfo(
                path=(table_dir / name).relative_to(ws.root).as_posix(),
                rows=rows,
                seq=seq,
                ingest_id=ingest_id,
                source=src.label,
                source_sha256=result.source_sha256,
                ingested_at=now,
                time_range=ranges,
            )
        )
    _fsync_dir(table_dir)
    quarantine_rel: str | None = None
    if quarantine_tmp is not None:
        fsync_file(quarantine_tmp)
        final = ws.quarantine_dir / spec.name / quarantine_tmp.name
        quarantine_tmp.replace(final)
        _fsync_dir(final.parent)
        quarantine_rel = final.relative_to(ws.root).as_posix()
    _crash_point("before_manifest")

    watermark = result.watermark_before
    if spec.time_columns:
        col = spec.time_columns[0]
        highs = [r[1] for p in new_parts if (r := p.time_range.get(col)) is not None]
        if highs:
            newest = max(highs, key=datetime.fromisoformat)
            if watermark is None or datetime.fromisoformat(newest) > datetime.fromisoformat(
                watermark
            ):
                watermark = newest
    result.watermark_after = watermark

    manifest["tables"].setdefault(spec.name, []).extend(p.to_json() for p in new_parts)
    manifest.setdefault("ingests", []).append(
        {
            "id": ingest_id,
            "seq": seq,
            "table": spec.name,
            "source": src.label,
            "source_sha256": result.source_sha256,
            "ingested_at": now,
            "on_error": on_error,
            "rows_read": result.rows_read,
            "rows_accepted": result.rows_accepted,
            "rows_quarantined": result.rows_quarantined,
            "problem_count": result.problem_count,
            "parts": [p.path for p in new_parts],
            "quarantine": quarantine_rel,
        }
    )
    manifest["sources"][src.key] = {
        "table": spec.name,
        "kind": "postgresql" if isinstance(src, _PgSource) else "file",
        "column": spec.time_columns[0] if spec.time_columns else None,
        "watermark": watermark,
        "updated_at": now,
    }
    ws.commit(manifest)
    result.committed = True
    result.parts = [p.path for p in new_parts]
    result.quarantine = quarantine_rel
    result.message = (
        f"{spec.name}: read {result.rows_read:,}, accepted {result.rows_accepted:,}, "
        f"quarantined {result.rows_quarantined:,}"
        + (f" (-> {quarantine_rel})" if quarantine_rel else "")
    )


__all__ = [
    "ON_ERROR_CHOICES",
    "IngestError",
    "IngestRejectedError",
    "IngestResult",
    "ingest",
]
