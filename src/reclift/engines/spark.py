"""Spark: the scale-out engine (local mode, or a standalone cluster by URL).

The Ibis PySpark backend compiles pipelines to Spark SQL. Results are collected with
``DataFrame.toArrow()`` (PySpark 4), not through the backend's pandas path, so integers with
nulls and microsecond timestamps arrive exactly. The session time zone and the JVMs' default
zone are forced to UTC.

Gaps found with Ibis 12 + PySpark 4.3, and how reclift works around them:

- ``ibis-framework[pyspark]`` pins ``pyspark<4.1``; install pyspark on its own. The backend
  itself works with 4.3 for everything the pipelines use (windows with ROWS frames, lag,
  ``delta`` in microseconds, count with ``where``, distinct counts, left joins).
- The backend's ``read_parquet`` takes one path: parts are read with
  ``SparkSession.read.parquet(*paths)`` and registered as a temp view.
- The backend's ``to_pyarrow`` goes through ``toPandas`` (pandas 3 is "not fully supported"
  by PySpark 4.3): results are collected with ``toArrow()`` instead.
- Spark ``TIMESTAMP`` is typed as a naive Ibis timestamp (DuckDB's is zoned), so pipelines
  use no timestamp literals; :func:`reclift.engines.normalize_arrow` restores UTC on output.
- Ibis emits no ``NULLS FIRST/LAST``; Spark sorts nulls first, DuckDB last. Pipelines order by
  ``isnull()`` before any nullable key.
- Spark 4 runs in ANSI mode: division by zero raises, so ratios divide by ``nullif(x, 0)``.
- Executors use ``PYSPARK_PYTHON`` (read when the context starts; ``spark.pyspark.python``
  alone is ignored outside spark-submit), so it defaults to this interpreter.
- The pip package has no ``sbin/start-master.sh``; a standalone cluster is started with
  ``bin/spark-class org.apache.spark.deploy.master.Master`` / ``...worker.Worker``.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from reclift.engines.base import (
    Capabilities,
    Engine,
    EngineError,
    check_paths,
    check_table_name,
)
from reclift.errors import require

if TYPE_CHECKING:
    import ibis
    import ibis.expr.types as ir

DEFAULT_MASTER = "local[2]"
_MASTER_PREFIXES = ("local", "spark://", "yarn", "k8s://", "mesos://")


@contextmanager
def _quiet() -> Iterator[None]:
    # PySpark 4.3 warns that pandas 3 is "not fully supported" when its pandas helpers are
    # first imported; reclift collects results through Arrow, not pandas, so it does not apply.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
        yield


def default_conf(master: str) -> dict[str, str]:
    """Small, reproducible Spark settings for a 2-core machine.

    Parameters
    ----------
    master
        ``local[N]`` or a cluster URL such as ``spark://127.0.0.1:7077``.
    """
    conf = {
        "spark.master": master,
        "spark.app.name": "reclift",
        "spark.sql.shuffle.partitions": "4",
        "spark.default.parallelism": "4",
        "spark.driver.memory": "2g",
        "spark.executor.memory": "1g",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Executors must run the same Python (and packages) as the driver.
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    if not master.startswith("local"):
        conf["spark.cores.max"] = "2"
        conf["spark.executor.cores"] = "1"
    local_ip = os.environ.get("SPARK_LOCAL_IP")
    if local_ip:
        conf["spark.driver.host"] = local_ip
        conf["spark.driver.bindAddress"] = local_ip
    return conf


class SparkEngine(Engine):
    """Run pipelines on Spark through the Ibis PySpark backend.

    Parameters
    ----------
    master
        ``None`` for ``local[2]``, ``local[N]``, or a standalone master URL
        (``spark://HOST:PORT``). Input Parquet paths must be readable by the executors; local
        paths work when the workers run on the same machine.
    conf
        Extra Spark settings, applied over :func:`default_conf`.

    Notes
    -----
    One SparkContext lives per Python process. If one is already running with the same master
    it is reused (and left running on ``close()``); a different master is refused with an
    :class:`EngineError`, since Spark would silently keep the old one.
    """

    name: ClassVar[str] = "spark"
    capabilities: ClassVar[Capabilities] = Capabilities(
        supports_window_ordering=True,
        exact_float_sums=False,
        nulls_sort_first=True,
        tz_aware_timestamps=False,
        distributed=True,
        persistent=False,
    )

    def __init__(self, master: str | None = None, *, conf: Mapping[str, str] | None = None) -> None:
        self.master = (master or DEFAULT_MASTER).strip()
        if not self.master.startswith(_MASTER_PREFIXES):
            raise EngineError(
                f"invalid Spark master {self.master!r}; expected local[N] or a URL such as "
                "spark://HOST:PORT"
            )
        self.conf = default_conf(self.master)
        self.conf.update(conf or {})
        self._session: Any = None
        self._con: Any = None
        self._owns_session = False

    @property
    def session(self) -> Any:
        """The ``pyspark.sql.SparkSession`` (started on first use)."""
        self.connect()
        return self._session

    def connect(self) -> ibis.BaseBackend:
        if self._con is not None:
            con: ibis.BaseBackend = self._con
            return con
        with _quiet():
            sql: Any = require("pyspark.sql", "spark")
            pyspark: Any = require("pyspark", "spark")
            import ibis
            import ibis.backends.pyspark

        active = pyspark.SparkContext._active_spark_context
        if active is not None and active.master != self.master:
            raise EngineError(
                f"a Spark session with master {active.master!r} is already running in this "
                f"process; cannot start one for {self.master!r}",
                hint="close the other SparkEngine first",
            )
        # PySpark picks the executors' Python from PYSPARK_PYTHON when the context starts
        # (spark.pyspark.python only reaches spark-submit); without it workers run whatever
        # "python3" is on PATH, not this environment.
        os.environ.setdefault("PYSPARK_PYTHON", self.conf["spark.pyspark.python"])
        builder = sql.SparkSession.builder
        for key, value in self.conf.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # the JVM's reasons vary: no Java, bad master URL, ...
            raise EngineError(f"cannot start Spark with master {self.master!r}: {exc}") from exc
        self._owns_session = active is None
        session.sparkContext.setLogLevel("ERROR")
        # A reused session may have been started with other settings; these must hold.
        for key in ("spark.sql.session.timeZone", "spark.sql.shuffle.partitions"):
            session.conf.set(key, self.conf[key])
        self._session = session
        self._con = ibis.pyspark.connect(session)
        con = self._con
        return con

    def read_parquet(self, paths: Sequence[Path | str], table_name: str) -> ir.Table:
        check_table_name(table_name)
        files = check_paths(paths, table_name)
        con: Any = self.connect()
        frame = self._session.read.parquet(*[str(p) for p in files])
        frame.createOrReplaceTempView(table_name)
        table: ir.Table = con.table(table_name)
        return table

    def read_arrow(self, table: pa.Table, table_name: str) -> ir.Table:
        check_table_name(table_name)
        con: Any = self.connect()
        frame = self._session.createDataFrame(table)
        frame.createOrReplaceTempView(table_name)
        result: ir.Table = con.table(table_name)
        return result

    def _execute_arrow(self, expr: ir.Table) -> pa.Table:
        con: Any = self.connect()
        # Registers in-memory tables and UDFs the expression refers to, as execute() would.
        con._run_pre_execute_hooks(expr)
        frame = self._session.sql(con.compile(expr))
        with _quiet():
            result: pa.Table = frame.toArrow()
        return result

    def close(self) -> None:
        if self._session is not None and self._owns_session:
            self._session.stop()
        self._session = None
        self._con = None
        self._owns_session = False
