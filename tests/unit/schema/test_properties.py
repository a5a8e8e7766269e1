"""Property tests: round trips, robustness against garbage, equal instants parse equal."""

from __future__ import annotations

import datetime as dt
import gzip
import os

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reclift.errors import SchemaError
from reclift.schema.tables import EVENT_TYPES, TABLES
from reclift.schema.validate import check_arrow_table, iter_checked_batches, validate_file

# RECLIFT_HYPOTHESIS_EXAMPLES=2000 runs a longer fuzzing session.
SETTINGS = settings(
    max_examples=int(os.environ.get("RECLIFT_HYPOTHESIS_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Text that survives a CSV round trip and is not a spreadsheet formula: no control
# characters, no leading whitespace or formula characters, not empty.
_SAFE = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
text = st.text(_SAFE, min_size=1, max_size=20).filter(
    lambda s: not s[0].isspace() and s[0] not in "=@+-"
)
instants = st.datetimes(
    min_value=dt.datetime(1975, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
events_rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.none() | text,
            "session_id": text,
            "item_id": text,
            "event_type": st.sampled_from(EVENT_TYPES),
            "ts": instants,
            "quantity": st.none() | st.integers(0, 2**62),
            "price": st.none() | st.floats(0, 1e12, allow_nan=False),
            "query": st.none() | text,
        }
    ),
    min_size=1,
    max_size=30,
)


@SETTINGS
@given(rows=events_rows, fmt=st.sampled_from(["csv", "tsv", "jsonl", "parquet"]), gz=st.booleans())
def test_valid_events_round_trip(rows, fmt, gz, samples, tmp_path_factory):
    if fmt == "tsv":
        rows = [{k: _no_tabs(v) for k, v in r.items()} for r in rows]
    expected = pa.Table.from_pylist(rows, schema=TABLES["events"].schema)
    path = tmp_path_factory.mktemp("rt") / f"events.{fmt}{'.gz' if gz else ''}"
    samples.write_table(expected, path, fmt, gz=gz)
    batches = list(iter_checked_batches(path, "events"))
    assert [p for b in batches for p in b.problems] == []
    got = pa.concat_tables([b.accepted for b in batches])
    assert got.equals(expected)


def _no_tabs(value):
    return value.replace("\t", " ") if isinstance(value, str) else value


@SETTINGS
@given(
    data=st.binary(max_size=300),
    suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".parquet", ".csv.gz", ".jsonl.gz"]),
    table=st.sampled_from(list(TABLES)),
    compress=st.booleans(),
)
def test_garbage_only_ever_gives_problems(data, suffix, table, compress, tmp_path_factory):
    path = tmp_path_factory.mktemp("g") / f"f{suffix}"
    path.write_bytes(gzip.compress(data) if compress else data)
    report = validate_file(path, table)
    assert report.rows_ok <= report.rows_read
    try:
        for batch in iter_checked_batches(path, table):
            assert batch.accepted.num_rows + batch.rejected.num_rows == batch.rows_read
    except SchemaError:
        pass


@SETTINGS
@given(
    header=st.sampled_from(["user_id,attributes", "item_id,title,price", "user_id"]),
    cells=st.lists(st.lists(st.text(max_size=8), min_size=1, max_size=3), max_size=10),
)
def test_garbage_cells_only_ever_give_problems(header, cells, tmp_path_factory):
    path = tmp_path_factory.mktemp("c") / "f.csv"
    body = "\n".join(",".join(c.replace("\n", " ") for c in row) for row in cells)
    path.write_text(header + "\n" + body + "\n", encoding="utf-8", errors="surrogatepass")
    table = "items" if header.startswith("item") else "users"
    report = validate_file(path, table)
    assert report.fatal or report.rows_ok + (report.rows_read - report.rows_ok) == report.rows_read


@SETTINGS
@given(
    instant=instants,
    offset_minutes=st.integers(-14 * 60, 14 * 60).map(lambda m: m - m % 15),
)
def test_iso_and_epoch_of_the_same_instant_parse_equal(instant, offset_minutes):
    zone = dt.timezone(dt.timedelta(minutes=offset_minutes))
    local = instant.astimezone(zone)
    micros = (instant - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    whole_ms = micros - micros % 1000
    iso = local.isoformat()
    texts = [
        iso,
        instant.isoformat().replace("+00:00", "Z"),
        (iso[:-3] + iso[-2:]).replace("T", " "),  # +hhmm zone, space separator
        str(micros),
    ]
    raw = pa.table(
        {
            "session_id": ["s"] * len(texts),
            "item_id": ["i"] * len(texts),
            "event_type": ["view"] * len(texts),
            "ts": texts,
        }
    )
    batch = check_arrow_table(raw, "events", source="mem", time_unit="us")
    assert batch.problems == []
    assert set(batch.accepted.column("ts").to_pylist()) == {instant}
    ms = check_arrow_table(
        raw.slice(0, 1).set_column(3, "ts", pa.array([str(whole_ms // 1000)])),
        "events",
        source="mem",
    )
    assert ms.accepted.column("ts").to_pylist() == [
        instant - dt.timedelta(microseconds=micros % 1000)
    ]


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_numeric_epochs_equal_iso(unit):
    instant = dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=dt.UTC)
    factor = {"s": 1, "ms": 1000, "us": 1_000_000}[unit]
    seconds = int(instant.timestamp())
    raw = pa.table(
        {
            "session_id": ["s", "s"],
            "item_id": ["i", "i"],
            "event_type": ["view", "view"],
            "ts": pa.array([seconds * factor, seconds * factor], pa.int64()),
        }
    )
    batch = check_arrow_table(raw, "events", source="mem")
    assert batch.accepted.column("ts").to_pylist() == [instant, instant]


@SETTINGS
@given(
    table=st.sampled_from(list(TABLES)),
    fmt=st.sampled_from(["csv", "tsv", "jsonl", "parquet"]),
    gz=st.booleans(),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=6),
    cut=st.none() | st.floats(0, 1),
)
def test_mutated_valid_files_only_ever_give_problems(
    table, fmt, gz, edits, cut, samples, tmp_path_factory
):
    path = tmp_path_factory.mktemp("m") / f"f.{fmt}{'.gz' if gz else ''}"
    samples.write_table(samples.sample_table(table, rows=5), path, fmt, gz=gz)
    data = bytearray(path.read_bytes())
    for where, byte in edits:
        data[int(where * len(data))] = byte
    if cut is not None:
        data = data[: int(cut * len(data))]
    path.write_bytes(bytes(data))
    report = validate_file(path, table)
    assert report.rows_ok <= report.rows_read
    assert report.fatal or report.ok or report.problems
