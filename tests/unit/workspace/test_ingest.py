"""Ingestion semantics: idempotence, bad-row policies, sources, counts, orphans."""

from __future__ import annotations

import gzip
import json
import shutil

import pyarrow.parquet as pq
import pytest

from reclift.errors import ReclifError
from reclift.workspace.ingest import IngestError, IngestRejectedError, ingest
from reclift.workspace.store import Workspace


def test_ingest_parquet_and_read_back(ws, h, tmp_path):
    table = h.events(100)
    result = ingest(ws, "events", h.write_parquet(table, tmp_path / "e.parquet"), progress=False)
    assert result.committed and not result.unchanged
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (100, 100, 0)
    assert result.quarantine is None
    assert h.sorted_rows(ws.read_table("events")) == h.sorted_rows(table)
    [part] = ws.table_files("events")
    assert part.is_file() and part.parent == ws.root / "tables" / "events"
    manifest = ws.manifest()
    [entry] = manifest["tables"]["events"]
    assert entry["rows"] == 100
    assert entry["source_sha256"] == result.source_sha256
    assert entry["source"].endswith("e.parquet")
    assert entry["time_range"]["ts"][0] == h.T0.isoformat()
    assert "ingested_at" in entry


@pytest.mark.parametrize("kind", ["csv", "csv.gz", "tsv", "jsonl", "jsonl.gz", "file-url"])
def test_ingest_text_formats(ws, h, tmp_path, kind):
    table = h.events(20)
    csv_path = h.write_csv(table, tmp_path / "e.csv")
    if kind == "csv":
        source = str(csv_path)
    elif kind == "csv.gz":
        source = str(tmp_path / "e.csv.gz")
        with gzip.open(source, "wb") as fh:
            fh.write(csv_path.read_bytes())
    elif kind == "tsv":
        source = str(tmp_path / "e.tsv")
        text = csv_path.read_text().replace(",", "\t")
        (tmp_path / "e.tsv").write_text(text)
    elif kind.startswith("jsonl"):
        lines = [
            json.dumps({k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()})
            for r in table.to_pylist()
        ]
        data = ("\n".join(lines) + "\n").encode()
        source = str(tmp_path / f"e.{kind}")
        if kind.endswith(".gz"):
            with gzip.open(source, "wb") as fh:
                fh.write(data)
        else:
            (tmp_path / "e.jsonl").write_bytes(data)
    else:
        source = csv_path.as_uri()
    result = ingest(ws, "events", source, progress=False)
    assert result.rows_accepted == 20
    assert h.sorted_rows(ws.read_table("events")) == h.sorted_rows(table)


def test_same_content_twice_adds_nothing(ws, h, tmp_path):
    path = h.write_parquet(h.events(30), tmp_path / "e.parquet")
    first = ingest(ws, "events", path, progress=False)
    before = ws.manifest()
    copy = shutil.copy(path, tmp_path / "copy-of-e.parquet")
    for again_source in (path, copy):
        again = ingest(ws, "events", again_source, progress=False)
        assert again.unchanged and not again.committed
        assert again.source_sha256 == first.source_sha256
        assert "already ingested" in again.message and "nothing added" in again.message
    assert ws.manifest() == before
    assert ws.row_count("events") == 30


def test_reject_commits_nothing_and_reports_every_problem(ws, h, tmp_path):
    table = h.events(50)
    bad = {3: {"event_type": "buy"}, 10: {"quantity": "-2"}, 20: {"session_id": ""}}
    path = h.write_csv(table, tmp_path / "bad.csv", bad=bad)
    before = ws.manifest()
    with pytest.raises(IngestRejectedError) as info:
        ingest(ws, "events", path, progress=False)
    result = info.value.result
    assert not result.committed
    assert (result.rows_read, result.rows_quarantined) == (50, 3)
    rows = sorted({p.row for p in result.problems})
    assert rows == [4, 11, 21]  # 1-based data records
    columns = {p.row: p.column for p in result.problems}
    assert columns == {4: "event_type", 11: "quantity", 21: "session_id"}
    assert "nothing was committed" in str(info.value)
    assert ws.manifest() == before
    assert ws.read_table("events").num_rows == 0
    assert list((ws.root / "quarantine" / "events").glob("*.parquet")) == []
    assert list((ws.root / "tables" / "events").iterdir()) == []


