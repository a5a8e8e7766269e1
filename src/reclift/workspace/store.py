"""A reclift workspace: committed Parquet parts, a JSON manifest and a DuckDB catalog.

Layout::

    <ws>/reclift-workspace.json    manifest (the single source of truth)
    <ws>/catalog.duckdb            one view per canonical table over its committed parts
    <ws>/tables/<table>/*.parquet  data parts; only parts listed in the manifest count
    <ws>/quarantine/<table>/       rejected rows with their reasons (Parquet)
    <ws>/artifacts/                :class:`~reclift.workspace.artifacts.ArtifactStore` root
    <ws>/derived/<name>/           pipeline outputs (one Parquet file per name)

Consistency rules
-----------------
* A commit writes its files first (fsynced, renamed into place) and then replaces the
  manifest atomically; a process killed at any moment leaves the previous manifest, whose
  parts are all still on disk. Files that no manifest lists are orphans: they are ignored by
  every reader and removed the next time the workspace is opened by a writer-capable process.
* ``catalog.duckdb`` is derived from the manifest. It is rebuilt into a temporary file and
  renamed over the old one, and it records the manifest generation it was built from, so a
  stale catalog (a crash between manifest and catalog) is detected and rebuilt on open.
* Writers serialise on an advisory lock (``.lock``); readers never take it.

Upsert rule for keyed (dimension) tables
----------------------------------------
``items``, ``users`` and ``campaigns`` have a key. Every ingest appends a part; when read
(``read_table`` and the catalog view) the **latest** row per key wins: the row from the part
committed last (highest commit sequence) and, within one part, the row that comes last in
the file. Fact tables (events, exposures, ...) are append-only and are never deduplicated.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reclift.errors import WorkspaceError
from reclift.schema.tables import TABLES, TableSpec, get_table
from reclift.workspace.artifacts import ArtifactStore, _fsync_dir, atomic_write_text

MANIFEST_NAME = "reclift-workspace.json"
CATALOG_NAME = "catalog.duckdb"
LOCK_NAME = ".lock"
FORMAT_VERSION = 1
_DERIVED_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_META_TABLE = "_reclift_catalog"


def utc_now() -> datetime:
    """The current time in UTC (one place, so tests can reason about it)."""
    return datetime.now(UTC)


def fsync_file(path: Path) -> None:
    """Flush one file's data to disk."""
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


