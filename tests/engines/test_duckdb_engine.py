"""The engine layer on DuckDB (default, fast) and the parts of Spark that need no JVM."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.engines import (
    DuckDBEngine,
    EngineError,
    SparkEngine,
    get_engine,
    normalize_arrow,
)


def test_normalize_arrow_types() -> None:
    raw = pa.table(
        {
            "i8": pa.array([1], pa.int8()),
            "i32": pa.array([1], pa.int32()),
            "f32": pa.array([1.5], pa.float32()),
            "s": pa.array(["x"], pa.large_string()),
            "naive": pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("ns")),
            "paris": pa.array(
                [dt.datetime(2024, 1, 1, tzinfo=dt.UTC)], pa.timestamp("ms", "Europe/Paris")
            ),
            "b": pa.array([True]),
        },
        schema=pa.schema([pa.field("i8", pa.int8(), nullable=False)])
        .append(pa.field("i32", pa.int32()))
        .append(pa.field("f32", pa.float32()))
        .append(pa.field("s", pa.large_string()))
        .append(pa.field("naive", pa.timestamp("ns")))
        .append(pa.field("paris", pa.timestamp("ms", "Europe/Paris")))
        .append(pa.field("b", pa.bool_())),
    )
    out = normalize_arrow(raw)
    utc = pa.timestamp("us", tz="UTC")
    assert out.schema == pa.schema(
        [("i8", pa.int64()), ("i32", pa.int64()), ("f32", pa.float64()), ("s", pa.string()),
         ("naive", utc), ("paris", utc), ("b", pa.bool_())]
    )  # fmt: skip
    # Same instant whatever the zone label: naive is read as UTC wall clock.
    expected = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert out.column("naive")[0].as_py() == expected
    assert out.column("paris")[0].as_py() == expected


def test_reads_parts_and_returns_canonical_types(tmp_path: Path) -> None:
    ts = pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)], pa.timestamp("us", "UTC"))
    for i in range(3):
        pq.write_table(
            pa.table({"k": pa.array([i], pa.int32()), "ts": ts}), tmp_path / f"p{i}.parquet"
        )
    with get_engine("duckdb") as engine:
        table = engine.read_parquet(sorted(tmp_path.glob("*.parquet")), "parts")
        out = engine.to_arrow(table.order_by("k"))
    assert out.column("k").to_pylist() == [0, 1, 2]
    assert out.schema.field("k").type == pa.int64()
    assert out.schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_database_file(tmp_path: Path) -> None:
    db = tmp_path / "catalog.duckdb"
    with DuckDBEngine(db, threads=1) as engine:
        out = engine.to_arrow(engine.read_arrow(pa.table({"x": [1, 2]}), "t"))
    assert out.num_rows == 2
    assert db.exists()


def test_capabilities_are_declared() -> None:
    duck, spark = DuckDBEngine.capabilities, SparkEngine.capabilities
    assert duck.supports_window_ordering and spark.supports_window_ordering
    assert not duck.exact_float_sums and not spark.exact_float_sums
    assert spark.distributed and not duck.distributed
    assert spark.nulls_sort_first != duck.nulls_sort_first


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: get_engine("postgres"),
            "unknown engine 'postgres'; expected one of: duckdb, spark",
        ),
        (lambda: get_engine("duckdb", spark_master="local[2]"), "need --engine spark"),
        (lambda: get_engine("spark", database="x.duckdb"), "does not apply to --engine spark"),
        (
            lambda: get_engine("spark", spark_master="127.0.0.1:7077"),
            "invalid Spark master '127.0.0.1:7077'",
        ),
        (lambda: DuckDBEngine().read_parquet([], "t"), "no Parquet files given for table 't'"),
        (
            lambda: DuckDBEngine().read_parquet(["/no/such.parquet"], "t"),
            "not found: /no/such.parquet",
        ),
        (
            lambda: DuckDBEngine().read_parquet(["/x"], "drop table;"),
            "invalid table name 'drop table;'",
        ),
    ],
)
def test_bad_requests_are_named(call: object, message: str) -> None:
    with pytest.raises(EngineError, match=re.escape(message)):
        call()  # type: ignore[operator]


def test_spark_engine_is_lazy_and_case_insensitive() -> None:
    engine = get_engine(" Spark ", spark_master="spark://127.0.0.1:7077")
    assert isinstance(engine, SparkEngine)
    assert engine.conf["spark.sql.session.timeZone"] == "UTC"
    assert engine.conf["spark.cores.max"] == "2"
    engine.close()  # never started: nothing to stop


def test_memory_limit_reaches_duckdb() -> None:
    with DuckDBEngine(memory_limit="512MB", threads=1) as engine:
        con = engine.connect()
        limit = con.raw_sql("SELECT current_setting('memory_limit')").fetchone()[0]
    # DuckDB reports the limit in its own units (512MB -> "488.2 MiB").
    assert limit.replace(" ", "") in {"488.2MiB", "512.0MB", "512MB"}


def test_memory_limit_comes_from_the_environment_unless_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def limit_of(engine: DuckDBEngine) -> str:
        with engine:
            value: str = engine.connect().raw_sql("SELECT current_setting('memory_limit')")
            return value.fetchone()[0].replace(" ", "")  # type: ignore[attr-defined]

    monkeypatch.setenv("RECLIFT_DUCKDB_MEMORY_LIMIT", "256MB")
    assert limit_of(DuckDBEngine(threads=1)) in {"244.1MiB", "256.0MB", "256MB"}
    # An explicit limit wins over the environment.
    assert limit_of(DuckDBEngine(memory_limit="512MB", threads=1)) in {"488.2MiB", "512MB"}
    monkeypatch.delenv("RECLIFT_DUCKDB_MEMORY_LIMIT")
    assert limit_of(DuckDBEngine(threads=1)) not in {"244.1MiB", "256.0MB", "256MB"}


def test_memory_limit_is_refused_for_spark() -> None:
    from reclift.engines import EngineError, get_engine

    with pytest.raises(EngineError, match="memory limit does not apply to --engine spark"):
        get_engine("spark", memory_limit="1GB")


#: An aggregation with 4M groups: more than a 64 MB limit holds, so DuckDB must spill.
_SPILLING_QUERY = (
    "SELECT count(*) FROM (SELECT i % 4000000 AS k, max(i) AS m "
    "FROM range(8000000) t(i) GROUP BY k)"
)


def _spills(engine: DuckDBEngine) -> int:
    con = engine.connect()
    result: int = con.raw_sql(_SPILLING_QUERY).fetchone()[0]  # type: ignore[attr-defined]
    return result


def test_spill_goes_to_a_private_temp_directory_removed_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # DuckDB's own default for an in-memory database is ".tmp" in the working directory.
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RECLIFT_DUCKDB_TEMP_DIRECTORY", raising=False)
    engine = DuckDBEngine(memory_limit="64MB", threads=1)
    assert _spills(engine) == 4_000_000
    spill = engine._own_temp
    assert spill is not None and spill.is_dir(), "the query should have spilled"
    assert spill.parent == Path(tempfile.gettempdir())
    assert not (tmp_path / ".tmp").exists()
    other = DuckDBEngine(threads=1)
    other.connect()
    assert other._own_temp is not None and other._own_temp != spill
    other.close()
    engine.close()
    assert not spill.exists()


def test_spill_directory_given_or_from_the_environment_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    given = tmp_path / "given"
    given.mkdir()
    (given / "other-run.tmp").write_text("x")
    with DuckDBEngine(memory_limit="64MB", threads=1, temp_directory=given) as engine:
        assert _spills(engine) == 4_000_000
        assert engine._own_temp is None
        assert any(p.name != "other-run.tmp" for p in given.iterdir()), "no spill file"
    from_env = tmp_path / "env"
    monkeypatch.setenv("RECLIFT_DUCKDB_TEMP_DIRECTORY", str(from_env))
    with DuckDBEngine(threads=1) as engine:
        setting = engine.connect().raw_sql("SELECT current_setting('temp_directory')")
        assert setting.fetchone()[0] == str(from_env)  # type: ignore[attr-defined]
    # Not ours to delete: the caller chose it (it may hold other runs' files).
    assert (given / "other-run.tmp").read_text() == "x"


def test_progress_bar_is_off() -> None:
    # DuckDB draws it on stdout for queries over two seconds (a `reclift sessions fit`
    # whose output went to an unread pipe blocked on it): a library must not print.
    with DuckDBEngine(threads=1) as engine:
        con = engine.connect()
        setting = con.raw_sql("SELECT current_setting('enable_progress_bar')").fetchone()[0]  # type: ignore[attr-defined]
    assert setting is False
