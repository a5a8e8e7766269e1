"""Workspace layout, open/init errors, read API, derived outputs, upsert rule, status."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from reclift.errors import WorkspaceError
from reclift.schema.tables import TABLES
from reclift.workspace.artifacts import ArtifactStore
from reclift.workspace.ingest import ingest
from reclift.workspace.store import MANIFEST_NAME, Workspace


def test_init_creates_layout(tmp_path):
    ws = Workspace.init(tmp_path / "new")
    for sub in ("tables", "quarantine", "artifacts", "derived"):
        assert (ws.root / sub).is_dir()
    assert (ws.root / MANIFEST_NAME).is_file()
    assert ws.catalog_path.is_file()
    assert isinstance(ws.artifacts, ArtifactStore)
    assert ws.artifacts.root == ws.root / "artifacts"
    manifest = json.loads((ws.root / MANIFEST_NAME).read_text())
    assert set(manifest["tables"]) == set(TABLES)
    # An empty directory is fine too.
    (tmp_path / "empty").mkdir()
    Workspace.init(tmp_path / "empty")


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("nonempty", "the directory is not empty and is not a reclift workspace"),
        ("file", "it is a file"),
        ("workspace", "is already a reclift workspace"),
    ],
)
def test_init_refuses(tmp_path, setup, message):
    target = tmp_path / "t"
    if setup == "nonempty":
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    elif setup == "file":
        target.write_text("x")
    else:
        Workspace.init(target)
    with pytest.raises(WorkspaceError, match=message):
        Workspace.init(target)
    if setup == "nonempty":
        assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "is not a reclift workspace: no such directory"),
        ("plain", "is not a reclift workspace: reclift-workspace.json is missing"),
        ("garbage", "is not valid JSON"),
        ("foreign", "is not a reclift workspace manifest"),
        ("future", "unsupported format_version 99"),
    ],
)
def test_open_refuses(tmp_path, setup, message):
    target = tmp_path / "t"
    if setup != "missing":
        target.mkdir()
    if setup == "garbage":
        (target / MANIFEST_NAME).write_text("{not json")
    elif setup == "foreign":
        (target / MANIFEST_NAME).write_text('{"hello": 1}')
    elif setup == "future":
        Workspace.init(tmp_path / "w")
        data = json.loads((tmp_path / "w" / MANIFEST_NAME).read_text())
        data["format_version"] = 99
        target.rmdir()
        (tmp_path / "w").rename(target)
        (target / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(WorkspaceError, match=message):
        Workspace.open(target)


def test_empty_workspace_reads_canonical_empty_tables(ws):
    for name, spec in TABLES.items():
        table = ws.read_table(name)
        assert table.num_rows == 0
        assert table.schema == spec.schema
        assert ws.row_count(name) == 0
        assert ws.table_files(name) == []
    con = ws.connect()
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (0,)
        cols = [r[0] for r in con.execute("DESCRIBE items").fetchall()]
    finally:
        con.close()
    assert cols == TABLES["items"].columns


def test_read_table_columns_and_unknown_column(ws, h, tmp_path):
    ingest(ws, "events", h.write_parquet(h.events(10), tmp_path / "e.parquet"), progress=False)
    sub = ws.read_table("events", columns=["ts", "item_id"])
    assert sub.column_names == ["ts", "item_id"]
    assert sub.num_rows == 10
    with pytest.raises(WorkspaceError, match="table 'events' has no column"):
        ws.read_table("events", columns=["nope"])


def test_unknown_table_is_a_clear_error(ws):
    from reclift.errors import SchemaError

    with pytest.raises(SchemaError, match="unknown table 'evnts'"):
        ws.read_table("evnts")


def test_upsert_latest_wins_in_read_table_and_catalog(ws, h, tmp_path):
    first = h.items([("a", "A1", 1.0), ("b", "B1", 2.0)])
    second = h.items([("b", "B2", 3.0), ("c", "C2", 4.0)])
    third = h.items([("a", "A3", 5.0)])
    for i, t in enumerate((first, second, third)):
        ingest(ws, "items", h.write_parquet(t, tmp_path / f"items{i}.parquet"), progress=False)
    got = {r["item_id"]: (r["title"], r["price"]) for r in ws.read_table("items").to_pylist()}
    assert got == {"a": ("A3", 5.0), "b": ("B2", 3.0), "c": ("C2", 4.0)}
    assert ws.row_count("items") == 3
    con = ws.connect()
    try:
        view = con.execute("SELECT item_id, title, price FROM items ORDER BY item_id").fetchall()
    finally:
        con.close()
    assert view == [("a", "A3", 5.0), ("b", "B2", 3.0), ("c", "C2", 4.0)]
    [status] = [s for s in ws.status() if s.table == "items"]
    assert (status.rows, status.stored_rows, status.parts) == (3, 5, 3)


def test_fact_tables_are_not_deduplicated(ws, h, tmp_path):
    table = h.events(5)
    ingest(ws, "events", h.write_parquet(table, tmp_path / "a.parquet"), progress=False)
    # Same rows, different file bytes (CSV): a new source, so the rows are appended.
    ingest(ws, "events", h.write_csv(table, tmp_path / "a.csv"), progress=False)
    assert ws.row_count("events") == 10
    assert ws.read_table("events").num_rows == 10


def test_derived_roundtrip_and_errors(ws):
    table = pa.table({"item_id": ["a", "b"], "n": [3, 1]})
    path = ws.write_derived("item_stats", table)
    assert path == ws.derived_path("item_stats")
    assert path.parent == ws.root / "derived" / "item_stats"
    assert ws.read_derived("item_stats").equals(table)
    ws.write_derived("item_stats", table.slice(0, 1))
    assert ws.read_derived("item_stats").num_rows == 1
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    with pytest.raises(WorkspaceError, match="no derived output 'missing'; available: item_stats"):
        ws.read_derived("missing")
    with pytest.raises(WorkspaceError, match="invalid derived output name"):
        ws.derived_path("../escape")


def test_status_reports_rows_ranges_freshness(ws, h, tmp_path):
    table = h.events(60)
    ingest(ws, "events", h.write_parquet(table, tmp_path / "e.parquet"), progress=False)
    status = {s.table: s for s in ws.status()}
    ev = status["events"]
    assert (ev.rows, ev.parts, ev.quarantined_rows) == (60, 1, 0)
    lo, hi = ev.time_range["ts"]
    assert lo == h.T0
    assert (hi - lo).total_seconds() == 59 * 60
    assert ev.freshness_seconds is not None and ev.freshness_seconds > 0
    assert ev.last_ingested_at is not None
    assert ev.watermarks[0]["watermark"] == hi.isoformat()
    assert status["users"].rows == 0 and status["users"].time_range == {}
    as_json = json.loads(json.dumps([s.to_json() for s in ws.status()]))
    assert as_json[2]["table"] == "events"


def test_catalog_survives_moving_the_workspace(ws, h, tmp_path):
    ingest(ws, "events", h.write_parquet(h.events(7), tmp_path / "e.parquet"), progress=False)
    moved = tmp_path / "moved"
    ws.root.rename(moved)
    ws2 = Workspace.open(moved)
    con = ws2.connect()
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (7,)
    finally:
        con.close()


def test_stale_catalog_is_rebuilt_on_open(ws, h, tmp_path):
    ingest(ws, "events", h.write_parquet(h.events(4), tmp_path / "e.parquet"), progress=False)
    ws.catalog_path.unlink()
    ws2 = Workspace.open(ws.root)
    con = ws2.connect()
    try:
        assert con.execute("SELECT count(*) FROM events").fetchone() == (4,)
    finally:
        con.close()