@dataclass(frozen=True)
class PartInfo:
    """One committed Parquet part as recorded in the manifest.

    Attributes
    ----------
    path
        Path relative to the workspace root (``tables/<table>/part-....parquet``).
    rows
        Number of rows in the part.
    seq
        Commit sequence number (monotonic per workspace); later commits win upserts.
    ingest_id
        Identifier of the ingest that wrote the part.
    source
        Where the rows came from (path or URL without password).
    source_sha256
        sha256 of the source file (files) or of the fetched rows (PostgreSQL).
    ingested_at
        ISO 8601 UTC commit time.
    time_range
        Time column -> ``[min, max]`` as ISO 8601 strings (``None`` when all null).
    """

    path: str
    rows: int
    seq: int
    ingest_id: str
    source: str
    source_sha256: str
    ingested_at: str
    time_range: Mapping[str, list[str] | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in the manifest."""
        return {
            "path": self.path,
            "rows": self.rows,
            "seq": self.seq,
            "ingest_id": self.ingest_id,
            "source": self.source,
            "source_sha256": self.source_sha256,
            "ingested_at": self.ingested_at,
            "time_range": dict(self.time_range),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartInfo:
        """Inverse of :meth:`to_json`."""
        return cls(
            path=str(data["path"]),
            rows=int(data["rows"]),
            seq=int(data["seq"]),
            ingest_id=str(data["ingest_id"]),
            source=str(data["source"]),
            source_sha256=str(data["source_sha256"]),
            ingested_at=str(data["ingested_at"]),
            time_range=dict(data.get("time_range") or {}),
        )


@dataclass(frozen=True)
class TableStatus:
    """What a workspace holds for one canonical table.

    Attributes
    ----------
    table
        Canonical table name.
    rows
        Rows a reader sees (after the latest-wins upsert for keyed tables).
    stored_rows
        Rows stored in all committed parts (>= ``rows`` for keyed tables).
    parts
        Number of committed parts.
    time_range
        Time column -> ``(min, max)`` UTC datetimes, or ``None`` when there are no values.
    last_ingested_at
        Time of the latest commit to this table, or ``None``.
    freshness_seconds
        Seconds between now and the newest timestamp of the first time column (how stale
        the data is), or ``None`` for tables without time columns or without rows.
    quarantined_rows
        Rows sent to quarantine by ingests of this table.
    watermarks
        One entry per source: ``{"source", "column", "watermark", "updated_at"}``.
    """

    table: str
    rows: int
    stored_rows: int
    parts: int
    time_range: Mapping[str, tuple[datetime, datetime] | None]
    last_ingested_at: datetime | None
    freshness_seconds: float | None
    quarantined_rows: int
    watermarks: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (datetimes as ISO 8601)."""
        return {
            "table": self.table,
            "rows": self.rows,
            "stored_rows": self.stored_rows,
            "parts": self.parts,
            "time_range": {
                col: None if rng is None else [rng[0].isoformat(), rng[1].isoformat()]
                for col, rng in self.time_range.items()
            },
            "last_ingested_at": (
                None if self.last_ingested_at is None else self.last_ingested_at.isoformat()
            ),
            "freshness_seconds": self.freshness_seconds,
            "quarantined_rows": self.quarantined_rows,
            "watermarks": self.watermarks,
        }


def _empty_manifest() -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "kind": "reclift-workspace",
        "created_at": utc_now().isoformat(),
        "generation": 0,
        "next_seq": 1,
        "tables": {name: [] for name in TABLES},
        "ingests": [],
        "sources": {},
    }


def _duckdb_type(typ: pa.DataType) -> str:
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return "VARCHAR"
    if pa.types.is_int64(typ):
        return "BIGINT"
    if pa.types.is_float64(typ):
        return "DOUBLE"
    if pa.types.is_boolean(typ):
        return "BOOLEAN"
    if pa.types.is_timestamp(typ):
        return "TIMESTAMPTZ"
    raise WorkspaceError(f"no DuckDB type for Arrow type {typ}")  # pragma: no cover