def test_quarantine_commits_good_rows_and_writes_bad_ones(ws, h, tmp_path):
    table = h.events(50)
    bad = {3: {"event_type": "buy"}, 10: {"quantity": "-2"}, 20: {"ts": "yesterday"}}
    path = h.write_csv(table, tmp_path / "bad.csv", bad=bad)
    result = ingest(ws, "events", path, on_error="quarantine", progress=False)
    assert result.committed
    assert (result.rows_read, result.rows_accepted, result.rows_quarantined) == (50, 47, 3)
    good = ws.read_table("events")
    assert good.num_rows == 47
    assert result.quarantine is not None
    qfile = ws.root / result.quarantine
    assert qfile.parent == ws.root / "quarantine" / "events"
    quarantined = pq.read_table(qfile)
    assert set(quarantined.column_names) >= {"_file", "_row", "_column", "_reason", "_raw"}
    assert sorted(set(quarantined["_row"].to_pylist())) == [4, 11, 21]
    raw = [json.loads(r) for r in quarantined["_raw"].to_pylist()]
    assert {r["event_type"] for r in raw} >= {"buy"}
    [status] = [s for s in ws.status() if s.table == "events"]
    assert status.quarantined_rows == 3
    # Re-ingesting the same file is a no-op, quarantine included.
    again = ingest(ws, "events", path, on_error="quarantine", progress=False)
    assert again.unchanged
    assert len(list(qfile.parent.glob("*.parquet"))) == 1


def test_all_rows_bad_in_quarantine_mode_records_the_ingest(ws, h, tmp_path):
    table = h.events(3)
    bad = {i: {"event_type": "nope"} for i in range(3)}
    path = h.write_csv(table, tmp_path / "allbad.csv", bad=bad)
    result = ingest(ws, "events", path, on_error="quarantine", progress=False)
    assert (result.rows_accepted, result.rows_quarantined) == (0, 3)
    assert ws.table_files("events") == []
    assert ingest(ws, "events", path, on_error="quarantine", progress=False).unchanged


@pytest.mark.parametrize(
    ("source", "kwargs", "message"),
    [
        ("{tmp}/nope.csv", {}, "no such file"),
        ("{tmp}", {}, "not a regular file"),
        ("https://example.com/e.csv", {}, "unsupported source scheme 'https'"),
        ("file://otherhost/e.csv", {}, "must name a local file"),
        ("{tmp}/e.parquet", {"query": "SELECT 1"}, "--query is only for PostgreSQL"),
        ("postgresql://u@127.0.0.1:1/db", {}, "names no table"),
        ("postgresql://u@127.0.0.1:1/db?table=t", {"query": "SELECT 1"}, "not both"),
        ("{tmp}/e.parquet", {"on_error": "ignore"}, "unknown --on-error 'ignore'"),
    ],
)
def test_bad_source_specs(ws, h, tmp_path, source, kwargs, message):
    h.write_parquet(h.events(2), tmp_path / "e.parquet")
    with pytest.raises(IngestError, match=message):
        ingest(ws, "events", source.format(tmp=tmp_path), progress=False, **kwargs)


def test_pg_password_is_never_shown(ws):
    with pytest.raises(ReclifError) as info:
        ingest(ws, "events", "postgresql://bob:s3cret@127.0.0.1:1/db?table=t", progress=False)
    assert "s3cret" not in str(info.value)
    assert "bob@127.0.0.1:1/db" in str(info.value)


def test_file_level_error_commits_nothing_and_leaves_no_temp(ws, tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ReclifError):
        ingest(ws, "events", path, progress=False)
    assert list((ws.root / "tables" / "events").iterdir()) == []
    assert list((ws.root / "quarantine" / "events").iterdir()) == []


def test_orphans_are_ignored_and_cleaned_on_open(ws, h, tmp_path):
    ingest(ws, "events", h.write_parquet(h.events(5), tmp_path / "e.parquet"), progress=False)
    table_dir = ws.root / "tables" / "events"
    orphan = table_dir / "part-000000099-0000-deadbeef.parquet"
    shutil.copy(next(table_dir.glob("*.parquet")), orphan)
    tmp_dir = table_dir / ".tmp-abc"
    tmp_dir.mkdir()
    (tmp_dir / "x.parquet").write_bytes(b"partial")
    assert ws.read_table("events").num_rows == 5
    Workspace.open(ws.root)
    assert not orphan.exists() and not tmp_dir.exists()
    assert ws.read_table("events").num_rows == 5


def test_accepted_rows_are_never_dropped_across_batches(ws, h, tmp_path):
    table = h.events(1234)
    path = h.write_csv(
        table, tmp_path / "e.csv", bad={5: {"event_type": "x"}, 700: {"price": "-1"}}
    )
    result = ingest(ws, "events", path, on_error="quarantine", progress=False, batch_rows=100)
    assert result.rows_read == 1234
    assert result.rows_accepted + result.rows_quarantined == result.rows_read
    assert ws.row_count("events") == result.rows_accepted == 1232
