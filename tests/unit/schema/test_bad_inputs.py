# ruff: noqa: E501  (pinned messages are quoted whole)
"""A table of bad inputs, each pinned to the problem(s) it must produce."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.schema.readers import MAX_RECORD_BYTES
from reclift.schema.validate import validate_file

EVENTS_HEADER = "user_id,session_id,item_id,event_type,ts,quantity,price,query"
EVENT = "u1,s1,i1,view,2024-01-01T10:00:00Z,1,9.99,shoes"
ITEMS_HEADER = "item_id,title,category,brand,price,attributes"
EVENTS_COLUMNS = "user_id, session_id, item_id, event_type, ts, quantity, price, query"


def csv_text(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def events(*rows: str) -> bytes:
    return csv_text(EVENTS_HEADER, *rows)


def items(*rows: str) -> bytes:
    return csv_text(ITEMS_HEADER, *rows)


def write_parquet(table: pa.Table) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        pq.write_table(table, path)

    return write


def truncated_gzip(path: Path) -> None:
    data = gzip.compress(events(*[EVENT.replace("i1", f"i{i}") for i in range(20000)]))
    path.write_bytes(data[: len(data) // 2])


def truncated_parquet(path: Path) -> None:
    table = pa.table({"item_id": [f"i{i}" for i in range(1000)], "price": [1.0] * 1000})
    pq.write_table(table, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def long_line(path: Path) -> None:
    with path.open("w") as fh:
        fh.write(EVENTS_HEADER + "\n" + EVENT + "\n")
        fh.write("u1,s1,i1,view,2024-01-01T10:00:00Z,1,9.99," + "x" * 10_000_000 + "\n")
        fh.write(EVENT + "\n")


def long_line_gz(path: Path) -> None:
    long_line(path)
    path.write_bytes(gzip.compress(path.read_bytes()))


def long_jsonl_line(path: Path) -> None:
    path.write_text('{"user_id": "a"}\n{"user_id": "' + "x" * 10_000_000 + '"}\n')


def long_header(path: Path) -> None:
    path.write_text(EVENTS_HEADER + "," + "x" * 10_000_000 + "\nu1\n")


NON_UTF8 = events(EVENT, "u1,s1,cafe,view,2024-01-01T10:00:00Z,1,9.99,").replace(
    b"cafe", b"caf\xe9"
)


@dataclass
class Case:
    id: str
    table: str
    name: str
    content: bytes | Callable[[Path], None]
    expected: list[tuple[int | None, str | None, str]]  # (row, column, regex)
    fatal: bool = False
    time_unit: str = "auto"


CASES = [
    # ---- file level
    Case(
        "missing-column",
        "events",
        "e.csv",
        csv_text("user_id,item_id,event_type,ts", "u1,i1,view,2024-01-01T10:00:00Z"),
        [
            (
                None,
                None,
                re.escape(
                    f"missing required column(s): session_id; table events expects: {EVENTS_COLUMNS}"
                ),
            )
        ],
        fatal=True,
    ),
    Case(
        "extra-column",
        "events",
        "e.csv",
        csv_text(EVENTS_HEADER + ",colour", EVENT + ",red"),
        [
            (
                None,
                None,
                re.escape(f"unknown column(s): 'colour'; table events expects: {EVENTS_COLUMNS}"),
            )
        ],
        fatal=True,
    ),
    Case(
        "duplicate-header",
        "users",
        "u.csv",
        csv_text("user_id,user_id", "a,b"),
        [(None, None, re.escape("duplicate column(s): user_id"))],
        fatal=True,
    ),
    Case(
        "empty-file",
        "events",
        "e.csv",
        b"",
        [(None, None, re.escape("the file is empty (0 bytes)"))],
        fatal=True,
    ),
    Case(
        "header-only",
        "events",
        "e.csv",
        csv_text(EVENTS_HEADER),
        [(None, None, "the file has a header but no data rows")],
        fatal=True,
    ),
    Case(
        "header-only-without-line-break",
        "events",
        "e.csv",
        EVENTS_HEADER.encode(),
        [(None, None, "the file has a header but no data rows")],
        fatal=True,
    ),
    Case(
        "blank-first-line",
        "events",
        "e.csv",
        b"\n" + events(EVENT),
        [(None, None, "the first line is blank; expected a header line")],
        fatal=True,
    ),
    Case(
        "non-utf8",
        "events",
        "e.csv",
        NON_UTF8,
        [
            (
                2,
                None,
                re.escape(
                    f"invalid UTF-8 byte 0xe9 at byte offset {NON_UTF8.index(0xE9)} (line 3)"
                ),
            )
        ],
        fatal=True,
    ),
    Case(
        "non-utf8-jsonl",
        "users",
        "u.jsonl",
        b'{"user_id": "a"}\n{"user_id": "caf\xe9"}\n',
        [(2, None, re.escape("invalid UTF-8 byte 0xe9 at byte offset 33 (line 2)"))],
        fatal=True,
    ),
    Case(
        "non-utf8-header",
        "users",
        "u.csv",
        b"user_id,attributes\xff\nu1,\n",
        [(None, None, re.escape("the header line is not valid UTF-8 (byte 0xff at offset 18)"))],
        fatal=True,
    ),
    Case(
        "truncated-gzip",
        "events",
        "e.csv.gz",
        truncated_gzip,
        [(None, None, r"^truncated or corrupt gzip data after \d+ rows: ")],
        fatal=True,
    ),
    Case(
        "not-gzip",
        "events",
        "e.csv.gz",
        events(EVENT),
        [(None, None, re.escape("not a gzip file (it does not start with the gzip magic bytes)"))],
        fatal=True,
    ),
    Case(
        "wrong-field-count",
        "events",
        "e.csv",
        events(EVENT, "u1,s1,i1", EVENT),
        [(2, None, re.escape("expected 8 fields, got 3 (line 3)"))],
        fatal=True,
    ),
    Case(
        "10MB-single-line",
        "events",
        "e.csv",
        long_line,
        [(2, None, re.escape(f"line 3 is longer than the limit of {MAX_RECORD_BYTES} bytes"))],
        fatal=True,
    ),
    Case(
        "10MB-single-line-gz",
        "events",
        "e.csv.gz",
        long_line_gz,
        [(2, None, re.escape(f"line 3 is longer than the limit of {MAX_RECORD_BYTES} bytes"))],
        fatal=True,
    ),
    Case(
        "10MB-jsonl-line",
        "users",
        "u.jsonl",
        long_jsonl_line,
        [(2, None, re.escape(f"line 2 is longer than the limit of {MAX_RECORD_BYTES} bytes"))],
        fatal=True,
    ),
    Case(
        "10MB-header",
        "events",
        "e.csv",
        long_header,
        [
            (
                None,
                None,
                re.escape(
                    f"the header line 1 is longer than the limit of {MAX_RECORD_BYTES} bytes"
                ),
            )
        ],
        fatal=True,
    ),
    Case(
        "invalid-jsonl-line",
        "users",
        "u.jsonl",
        b'{"user_id": "a"}\n{"user_id": "b",\n',
        [
            (
                2,
                None,
                re.escape(
                    "invalid JSON on line 2: Expecting property name enclosed in double quotes (column 17)"
                ),
            )
        ],
        fatal=True,
    ),
    Case(
        "jsonl-array-line",
        "users",
        "u.jsonl",
        b'{"user_id": "a"}\n\n[1, 2]\n',
        [(2, None, re.escape("line 3 holds a JSON array; JSON Lines need one object per line"))],
        fatal=True,
    ),
    Case(
        "jsonl-unknown-key",
        "users",
        "u.jsonl",
        b'{"user_id": "a"}\n{"user_id": "b", "age": 3}\n',
        [(2, None, re.escape("unknown key(s): 'age'; table users expects: user_id, attributes"))],
        fatal=True,
    ),
    Case(
        "unreadable-parquet",
        "items",
        "i.parquet",
        b"this is not parquet at all",
        [(None, None, r"^not a readable Parquet file: ")],
        fatal=True,
    ),
    Case(
        "truncated-parquet",
        "items",
        "i.parquet",
        truncated_parquet,
        [(None, None, r"^not a readable Parquet file: ")],
        fatal=True,
    ),
    Case(
        "naive-parquet-timestamp",
        "events",
        "e.parquet",
        write_parquet(
            pa.table(
                {
                    "session_id": ["s"],
                    "item_id": ["i"],
                    "event_type": ["view"],
                    "ts": pa.array([0], pa.timestamp("us")),
                }
            )
        ),
        [
            (
                None,
                "ts",
                re.escape(
                    "column ts holds timestamps without a time zone (timestamp[us]); has no time zone; a zone is required (e.g. Z or +01:00)"
                ),
            )
        ],
        fatal=True,
    ),
    Case(
        "parquet-wrong-type",
        "events",
        "e.parquet",
        write_parquet(
            pa.table(
                {
                    "session_id": ["s"],
                    "item_id": ["i"],
                    "event_type": ["view"],
                    "ts": ["2024-01-01T00:00:00Z"],
                    "quantity": [True],
                }
            )
        ),
        [(None, "quantity", re.escape("column quantity has type bool, expected integers"))],
        fatal=True,
    ),
    # ---- row level
    Case(
        "text-in-int",
        "events",
        "e.csv",
        events(EVENT, "u1,s1,i1,view,2024-01-01T10:00:00Z,two,9.99,"),
        [(2, "quantity", re.escape("not an integer: 'two'"))],
    ),
    Case(
        "fraction-in-int",
        "events",
        "e.csv",
        events("u1,s1,i1,view,2024-01-01T10:00:00Z,1.5,9.99,"),
        [(1, "quantity", re.escape("not an integer: '1.5'"))],
    ),
    Case(
        "text-in-float",
        "items",
        "i.csv",
        items("a,t,c,b,cheap,"),
        [(1, "price", re.escape("not a number: 'cheap'"))],
    ),
    Case(
        "nan-in-float",
        "items",
        "i.csv",
        items("a,t,c,b,NaN,"),
        [(1, "price", re.escape("not a number: 'NaN'"))],
    ),
    Case(
        "unparsable-timestamp",
        "events",
        "e.csv",
        events("u1,s1,i1,view,yesterday,1,9.99,"),
        [
            (
                1,
                "ts",
                re.escape(
                    "not a timestamp: 'yesterday' (expected ISO 8601 with a zone, or epoch seconds/milliseconds)"
                ),
            )
        ],
    ),
    Case(
        "impossible-date",
        "events",
        "e.csv",
        events(EVENT, "u1,s1,i1,view,2024-02-30T10:00:00Z,1,9.99,"),
        [(2, "ts", re.escape("not a timestamp: '2024-02-30T10:00:00Z'"))],
    ),
    Case(
        "naive-timestamp",
        "events",
        "e.csv",
        events("u1,s1,i1,view,2024-01-01 10:00:00,1,9.99,"),
        [
            (
                1,
                "ts",
                re.escape(
                    "naive time '2024-01-01 10:00:00' has no time zone; a zone is required (e.g. Z or +01:00)"
                ),
            )
        ],
    ),
    Case(
        "date-only",
        "campaigns",
        "c.csv",
        csv_text("campaign_id,start", "c1,2024-01-01"),
        [(1, "start", re.escape("naive time '2024-01-01' has no time zone; a zone is required"))],
    ),
    Case(
        "epoch-too-large",
        "events",
        "e.csv",
        events("u1,s1,i1,view,17000000000000000000,1,9.99,"),
        [
            (
                1,
                "ts",
                re.escape(
                    "epoch value '17000000000000000000' is too large for seconds, milliseconds or microseconds"
                ),
            )
        ],
    ),
    Case(
        "epoch-units-mixed",
        "events",
        "e.csv",
        events("u1,s1,i1,view,1700000000000,1,9.99,", "u1,s1,i1,view,1700000000,1,9.99,"),
        [
            (
                2,
                "ts",
                re.escape(
                    "epoch value '1700000000' looks like seconds, but this column holds milliseconds"
                ),
            )
        ],
    ),
    Case(
        "null-id",
        "events",
        "e.csv",
        events(EVENT, "u1,s1,,view,2024-01-01T10:00:00Z,1,9.99,"),
        [(2, "item_id", re.escape("a value is required (the cell is empty or null)"))],
    ),
    Case(
        "null-id-jsonl",
        "users",
        "u.jsonl",
        b'{"user_id": "a"}\n{"user_id": null}\n{"attributes": "{}"}\n',
        [
            (2, "user_id", re.escape("a value is required (the cell is empty or null)")),
            (3, "user_id", re.escape("a value is required (the cell is empty or null)")),
        ],
    ),
    Case(
        "duplicate-key",
        "items",
        "i.csv",
        items("A,t,c,b,1,", "B,t,c,b,1,", "A,t2,c,b,2,"),
        [(3, "item_id", re.escape("duplicate key item_id='A'; first seen at row 1"))],
    ),
    Case(
        "campaign-ends-before-it-starts",
        "campaigns",
        "c.csv",
        csv_text(
            "campaign_id,keyword,start,end",
            "c1,shoes,2024-01-01T00:00:00Z,2024-01-31T00:00:00Z",
            "c2,boots,2024-02-01T00:00:00Z,2024-01-15T00:00:00Z",
        ),
        [
            (
                2,
                "end",
                re.escape(
                    "end 2024-01-15T00:00:00+00:00 is before start 2024-02-01T00:00:00+00:00"
                ),
            )
        ],
    ),
    Case(
        "duplicate-composite-key",
        "campaigns",
        "c.csv",
        csv_text("campaign_id,keyword,bid", "c1,shoes,1", "c1,boots,1", "c1,shoes,2"),
        [
            (
                3,
                None,
                re.escape("duplicate key campaign_id='c1', keyword='shoes'; first seen at row 1"),
            )
        ],
    ),
    Case(
        "negative-price",
        "items",
        "i.csv",
        items("A,t,c,b,-5,"),
        [(1, "price", re.escape("negative value -5.0 (must be >= 0)"))],
    ),
    Case(
        "negative-quantity",
        "events",
        "e.csv",
        events("u1,s1,i1,order,2024-01-01T10:00:00Z,-2,9.99,"),
        [(1, "quantity", re.escape("negative value -2 (must be >= 0)"))],
    ),
    Case(
        "unknown-event-type",
        "events",
        "e.csv",
        events("u1,s1,i1,purchase,2024-01-01T10:00:00Z,1,9.99,"),
        [
            (
                1,
                "event_type",
                re.escape("unknown event_type 'purchase'; allowed: view, click, cart, order"),
            )
        ],
    ),
    Case(
        "unknown-query-action",
        "queries",
        "q.csv",
        csv_text("query,ts,action", "shoes,2024-01-01T10:00:00Z,buy"),
        [(1, "action", re.escape("unknown action 'buy'; allowed: impression, click, order"))],
    ),
    Case(
        "treatment-not-boolean",
        "exposures",
        "x.csv",
        csv_text("user_id,campaign_id,treatment,ts,converted", "u,c,maybe,2024-01-01T10:00:00Z,no"),
        [
            (
                1,
                "treatment",
                re.escape("not a boolean: 'maybe' (expected true/false, 1/0, t/f, yes/no)"),
            )
        ],
    ),
    Case(
        "propensity-zero",
        "banner_log",
        "b.csv",
        csv_text("ts,banner_id,propensity,reward", "2024-01-01T10:00:00Z,b1,0,1"),
        [(1, "propensity", re.escape("0.0 is outside (0, 1]"))],
    ),
    Case(
        "propensity-above-one",
        "banner_log",
        "b.csv",
        csv_text("ts,banner_id,propensity,reward", "2024-01-01T10:00:00Z,b1,1.5,1"),
        [(1, "propensity", re.escape("1.5 is outside (0, 1]"))],
    ),
    Case(
        "formula-hyperlink",
        "items",
        "i.csv",
        items('A,"=HYPERLINK(""http://x"",""click"")",c,b,1,'),
        [
            (
                1,
                "title",
                re.escape(
                    'spreadsheet formula \'=HYPERLINK("http://x","click")\' (refused: it could run code when the file is opened in a spreadsheet)'
                ),
            )
        ],
    ),
    Case(
        "formula-dde",
        "events",
        "e.csv",
        events("u1,s1,i1,view,2024-01-01T10:00:00Z,1,9.99,+cmd|' /C calc'!A0"),
        [(1, "query", re.escape("spreadsheet formula \"+cmd|' /C calc'!A0\""))],
    ),
    Case(
        "formula-dde-behind-a-number",
        "items",
        "i.csv",
        items("i1,+1+cmd|' /C calc'!A0,c,b,1,", "i2,-1+cmd|' /C calc'!A0,c,b,1,"),
        [
            (1, "title", re.escape("spreadsheet formula \"+1+cmd|' /C calc'!A0\"")),
            (2, "title", re.escape("spreadsheet formula \"-1+cmd|' /C calc'!A0\"")),
        ],
    ),
    Case(
        "formula-function-behind-a-number",
        "items",
        "i.csv",
        items("i1,-2+SUM(A1:A9),c,b,1,"),
        [(1, "title", re.escape("spreadsheet formula '-2+SUM(A1:A9)'"))],
    ),
    Case(
        "formula-at",
        "items",
        "i.csv",
        items("@SUM(1+1),t,c,b,1,"),
        [(1, "item_id", re.escape("spreadsheet formula '@SUM(1+1)'"))],
    ),
    Case(
        "bad-json-attributes",
        "items",
        "i.csv",
        items('A,t,c,b,1,"{""colour"": }"'),
        [(1, "attributes", re.escape("not a JSON object: '{\"colour\": }'"))],
    ),
    Case(
        "json-array-attributes",
        "users",
        "u.csv",
        csv_text("user_id,attributes", 'u,"[1, 2]"'),
        [(1, "attributes", re.escape("not a JSON object: '[1, 2]'"))],
    ),
    Case(
        "jsonl-object-in-scalar-column",
        "users",
        "u.jsonl",
        b'{"user_id": {"id": 1}}\n',
        [(1, "user_id", re.escape("expected a single value, got a JSON object"))],
    ),
    Case(
        "tsv-wrong-type",
        "events",
        "e.tsv",
        csv_text(
            EVENTS_HEADER.replace(",", "\t"), "u1\ts1\ti1\tview\t2024-01-01T10:00:00Z\t1\tfree\t"
        ),
        [(1, "price", re.escape("not a number: 'free'"))],
    ),
    Case(
        "year-zero",
        "events",
        "e.csv",
        events("u1,s1,i1,view,0000-01-01T00:00:00Z,1,9.99,"),
        [(1, "ts", re.escape("time '0000-01-01T00:00:00Z' is outside the supported years"))],
    ),
    Case(
        "year-one-shifted-to-year-zero-by-its-offset",
        "events",
        "e.csv",
        events("u1,s1,i1,view,0001-01-01T00:00:00+01:00,1,9.99,"),
        [(1, "ts", re.escape("is outside the supported years 0001..9999 (UTC)"))],
    ),
    Case(
        "epoch-before-year-one",
        "events",
        "e.csv",
        events("u1,s1,i1,view,-99999999999,1,9.99,"),
        [(1, "ts", re.escape("time '-99999999999' is outside the supported years"))],
    ),
    Case(
        "parquet-timestamp-in-year-10000",
        "events",
        "e.parquet",
        write_parquet(
            pa.table(
                {
                    "session_id": ["s1"],
                    "item_id": ["i1"],
                    "event_type": ["view"],
                    "ts": pa.array([253_402_300_800_000_000], pa.int64()).cast(
                        pa.timestamp("us", tz="UTC")
                    ),
                }
            )
        ),
        [(1, "ts", re.escape("time 253402300800000000 us since 1970-01-01 is outside"))],
    ),
    Case(
        "forced-unit-out-of-range",
        "events",
        "e.csv",
        events("u1,s1,i1,view,1700000000000000,1,9.99,"),
        [(1, "ts", re.escape("epoch value '1700000000000000' is out of range for seconds"))],
        time_unit="s",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_pinned(case: Case, tmp_path: Path) -> None:
    path = tmp_path / case.name
    if callable(case.content):
        case.content(path)
    else:
        path.write_bytes(case.content)
    report = validate_file(path, case.table, time_unit=case.time_unit)
    assert report.fatal is case.fatal
    assert not report.ok
    got = [(p.row, p.column, p.message) for p in report.problems]
    assert len(got) == len(case.expected), got
    for (row, column, message), (want_row, want_column, pattern) in zip(
        got, case.expected, strict=True
    ):
        assert (row, column) == (want_row, want_column), got
        assert re.search(pattern, message), message
    for problem in report.problems:
        assert problem.file == str(path)


def test_bad_input_table_is_large_enough() -> None:
    assert len(CASES) >= 30


def test_missing_file_is_fatal(tmp_path: Path) -> None:
    report = validate_file(tmp_path / "nope.csv", "events")
    assert report.fatal
    assert [str(p) for p in report.problems] == [f"{tmp_path / 'nope.csv'}: no such file"]


def _write_case(case: Case, path: Path) -> None:
    if callable(case.content):
        case.content(path)
    else:
        path.write_bytes(case.content)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_ingest_on_bad_input(case: Case, tmp_path: Path) -> None:
    """`reclift ingest` on every bad input: clear one-line error, nothing committed on reject,
    and with quarantine every row read is either accepted or quarantined with its reason."""
    from typer.testing import CliRunner

    from reclift.cli.main import build_app
    from reclift.workspace.store import Workspace

    path = tmp_path / case.name
    _write_case(case, path)
    ws = Workspace.init(tmp_path / "ws")
    app = build_app()
    runner = CliRunner()
    base = ["ingest", str(ws.root), "--table", case.table, "--source", str(path)]
    base += ["--time-unit", case.time_unit]
    rejected = runner.invoke(app, base)
    output = rejected.output + (rejected.stderr if rejected.stderr_bytes else "")
    assert rejected.exit_code != 0, output
    assert "Traceback" not in output
    assert Workspace.open(ws.root).row_count(case.table) == 0
    first_pattern = case.expected[0][2].removeprefix("^")
    assert re.search(first_pattern, str(rejected.exception) + output), output

    quarantined = runner.invoke(app, [*base, "--on-error", "quarantine"])
    q_output = quarantined.output + (quarantined.stderr if quarantined.stderr_bytes else "")
    assert "Traceback" not in q_output
    if case.fatal:
        assert quarantined.exit_code != 0
        assert Workspace.open(ws.root).row_count(case.table) == 0
    else:
        assert quarantined.exit_code == 0, q_output
        report = validate_file(path, case.table, time_unit=case.time_unit)
        assert Workspace.open(ws.root).row_count(case.table) == report.rows_ok
        qfiles = list((ws.root / "quarantine" / case.table).glob("*.parquet"))
        assert len(qfiles) == 1
        q = pq.read_table(qfiles[0])
        assert q.num_rows == report.rows_read - report.rows_ok
        assert all(q.column("_reason").to_pylist())
