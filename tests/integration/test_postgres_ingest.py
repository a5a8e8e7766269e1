"""Ingest from a real PostgreSQL server (``RECLIFT_TEST_PG_DSN``, see .ci/start_postgres.sh)."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from reclift.workspace.ingest import IngestError, IngestRejectedError, ingest
from reclift.workspace.store import Workspace

pytestmark = pytest.mark.postgres

T0 = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def pg():
    dsn = os.environ.get("RECLIFT_TEST_PG_DSN")
    if not dsn:
        pytest.skip(
            "RECLIFT_TEST_PG_DSN is not set (start a server with: "
            "bash .ci/start_postgres.sh ENV_FILE && source ENV_FILE)"
        )
    psycopg = pytest.importorskip("psycopg")
    conn = psycopg.connect(dsn, autocommit=True)
    name = f"ev_{uuid.uuid4().hex[:8]}"
    conn.execute(
        f"CREATE TABLE {name} (user_id text, session_id text NOT NULL, item_id text, "
        "event_type text, ts timestamptz NOT NULL, quantity integer, price numeric(10,2), "
        "query text)"
    )
    yield dsn, conn, name
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.close()


def insert(conn, name: str, start: int, n: int, event_type: str = "view") -> None:
    rows = [
        (f"u{i}", f"s{i // 3}", f"i{i % 7}", event_type, T0 + timedelta(minutes=i), 1, "9.99", None)
        for i in range(start, start + n)
    ]
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {name} VALUES (%s,%s,%s,%s,%s,%s,%s,%s)", rows)


def test_table_ingest_is_incremental_and_idempotent(pg, tmp_path):
    dsn, conn, name = pg
    ws = Workspace.init(tmp_path / "ws")
    source = f"{dsn}?table={name}"
    insert(conn, name, 0, 100)

    first = ingest(ws, "events", source, progress=False)
    assert first.committed
    assert (first.rows_read, first.rows_accepted, first.rows_quarantined) == (100, 100, 0)
    assert first.watermark_before is None
    assert first.watermark_after == (T0 + timedelta(minutes=99)).isoformat()
    assert ws.row_count("events") == 100
    got = ws.read_table("events")
    assert got["price"].to_pylist()[0] == 9.99
    assert got["ts"].to_pylist()[0] == T0

    again = ingest(ws, "events", source, progress=False)
    assert not again.committed and again.rows_read == 0
    assert "no new rows" in again.message
    assert ws.row_count("events") == 100

    insert(conn, name, 100, 25)
    third = ingest(ws, "events", source, progress=False)
    assert (third.rows_read, third.rows_accepted) == (25, 25)
    assert third.watermark_before == first.watermark_after
    assert third.watermark_after == (T0 + timedelta(minutes=124)).isoformat()
    assert ws.row_count("events") == 125
    ts = sorted(ws.read_table("events")["ts"].to_pylist())
    assert len(set(ts)) == 125  # nothing fetched twice

    [status] = [s for s in ws.status() if s.table == "events"]
    [mark] = status.watermarks
    assert mark["watermark"] == third.watermark_after
    assert name in mark["source"]


def test_query_source_and_bad_rows_go_to_quarantine(pg, tmp_path):
    dsn, conn, name = pg
    ws = Workspace.init(tmp_path / "ws")
    insert(conn, name, 0, 10)
    insert(conn, name, 10, 2, event_type="teleport")
    query = f"SELECT * FROM {name} WHERE quantity > 0"

    with pytest.raises(IngestRejectedError, match="2 of 12 rows are bad"):
        ingest(ws, "events", dsn, query=query, progress=False)
    assert ws.row_count("events") == 0

    result = ingest(ws, "events", dsn, query=query, on_error="quarantine", progress=False)
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (12, 10, 2)
    quarantined = pq.read_table(ws.root / result.quarantine)
    assert quarantined.num_rows == 2
    assert all("teleport" in r for r in quarantined["_raw"].to_pylist())
    assert all("event_type" in c for c in quarantined["_column"].to_pylist())
    assert ws.row_count("events") == 10


def test_dimension_table_without_time_column_is_idempotent_by_content(pg, tmp_path):
    dsn, conn, _ = pg
    name = f"it_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE TABLE {name} (item_id text PRIMARY KEY, title text, price float8)")
    try:
        conn.execute(f"INSERT INTO {name} VALUES ('a', 'A', 1.5), ('b', 'B', 2.5)")
        ws = Workspace.init(tmp_path / "ws")
        source = f"{dsn}?table={name}"
        assert ingest(ws, "items", source, progress=False).rows_accepted == 2
        assert ingest(ws, "items", source, progress=False).unchanged
        conn.execute(f"UPDATE {name} SET title = 'B2' WHERE item_id = 'b'")
        assert ingest(ws, "items", source, progress=False).committed
        titles = {r["item_id"]: r["title"] for r in ws.read_table("items").to_pylist()}
        assert titles == {"a": "A", "b": "B2"}
    finally:
        conn.execute(f"DROP TABLE {name}")


def test_connection_and_sql_errors_are_clear(pg, tmp_path):
    dsn, _, _ = pg
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(IngestError, match=r"PostgreSQL error: .*no_such_table"):
        ingest(ws, "events", f"{dsn}?table=no_such_table", progress=False)
    with pytest.raises(IngestError, match="cannot connect to PostgreSQL"):
        ingest(ws, "events", "postgresql://nobody@127.0.0.1:1/x?table=t", progress=False)


def test_duplicate_key_across_pages_is_caught(pg, tmp_path):
    """Pages of one query share validation state: a key repeated on a later page is a duplicate."""
    dsn, conn, _ = pg
    name = f"it_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE TABLE {name} (item_id text, title text, ord int)")
    try:
        conn.execute(f"INSERT INTO {name} VALUES ('a', 'A', 1), ('b', 'B', 2), ('a', 'A2', 3)")
        ws = Workspace.init(tmp_path / "ws")
        query = f"SELECT item_id, title FROM {name} ORDER BY ord"
        result = ingest(
            ws, "items", dsn, query=query, on_error="quarantine", progress=False, batch_rows=1
        )
        assert (result.rows_accepted, result.rows_quarantined) == (2, 1)
        assert any("duplicate key" in str(p) and ":3:" in str(p) for p in result.problems)
    finally:
        conn.execute(f"DROP TABLE {name}")
