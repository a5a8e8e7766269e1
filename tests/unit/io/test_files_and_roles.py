"""reclift.io: reading/writing by extension and role mapping, with errors pinned."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.errors import ReclifError, SchemaError
from reclift.io import Role, apply_roles, read_table, resolve_columns, write_table
from reclift.io.files import FileFormatError
from reclift.schema.tables import TIMESTAMP

ROLES = (
    Role("user", "user_id", "id"),
    Role("item", "item_id", "id", required=True, nullable=False),
    Role("event_type", "event_type", "str", nullable=False, allowed=("view", "order")),
    Role("ts", "ts", "time", nullable=False),
    Role("quantity", "quantity", "int"),
    Role("price", "price", "float"),
)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_keeps_ids_as_strings(tmp_path: Path) -> None:
    t = read_table(write(tmp_path / "e.csv", "user_id,item_id\n007,10\n,11\n"))
    assert t.column("user_id").to_pylist() == ["007", None]
    assert t.column("item_id").to_pylist() == ["10", "11"]


def test_tsv_gzip_and_parquet(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "e.tsv.gz", "wt") as fh:
        fh.write("a\tb\nx\t1\n")
    assert read_table(tmp_path / "e.tsv.gz").to_pylist() == [{"a": "x", "b": "1"}]
    pq.write_table(pa.table({"a": [1, 2]}), tmp_path / "e.parquet")
    assert read_table(tmp_path / "e.parquet").column("a").to_pylist() == [1, 2]
    assert read_table(tmp_path / "e.parquet", columns=["a"]).num_columns == 1


def test_write_round_trip(tmp_path: Path) -> None:
    table = pa.table({"user_id": ["u"], "rank": pa.array([1], pa.int32()), "score": [0.5]})
    write_table(table, tmp_path / "out" / "r.parquet")
    assert pq.read_table(tmp_path / "out" / "r.parquet").equals(table)
    write_table(table, tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == '"user_id","rank","score"'


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("e.json", b"{}", r"e.json: cannot read files of this type; expected one of: \.csv"),
        ("missing.csv", None, "missing.csv: no such file"),
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("bytes.csv", b"user_id\n\xff\xfe\n", "bytes.csv: cannot read"),
        ("late.csv", b"u\n" + b"abc\n" * 5000 + b"\xff\n", "late.csv: cannot read as .csv"),
        ("ragged.csv", b"a,b\n1,2,3\n", "ragged.csv: cannot read as .csv"),
        ("dupe.csv", b"a,a\n1,2\n", r"dupe.csv: duplicate column names \['a'\]"),
        ("bad.parquet", b"not parquet", "bad.parquet: cannot read as .parquet"),
        ("trunc.csv.gz", gzip.compress(b"a\n1\n2\n")[:-8], "trunc.csv.gz: cannot read"),
    ],
)
def test_read_errors_name_the_file(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(FileFormatError, match=message):
        read_table(tmp_path / name)


def test_write_refuses_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"out.xlsx: cannot write"):
        write_table(pa.table({"a": [1]}), tmp_path / "out.xlsx")


def test_missing_columns_subset(tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match=r"missing column\(s\) \['z'\]"):
        read_table(write(tmp_path / "e.csv", "a\n1\n"), columns=["z"])


def test_apply_roles_maps_renames_and_casts() -> None:
    raw = pa.table(
        {
            "cust": ["1", "2", None],
            "sku": ["a", "b", "c"],
            "kind": ["view", "order", "view"],
            "when": ["2024-01-01T00:00:00Z", "2024-01-01T01:00:00+01:00", "2024-01-02T00:00:00Z"],
            "qty": ["1", "2", None],
            "extra": ["x", "y", "z"],
        }
    )
    mapping = resolve_columns(
        ROLES,
        {"user": "cust", "item": "sku", "event_type": "kind", "ts": "when", "quantity": "qty"},
    )
    out = apply_roles(raw, ROLES, mapping, source="f.csv")
    assert out.column_names == ["user_id", "item_id", "event_type", "ts", "quantity"]
    assert out.schema.field("ts").type == TIMESTAMP
    assert out.column("ts")[1].as_py() == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert out.column("quantity").to_pylist() == [1, 2, None]


def test_epoch_seconds_and_millis() -> None:
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for values in (["1704067200"], [1704067200], ["1704067200000"], [1704067200000.0]):
        out = apply_roles(pa.table({"item_id": ["a"], "ts": values}), ROLES[1:4:2], source="f")
        assert out.column("ts")[0].as_py() == t0


def test_integer_ids_become_strings() -> None:
    out = apply_roles(pa.table({"item_id": [1, 2], "user_id": [3.0, None]}), ROLES[:2])
    assert out.column("item_id").to_pylist() == ["1", "2"]
    assert out.column("user_id").to_pylist() == ["3", None]


def test_resolve_columns_precedence() -> None:
    assert resolve_columns(ROLES[:2], {"user": "c"}, {"user": "fit", "item": "sku"}) == {
        "user": "c",
        "item": "sku",
    }
    with pytest.raises(SchemaError, match=r"unknown role\(s\) \['nope'\]"):
        resolve_columns(ROLES, {"nope": "x"})


@pytest.mark.parametrize(
    ("table", "mapping", "explicit", "message"),
    [
        (
            {"sku": ["a"]},
            {},
            (),
            r"f.csv: missing column 'item_id' for role 'item' "
            r"\(map another column with --item-col\)",
        ),
        (
            {"item_id": ["a"]},
            {"user": "cust"},
            ("user",),
            "f.csv: missing column 'cust' for role 'user'",
        ),
        (
            {"item_id": ["a", None]},
            {},
            (),
            "f.csv: column 'item_id', row 2: empty value for 'item'",
        ),
        (
            {"item_id": ["a"], "event_type": ["buy"]},
            {},
            (),
            r"f.csv: column 'event_type', row 1: 'buy' is not one of \['view', 'order'\]",
        ),
        (
            {"item_id": ["a", "b"], "ts": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00"]},
            {},
            (),
            "f.csv: column 'ts', row 2: '2024-01-01T00:00:00' is not a timestamp",
        ),
        (
            {"item_id": ["a"], "ts": ["yesterday"]},
            {},
            (),
            "column 'ts', row 1: 'yesterday' is not a timestamp",
        ),
        (
            {"item_id": ["a"], "ts": pa.array([dt.datetime(2024, 1, 1)])},
            {},
            (),
            "column 'ts' holds naive timestamps",
        ),
        (
            {"item_id": ["a", "b"], "quantity": ["1", "two"]},
            {},
            (),
            "column 'quantity', row 2: 'two' is not a valid int64",
        ),
        (
            {"item_id": ["a"], "price": ["cheap"]},
            {},
            (),
            "column 'price', row 1: 'cheap' is not a valid double",
        ),
        ({"item_id": [1.5]}, {}, (), "column 'item_id', row 1: 1.5 is not a whole-number id"),
        ({"item_id": [[1]]}, {}, (), "column 'item_id' has type list<item: int64>"),
    ],
)
def test_role_errors_name_file_column_row(
    table: dict, mapping: dict, explicit: tuple, message: str
) -> None:
    with pytest.raises(ReclifError, match=message):
        apply_roles(pa.table(table), ROLES, mapping, source="f.csv", explicit=explicit)


def test_parquet_reads_the_asked_columns_in_order_and_names_all_on_a_miss(
    tmp_path: Path,
) -> None:
    big = pa.table({"a": list(range(5)), "b": list("vwxyz"), "c": [0.5] * 5})
    pq.write_table(big, tmp_path / "t.parquet", row_group_size=2)
    got = read_table(tmp_path / "t.parquet", columns=["c", "a"])
    assert got.column_names == ["c", "a"]
    assert got.column("a").to_pylist() == [0, 1, 2, 3, 4]
    assert read_table(tmp_path / "t.parquet").equals(big)
    with pytest.raises(
        FileFormatError, match=r"missing column\(s\) \['z'\]; the file has \['a', 'b', 'c'\]"
    ):
        read_table(tmp_path / "t.parquet", columns=["a", "z"])
    pq.write_table(big.slice(0, 0), tmp_path / "empty.parquet")
    assert read_table(tmp_path / "empty.parquet", columns=["b"]).column_names == ["b"]
