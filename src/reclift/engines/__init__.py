"""Engines: the backends pipelines run on (DuckDB by default, Spark to scale out).

>>> from reclift.engines import get_engine
>>> with get_engine("duckdb") as engine:
...     engine.capabilities.supports_window_ordering
True
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reclift.engines.base import Capabilities, Engine, EngineError, normalize_arrow
from reclift.engines.duckdb import DuckDBEngine
from reclift.engines.spark import SparkEngine

ENGINES: tuple[str, ...] = ("duckdb", "spark")

__all__ = [
    "ENGINES",
    "Capabilities",
    "DuckDBEngine",
    "Engine",
    "EngineError",
    "SparkEngine",
    "get_engine",
    "normalize_arrow",
]


def get_engine(
    name: str = "duckdb",
    *,
    spark_master: str | None = None,
    database: Path | str | None = None,
    spark_conf: Mapping[str, str] | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> Engine:
    """Return an engine by name; its backend starts on first use.

    Parameters
    ----------
    name
        ``"duckdb"`` (default) or ``"spark"``.
    spark_master
        Spark master (``local[N]`` or ``spark://HOST:PORT``); only with ``name="spark"``.
    database
        DuckDB database file (default: in memory); only with ``name="duckdb"``.
    spark_conf
        Extra Spark settings; only with ``name="spark"``.
    threads
        DuckDB threads; only with ``name="duckdb"``.
    memory_limit
        DuckDB memory limit such as ``"6GB"``; only with ``name="duckdb"``.

    Raises
    ------
    EngineError
        For an unknown name or an option that does not apply to the chosen engine.
    """
    key = name.strip().lower()
    if key == "duckdb":
        if spark_master is not None or spark_conf:
            raise EngineError("--spark-master/spark settings need --engine spark, not duckdb")
        return DuckDBEngine(database, threads=threads, memory_limit=memory_limit)
    if key == "spark":
        if database is not None or memory_limit is not None:
            raise EngineError(
                "a DuckDB database file or memory limit does not apply to --engine spark"
            )
        return SparkEngine(spark_master, conf=spark_conf)
    raise EngineError(f"unknown engine {name!r}; expected one of: {', '.join(ENGINES)}")