def _quote_ident(name: str) -> str:
    """A DuckDB identifier: double-quoted with embedded quotes doubled, so it is only data."""
    if not name or "\x00" in name:
        raise WorkspaceError(f"invalid SQL identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


def _quote_str(value: str) -> str:
    """A DuckDB string literal: single-quoted with embedded quotes doubled."""
    if "\x00" in value:
        raise WorkspaceError(f"invalid SQL string {value!r}: it contains a NUL character")
    return "'" + value.replace("'", "''") + "'"


class Workspace:
    """A directory holding ingested canonical tables, derived outputs and artifacts.

    Use :meth:`init` to create one and :meth:`open` to open an existing one; the
    constructor is internal.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    # ------------------------------------------------------------------ create / open
    @classmethod
    def init(cls, path: str | os.PathLike[str]) -> Workspace:
        """Create a workspace at ``path`` (which must be absent or empty) and return it.

        Raises
        ------
        WorkspaceError
            If ``path`` is a file, a non-empty directory that is not a workspace, or
            already a workspace.
        """
        root = Path(path)
        if root.exists() and not root.is_dir():
            raise WorkspaceError(f"cannot create a workspace at {root}: it is a file")
        if (root / MANIFEST_NAME).exists():
            raise WorkspaceError(
                f"{root} is already a reclift workspace",
                hint="use it as it is, or remove it first to start over",
            )
        if root.is_dir() and any(root.iterdir()):
            raise WorkspaceError(
                f"cannot create a workspace at {root}: the directory is not empty "
                f"and is not a reclift workspace",
                hint="choose a new or empty directory",
            )
        try:
            root.mkdir(parents=True, exist_ok=True)
            for sub in ("tables", "quarantine", "artifacts", "derived"):
                (root / sub).mkdir(exist_ok=True)
            for name in TABLES:
                (root / "tables" / name).mkdir(exist_ok=True)
        except OSError as exc:
            raise WorkspaceError(f"cannot create a workspace at {root}: {exc}") from None
        ws = cls(root)
        with ws.lock():
            ws._refresh_catalog(_empty_manifest())
            atomic_write_text(ws.manifest_path, json.dumps(_empty_manifest(), indent=2) + "\n")
        return ws

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, repair: bool = True) -> Workspace:
        """Open an existing workspace.

        Parameters
        ----------
        path
            Workspace directory.
        repair
            Remove files left by interrupted commits and rebuild a stale catalog, when no
            other writer holds the lock (default ``True``).

        Raises
        ------
        WorkspaceError
            If ``path`` is not a reclift workspace or its manifest is unreadable.
        """
        root = Path(path)
        if not root.is_dir():
            raise WorkspaceError(
                f"{root} is not a reclift workspace: no such directory",
                hint=f"create it with: reclift init {root}",
            )
        if not (root / MANIFEST_NAME).is_file():
            raise WorkspaceError(
                f"{root} is not a reclift workspace: {MANIFEST_NAME} is missing",
                hint="create one with: reclift init DIR",
            )
        ws = cls(root)
        manifest = ws.manifest()  # validates format
        missing = [
            p["path"]
            for parts in manifest["tables"].values()
            for p in parts
            if not (root / p["path"]).is_file()
        ]
        if missing:
            more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
            raise WorkspaceError(
                f"workspace {root} is damaged: committed part(s) missing: "
                f"{', '.join(missing[:3])}{more}",
                hint="restore the files from a backup, or re-create the workspace and re-ingest",
            )
        if repair:
            with contextlib.suppress(OSError), ws.lock(blocking=False) as got:
                if got:
                    ws._repair()
        return ws

    # ------------------------------------------------------------------ paths
    @property
    def manifest_path(self) -> Path:
        """``<ws>/reclift-workspace.json``."""
        return self.root / MANIFEST_NAME

    @property
    def catalog_path(self) -> Path:
        """``<ws>/catalog.duckdb`` (open it read-only; it is replaced on every commit)."""
        return self.root / CATALOG_NAME

    @property
    def tables_dir(self) -> Path:
        """``<ws>/tables``."""
        return self.root / "tables"

    @property
    def quarantine_dir(self) -> Path:
        """``<ws>/quarantine``."""
        return self.root / "quarantine"

    @property
    def derived_dir(self) -> Path:
        """``<ws>/derived``."""
        return self.root / "derived"

    @property
    def artifacts(self) -> ArtifactStore:
        """The workspace's artifact store (``<ws>/artifacts``)."""
        return ArtifactStore(self.root / "artifacts")

    # ------------------------------------------------------------------ manifest
    def manifest(self) -> dict[str, Any]:
        """The committed manifest (a fresh snapshot on every call)."""
        try:
            text = self.manifest_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise WorkspaceError(
                f"{self.root} is not a reclift workspace: {MANIFEST_NAME} is missing"
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise WorkspaceError(f"{self.manifest_path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("kind") != "reclift-workspace":
            raise WorkspaceError(f"{self.manifest_path} is not a reclift workspace manifest")
        if data.get("format_version") != FORMAT_VERSION:
            raise WorkspaceError(
                f"{self.manifest_path}: unsupported format_version "
                f"{data.get('format_version')!r} (this reclift reads {FORMAT_VERSION})"
            )
        for name in TABLES:
            data["tables"].setdefault(name, [])
        return data

    def parts(self, name: str, manifest: Mapping[str, Any] | None = None) -> list[PartInfo]:
        """Committed parts of table ``name`` in commit order."""
        get_table(name)
        data = manifest if manifest is not None else self.manifest()
        parts = [PartInfo.from_json(p) for p in data["tables"].get(name, [])]
        return sorted(parts, key=lambda p: (p.seq, p.path))

    def commit(self, manifest: dict[str, Any]) -> None:
        """Publish a new manifest (caller holds :meth:`lock`) and refresh the catalog.

        Every file the manifest references must already be durable in its final place.
        """
        manifest["generation"] = int(manifest.get("generation", 0)) + 1
        atomic_write_text(self.manifest_path, json.dumps(manifest, indent=2) + "\n")
        if os.environ.get("RECLIFT_TEST_CRASH_AT") == "before_catalog":
            os.kill(os.getpid(), 9)
        self._refresh_catalog(manifest)

    @contextlib.contextmanager
    def lock(self, *, blocking: bool = True) -> Iterator[bool]:
        """Hold the workspace's writer lock (an advisory ``flock`` released on exit/death).

        Yields ``True`` when the lock is held; with ``blocking=False`` yields ``False``
        instead of waiting when another process holds it.
        """
        fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
            try:
                fcntl.flock(fd, flags)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def new_seq(self, manifest: dict[str, Any]) -> int:
        """Reserve the next commit sequence number in ``manifest`` (not yet committed)."""
        seq = int(manifest.get("next_seq", 1))
        manifest["next_seq"] = seq + 1
        return seq

    # ------------------------------------------------------------------ repair
    def _repair(self) -> None:
        """Remove orphan files of interrupted commits; rebuild a stale catalog."""
        manifest = self.manifest()
        listed = {p["path"] for parts in manifest["tables"].values() for p in parts}
        listed |= {i["quarantine"] for i in manifest.get("ingests", []) if i.get("quarantine")}
        for base in (self.tables_dir, self.quarantine_dir):
            if not base.is_dir():
                continue
            for table_dir in base.iterdir():
                if not table_dir.is_dir():
                    continue
                for entry in table_dir.iterdir():
                    rel = entry.relative_to(self.root).as_posix()
                    if entry.name.startswith(".tmp-"):
                        shutil.rmtree(entry, ignore_errors=True)
                        if entry.exists():
                            entry.unlink(missing_ok=True)
                    elif entry.suffix == ".parquet" and rel not in listed:
                        entry.unlink(missing_ok=True)
        for leftover in self.root.glob(f".{CATALOG_NAME}*"):
            leftover.unlink(missing_ok=True)
        for leftover in self.root.glob(f".{MANIFEST_NAME}.*"):
            leftover.unlink(missing_ok=True)
        if self.derived_dir.is_dir():
            for leftover in self.derived_dir.glob("*/.tmp-*"):
                leftover.unlink(missing_ok=True)
        if self._catalog_stamp() != (int(manifest.get("generation", 0)), str(self.root)):
            self._refresh_catalog(manifest)

    def _catalog_stamp(self) -> tuple[int, str] | None:
        import duckdb

        if not self.catalog_path.is_file():
            return None
        try:
            con = duckdb.connect(str(self.catalog_path), read_only=True)
        except duckdb.Error:
            return None
        try:
            row = con.execute(f"SELECT generation, root FROM {_META_TABLE}").fetchone()
        except duckdb.Error:
            return None
        finally:
            con.close()
        return None if row is None else (int(row[0]), str(row[1]))

    def _refresh_catalog(self, manifest: Mapping[str, Any]) -> None:
        """Build ``catalog.duckdb`` for ``manifest`` in a temp file and rename it in place."""
        import duckdb

        tmp = self.root / f".{CATALOG_NAME}.{uuid.uuid4().hex}.tmp"
        try:
            con = duckdb.connect(str(tmp))
            try:
                for name, spec in TABLES.items():
                    con.execute(self._view_sql(spec, self.parts(name, manifest)))
                con.execute(f"CREATE TABLE {_META_TABLE} (generation BIGINT, root VARCHAR)")
                con.execute(
                    f"INSERT INTO {_META_TABLE} VALUES (?, ?)",
                    [int(manifest.get("generation", 0)), str(self.root)],
                )
                con.execute("CHECKPOINT")
            finally:
                con.close()
            fsync_file(tmp)
            tmp.replace(self.catalog_path)
            _fsync_dir(self.root)
        finally:
            tmp.unlink(missing_ok=True)
            Path(str(tmp) + ".wal").unlink(missing_ok=True)

    def _view_sql(self, spec: TableSpec, parts: Sequence[PartInfo]) -> str:
        view = _quote_ident(spec.name)
        cols = ", ".join(_quote_ident(c) for c in spec.columns)
        if not parts:
            nulls = ", ".join(
                f"CAST(NULL AS {_duckdb_type(f.type)}) AS {_quote_ident(f.name)}"
                for f in spec.schema
            )
            return f"CREATE OR REPLACE VIEW {view} AS SELECT {nulls} WHERE false"
        files = "[" + ", ".join(_quote_str(str(self.root / p.path)) for p in parts) + "]"
        source = f"read_parquet({files}, filename = true, file_row_number = true)"
        if not spec.key:
            return f"CREATE OR REPLACE VIEW {view} AS SELECT {cols} FROM {source}"
        # Part file names start with a zero-padded commit sequence, so ordering by file
        # name then row number is the commit order: the last row per key wins.
        key = ", ".join(_quote_ident(c) for c in spec.key)
        return (
            f"CREATE OR REPLACE VIEW {view} AS SELECT {cols} FROM ("
            f"SELECT *, row_number() OVER (PARTITION BY {key} "
            f"ORDER BY filename DESC, file_row_number DESC) AS _reclift_rank "
            f"FROM {source}) WHERE _reclift_rank = 1"
        )

    # ------------------------------------------------------------------ read API
    def table_files(self, name: str) -> list[Path]:
        """Absolute paths of the committed Parquet parts of ``name``, in commit order.

        For keyed tables these hold every version of a row; use :meth:`read_table` (or the
        catalog view) for the latest-wins view.
        """
        return [self.root / p.path for p in self.parts(name)]

    def read_table(self, name: str, columns: Sequence[str] | None = None) -> pa.Table:
        """Read a canonical table as Arrow (one snapshot of the manifest).

        Parameters
        ----------
        name
            Canonical table name.
        columns
            Subset of columns (default: all, in schema order).

        Returns
        -------
        pyarrow.Table
            Rows of every committed part, shape ``(n_rows, n_columns)``, with the canonical
            schema; empty when nothing was ingested. Keyed tables apply the latest-wins rule.
        """
        spec = get_table(name)
        wanted = list(columns) if columns is not None else spec.columns
        unknown = [c for c in wanted if c not in spec.columns]
        if unknown:
            raise WorkspaceError(
                f"table {name!r} has no column(s) {', '.join(map(repr, unknown))}; "
                f"columns: {', '.join(spec.columns)}"
            )
        schema = pa.schema([spec.schema.field(c) for c in wanted])
        files = self.table_files(name)
        if not files:
            return schema.empty_table()
        read_cols = list(dict.fromkeys([*wanted, *spec.key])) if spec.key else wanted
        tables = [pq.read_table(f, columns=read_cols) for f in files]
        table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
        if spec.key:
            table = _latest_per_key(table, spec.key)
        return table.select(wanted).cast(schema)

    def row_count(self, name: str) -> int:
        """Rows a reader of ``name`` sees (after the upsert rule for keyed tables)."""
        spec = get_table(name)
        parts = self.parts(name)
        if not spec.key:
            return sum(p.rows for p in parts)
        if not parts:
            return 0
        return int(self.read_table(name, columns=list(spec.key)).num_rows)

    def connect(self, *, read_only: bool = True) -> Any:
        """A DuckDB connection to the catalog (views named after the canonical tables)."""
        import duckdb

        return duckdb.connect(str(self.catalog_path), read_only=read_only)

    # ------------------------------------------------------------------ derived
    def derived_path(self, name: str) -> Path:
        """Path of derived output ``name`` (``<ws>/derived/<name>/<name>.parquet``)."""
        if not _DERIVED_NAME.match(name):
            raise WorkspaceError(
                f"invalid derived output name {name!r}: use letters, digits, '_', '.', '-'"
            )
        return self.derived_dir / name / f"{name}.parquet"

    def write_derived(self, name: str, table: pa.Table) -> Path:
        """Write derived output ``name`` atomically (temp file, fsync, rename) and return it."""
        path = self.derived_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".parquet", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            pq.write_table(table, tmp)
            fsync_file(tmp)
            tmp.replace(path)
            _fsync_dir(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def read_derived(self, name: str, columns: Sequence[str] | None = None) -> pa.Table:
        """Read derived output ``name``; raise a clear error when it was never written."""
        path = self.derived_path(name)
        if not path.is_file():
            existing = (
                sorted(
                    p.name
                    for p in self.derived_dir.iterdir()
                    if (p / f"{p.name}.parquet").is_file()
                )
                if self.derived_dir.is_dir()
                else []
            )
            raise WorkspaceError(
                f"workspace {self.root} has no derived output {name!r}"
                + (f"; available: {', '.join(existing)}" if existing else ""),
            )
        return pq.read_table(path, columns=list(columns) if columns is not None else None)

    # ------------------------------------------------------------------ status
    def status(self) -> list[TableStatus]:
        """One :class:`TableStatus` per canonical table (one manifest snapshot)."""
        manifest = self.manifest()
        now = utc_now()
        out: list[TableStatus] = []
        for name, spec in TABLES.items():
            parts = self.parts(name, manifest)
            stored = sum(p.rows for p in parts)
            if spec.key and parts:
                files = [self.root / p.path for p in parts]
                keys = pa.concat_tables([pq.read_table(f, columns=list(spec.key)) for f in files])
                rows = _latest_per_key(keys, spec.key).num_rows
            else:
                rows = stored
            ranges: dict[str, tuple[datetime, datetime] | None] = {}
            for col in spec.time_columns:
                pairs = [
                    (datetime.fromisoformat(r[0]), datetime.fromisoformat(r[1]))
                    for p in parts
                    if (r := p.time_range.get(col)) is not None
                ]
                ranges[col] = (
                    (min(lo for lo, _ in pairs), max(hi for _, hi in pairs)) if pairs else None
                )
            last = max((p.ingested_at for p in parts), default=None)
            ingests = [i for i in manifest.get("ingests", []) if i.get("table") == name]
            if ingests:
                last_any = max(i["ingested_at"] for i in ingests)
                last = max(last, last_any) if last else last_any
            first_range = ranges.get(spec.time_columns[0]) if spec.time_columns else None
            freshness = (now - first_range[1]).total_seconds() if first_range else None
            watermarks = [
                {
                    "source": src,
                    "column": info.get("column"),
                    "watermark": info.get("watermark"),
                    "updated_at": info.get("updated_at"),
                }
                for src, info in sorted(manifest.get("sources", {}).items())
                if info.get("table") == name
            ]
            out.append(
                TableStatus(
                    table=name,
                    rows=rows,
                    stored_rows=stored,
                    parts=len(parts),
                    time_range=ranges,
                    last_ingested_at=None if last is None else datetime.fromisoformat(last),
                    freshness_seconds=freshness,
                    quarantined_rows=sum(int(i.get("rows_quarantined", 0)) for i in ingests),
                    watermarks=watermarks,
                )
            )
        return out

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"


def _latest_per_key(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """Keep the last row (by position) of every key value, in position order."""
    if table.num_rows == 0:
        return table
    positions = pa.array(np.arange(table.num_rows, dtype=np.int64))
    indexed = table.select(list(key)).append_column("_reclift_pos", positions)
    last = indexed.group_by(list(key), use_threads=False).aggregate([("_reclift_pos", "max")])
    keep = pc.sort_indices(last["_reclift_pos_max"])
    return table.take(pc.take(last["_reclift_pos_max"], keep))
