"""The scale-out path over the network: a standalone master and two workers on 127.0.0.1.

The cluster is started from the pyspark package's own ``bin/spark-class`` (the pip package
ships no ``sbin/start-master.sh``), the parity pipelines run through
``spark_master=spark://127.0.0.1:PORT`` with one executor on each worker, and every daemon is
stopped in the fixture's finaliser.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from reclift.engines import DuckDBEngine, get_engine
from reclift.pipelines import run_pipeline, session_summary, sessionize

pytestmark = [pytest.mark.spark, pytest.mark.spark_cluster]


def _results(engine: Any, inputs: dict[str, list[Path]]) -> dict[str, pa.Table]:
    events = engine.read_parquet(inputs["events"], "events")
    sessions = sessionize(events)
    return {
        "sessions": engine.to_arrow(sessions),
        "summary": engine.to_arrow(session_summary(sessions)),
        # Through the runner, as the CLI calls it (--engine spark --spark-master URL).
        "item_stats": run_pipeline(engine, "item_stats", inputs),
    }


def test_cluster_parity_with_duckdb(
    spark_cluster: Any,
    parity_inputs: dict[str, list[Path]],
    assert_same: Callable[[pa.Table, pa.Table], None],
) -> None:
    with DuckDBEngine() as duck:
        expected = _results(duck, parity_inputs)
    engine = get_engine(
        "spark", spark_master=spark_cluster.url, spark_conf={"spark.executor.memory": "512m"}
    )
    try:
        session = engine.session  # type: ignore[attr-defined]
        assert session.sparkContext.master == spark_cluster.url
        # Wait until an executor is up on each worker, so the work is really distributed.
        status = session.sparkContext._jsc.sc().getExecutorMemoryStatus()
        deadline = time.monotonic() + 90
        while status.size() < 3 and time.monotonic() < deadline:  # driver + 2 executors
            time.sleep(1)
            status = session.sparkContext._jsc.sc().getExecutorMemoryStatus()
        assert status.size() >= 3, spark_cluster.logs()
        got = _results(engine, parity_inputs)
        # Executors ran our venv's Python (spark.pyspark.python) and reached both workers.
        pythons = (
            session.sparkContext.parallelize(range(8), 4)
            .map(lambda _: __import__("sys").executable)
            .distinct()
            .collect()
        )
        assert pythons == [__import__("sys").executable]
    finally:
        engine.close()
    for name, table in expected.items():
        assert table.num_rows > 0
        assert_same(table, got[name])
    apps = spark_cluster.master_state().get("completedapps", []) + spark_cluster.master_state().get(
        "activeapps", []
    )
    assert apps, "the master saw no application"
