"""Valid data in every format round-trips to exactly the canonical table."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.schema.tables import TABLES
from reclift.schema.validate import (
    REJECTED_SCHEMA,
    check_arrow_table,
    iter_checked_batches,
    validate_file,
)

FORMATS = ("csv", "tsv", "jsonl", "parquet")
EXTENSIONS = {"csv": ".csv", "tsv": ".tsv", "jsonl": ".jsonl", "parquet": ".parquet"}


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("table", list(TABLES))
def test_every_table_in_every_format(table, fmt, gz, samples, tmp_path):
    expected = samples.sample_table(table)
    path = tmp_path / f"{table}{EXTENSIONS[fmt]}{'.gz' if gz else ''}"
    samples.write_table(expected, path, fmt, gz=gz)
    batches = list(iter_checked_batches(path, table))
    assert [b.problems for b in batches] == [[]]
    got = pa.concat_tables([b.accepted for b in batches])
    assert got.schema == TABLES[table].schema
    assert got.equals(expected), (got.to_pylist(), expected.to_pylist())
    assert batches[0].rejected.schema == REJECTED_SCHEMA
    report = validate_file(path, table)
    assert report.ok and report.rows_read == report.rows_ok == expected.num_rows


def test_format_override_and_json_extension(samples, tmp_path):
    expected = samples.sample_table("users")
    path = samples.write_table(expected, tmp_path / "users.txt", "jsonl")
    [batch] = iter_checked_batches(path, "users", fmt="jsonl")
    assert batch.accepted.equals(expected)
    json_path = samples.write_table(expected, tmp_path / "users.json", "jsonl")
    [batch] = iter_checked_batches(json_path, "users")
    assert batch.accepted.equals(expected)


def test_nullable_columns_may_be_absent(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("session_id,item_id,event_type,ts\ns1,i1,view,2024-01-01T00:00:00Z\n")
    [batch] = iter_checked_batches(path, "events")
    assert batch.accepted.schema == TABLES["events"].schema
    row = batch.accepted.to_pylist()[0]
    assert row["user_id"] is None and row["quantity"] is None and row["price"] is None


def test_ids_keep_leading_zeros_and_booleans_are_lenient(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text(
        "user_id,campaign_id,treatment,ts,converted\n"
        "007,c1,TRUE,2024-01-01T00:00:00Z,no\n"
        "008,c1,f,2024-01-01T00:00:00Z,Yes\n"
        "009,c1,1,2024-01-01T00:00:00Z, 0 \n"
    )
    [batch] = iter_checked_batches(path, "exposures")
    assert batch.problems == []
    assert batch.accepted.column("user_id").to_pylist() == ["007", "008", "009"]
    assert batch.accepted.column("treatment").to_pylist() == [True, False, True]
    assert batch.accepted.column("converted").to_pylist() == [False, True, False]


def test_epoch_seconds_and_milliseconds_are_detected(tmp_path):
    instant = dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC)
    seconds = int(instant.timestamp())
    header = "session_id,item_id,event_type,ts\n"
    for name, value, unit in [
        ("s.csv", seconds, "auto"),
        ("ms.csv", seconds * 1000, "auto"),
        ("us.csv", seconds * 1_000_000, "auto"),
        ("fs.csv", seconds, "s"),
        ("fms.csv", seconds * 1000, "ms"),
        ("fus.csv", seconds * 1_000_000, "us"),
        ("iso.csv", "2023-11-14T23:13:20+01:00", "auto"),
    ]:
        path = tmp_path / name
        path.write_text(header + f"s,i,view,{value}\n")
        [batch] = iter_checked_batches(path, "events", time_unit=unit)
        assert batch.problems == [], name
        assert batch.accepted.column("ts").to_pylist() == [instant], name


def test_forced_unit_reads_small_numbers_as_that_unit(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("session_id,item_id,event_type,ts\ns,i,view,1700000000\n")
    [batch] = iter_checked_batches(path, "events", time_unit="ms")
    ts = batch.accepted.column("ts")[0].as_py()
    assert ts == dt.datetime(1970, 1, 20, 16, 13, 20, tzinfo=dt.UTC)


def test_rows_keep_their_numbers_across_batches_csv(tmp_path):
    # About 3 MB, i.e. several 1 MiB blocks: bad rows and duplicates far apart.
    n = 60_000
    bad_rows = {5, 20_001, 41_234, 59_999}
    lines = ["item_id,title,category,brand,price,attributes"]
    for row in range(1, n + 1):
        price = "-1" if row in bad_rows else "1.5"
        item = "dup" if row in (7, 50_000) else f"item-{row:08d}"
        lines.append(f"{item},a fairly long title for row {row},cat>sub,brand,{price},")
    path = tmp_path / "items.csv"
    path.write_text("\n".join(lines) + "\n")
    batches = list(iter_checked_batches(path, "items", batch_rows=10_000))
    assert len(batches) > 2
    problems = [p for b in batches for p in b.problems]
    assert [(p.row, p.column) for p in problems] == [
        (5, "price"),
        (20_001, "price"),
        (41_234, "price"),
        (50_000, "item_id"),
        (59_999, "price"),
    ]
    assert problems[3].message == "duplicate key item_id='dup'; first seen at row 7"
    rejected = pa.concat_tables([b.rejected for b in batches])
    assert rejected.column("_row").to_pylist() == [5, 20_001, 41_234, 50_000, 59_999]
    assert sum(b.rows_read for b in batches) == n
    assert sum(b.accepted.num_rows for b in batches) == n - 5


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_rows_keep_their_numbers_across_small_batches(fmt, samples, tmp_path):
    table = pa.table(
        {
            "user_id": [f"u{i}" for i in range(10)],
            "attributes": ['{"a": 1}'] * 4 + ["not json"] + ['{"a": 1}'] * 5,
        }
    )
    table = table.set_column(0, "user_id", pa.array([*[f"u{i}" for i in range(8)], "u2", "u9"]))
    path = samples.write_table(
        table, tmp_path / f"u.{fmt}", "parquet" if fmt == "parquet" else "csv"
    )
    if fmt == "jsonl":
        lines = [json.dumps(r) for r in table.to_pylist()]
        path.write_text("\n".join(lines[:3]) + "\n\n" + "\n".join(lines[3:]) + "\n")
    batches = list(iter_checked_batches(path, "users", batch_rows=3))
    assert len(batches) == 4
    problems = [(p.row, p.column, p.message) for b in batches for p in b.problems]
    assert problems == [
        (5, "attributes", "not a JSON object: 'not json'"),
        (9, "user_id", "duplicate key user_id='u2'; first seen at row 3"),
    ]


def test_first_accepted_row_claims_the_key(tmp_path):
    path = tmp_path / "i.csv"
    path.write_text("item_id,price\nA,-1\nA,2\nA,3\n")
    report = validate_file(path, "items")
    assert [str(p) for p in report.problems] == [
        f"{path}:1:price: negative value -1.0 (must be >= 0)",
        f"{path}:3:item_id: duplicate key item_id='A'; first seen at row 2",
    ]


def test_rejected_rows_carry_raw_values_and_reasons(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(
        "user_id,session_id,item_id,event_type,ts,quantity,price,query\n"
        "u1,s1,i1,buy,2024-01-01T00:00:00Z,x,1,\n"
    )
    [batch] = iter_checked_batches(path, "events")
    assert batch.accepted.num_rows == 0 and batch.rows_read == 1
    [row] = batch.rejected.to_pylist()
    assert row["_file"] == str(path) and row["_row"] == 1
    assert row["_column"] == "event_type,quantity"
    assert row["_reason"] == (
        "event_type: unknown event_type 'buy'; allowed: view, click, cart, order; "
        "quantity: not an integer: 'x'"
    )
    assert json.loads(row["_raw"])["quantity"] == "x"
    assert [str(p) for p in batch.problems] == [
        f"{path}:1:event_type: unknown event_type 'buy'; allowed: view, click, cart, order",
        f"{path}:1:quantity: not an integer: 'x'",
    ]


def test_formula_rule_spares_ordinary_strings(tmp_path):
    path = tmp_path / "i.csv"
    titles = ["-", "+49 shoes", "-5", "@home", "=", "a=b", "- 20% off", "+", "C++ (book)"]
    titles += ["-50% sale!", "+1 (555) 010", "- great (new) -"]
    path.write_text("item_id,title\n" + "".join(f"i{n},{t}\n" for n, t in enumerate(titles)))
    [batch] = iter_checked_batches(path, "items")
    assert batch.problems == []
    assert batch.accepted.column("title").to_pylist() == titles


def test_check_arrow_table_coerces_database_types():
    raw = pa.table(
        {
            "campaign_id": pa.array(["c1", "c2"]).dictionary_encode(),
            "keyword": ["a", None],
            "bid": pa.array([decimal.Decimal("1.25"), decimal.Decimal("2")], pa.decimal128(10, 2)),
            "impressions": pa.array([10, 20], pa.int32()),
            "clicks": pa.array([1.0, 2.0]),
            "orders": pa.array([0, 1], pa.uint64()),
            "start": pa.array(
                [dt.datetime(2024, 1, 1, 1, 0), dt.datetime(2024, 1, 1, 2, 0)],
                pa.timestamp("ns", tz="Europe/Berlin"),
            ),
            "end": pa.array([1_710_000_000_000, None], pa.int64()),
        }
    )
    batch = check_arrow_table(raw, "campaigns", source="postgresql://db/campaigns")
    assert batch.problems == []
    got = batch.accepted.to_pylist()
    assert got[0]["bid"] == 1.25 and got[0]["impressions"] == 10 and got[1]["orders"] == 1
    assert got[0]["start"] == dt.datetime(2024, 1, 1, 1, 0, tzinfo=dt.UTC)
    assert got[0]["end"] == dt.datetime(2024, 3, 9, 16, 0, tzinfo=dt.UTC)
    assert batch.accepted.schema == TABLES["campaigns"].schema


def test_check_arrow_table_flags_bad_numbers_and_nested_json():
    raw = pa.table(
        {
            "item_id": ["a", "b", "c"],
            "price": pa.array([1.0, float("nan"), 2.0]),
            "attributes": pa.array([{"x": 1}, {"x": 2}, None], pa.struct([("x", pa.int64())])),
        }
    )
    batch = check_arrow_table(raw, "items", source="mem", first_row=11)
    assert [str(p) for p in batch.problems] == ["mem:12:price: not a finite number: 'nan'"]
    assert batch.accepted.column("attributes").to_pylist() == ['{"x": 1}', None]
    ints = pa.table({"item_id": ["a", "b"], "price": [1, 2]})
    assert check_arrow_table(ints, "items", source="m").accepted.column("price").to_pylist() == [
        1.0,
        2.0,
    ]
    big = pa.table(
        {
            "campaign_id": ["a", "b"],
            "clicks": pa.array([1, 2**63 + 5], pa.uint64()),
            "orders": pa.array([1.0, 1.5]),
        }
    )
    batch = check_arrow_table(big, "campaigns", source="m")
    assert [str(p) for p in batch.problems] == [
        "m:2:clicks: not an integer in the int64 range: '9223372036854775813'",
        "m:2:orders: not an integer: '1.5'",
    ]


def test_parquet_timestamps_with_zone_convert_to_utc(tmp_path):
    table = pa.table(
        {
            "ts": pa.array([dt.datetime(2024, 6, 1, 12, 0)], pa.timestamp("ms", tz="+02:00")),
            "banner_id": ["b"],
            "propensity": [1.0],
            "reward": [0.0],
        }
    )
    path = tmp_path / "b.parquet"
    pq.write_table(table, path)
    [batch] = iter_checked_batches(path, "banner_log")
    assert batch.accepted.column("ts").to_pylist() == [
        dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
    ]


def test_bom_crlf_and_multiline_values_count_records_not_lines(tmp_path):
    path = tmp_path / "u.csv"
    path.write_bytes(
        b'\xef\xbb\xbfuser_id,attributes\r\n"u\r\n1",\r\nu2,"{""a"":\n1}"\r\n\r\nu3,x\r\n'
    )
    report = validate_file(path, "users")
    assert [str(p) for p in report.problems] == [f"{path}:3:attributes: not a JSON object: 'x'"]
    [batch] = iter_checked_batches(path, "users")
    assert batch.accepted.column("user_id").to_pylist() == ["u\r\n1", "u2"]


def test_check_arrow_table_on_empty_and_minimal_tables():
    empty = pa.table({"user_id": pa.array([], pa.string())})
    batch = check_arrow_table(empty, "users", source="m")
    assert batch.rows_read == 0 and batch.accepted.schema == TABLES["users"].schema
    nulls = pa.table({"user_id": pa.nulls(2)})
    batch = check_arrow_table(nulls, "users", source="m")
    assert [(p.row, p.column) for p in batch.problems] == [(1, "user_id"), (2, "user_id")]


def test_check_state_carries_keys_and_units_across_chunks():
    from reclift.schema.validate import CheckState

    state = CheckState()
    first = pa.table({"item_id": ["a", "b"], "price": [1.0, 2.0]})
    second = pa.table({"item_id": ["c", "a"], "price": [1.0, 2.0]})
    check_arrow_table(first, "items", source="db", state=state)
    batch = check_arrow_table(second, "items", source="db", first_row=3, state=state)
    assert [str(p) for p in batch.problems] == [
        "db:4:item_id: duplicate key item_id='a'; first seen at row 1"
    ]
    events = {"session_id": ["s"], "item_id": ["i"], "event_type": ["view"]}
    ms = pa.table({**events, "ts": ["1700000000000"]})
    seconds = pa.table({**events, "ts": ["1700000000"]})
    check_arrow_table(ms, "events", source="db", state=state)
    batch = check_arrow_table(seconds, "events", source="db", first_row=2, state=state)
    assert batch.problems[0].message.startswith(
        "epoch value '1700000000' looks like seconds, but this column holds milliseconds"
    )
