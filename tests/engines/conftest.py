"""Fixtures for engine tests: deterministic synthetic events, Spark local and cluster."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.schema.tables import EVENT_TYPES, EVENTS

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


def synthetic_events(seed: int = 7, n_users: int = 60, n_anon: int = 25) -> pa.Table:
    """Seeded events with the cases that make engines disagree when pipelines are sloppy.

    Gaps drawn around the 30-minute boundary (including exactly 30 min and 30 min + 1 us),
    several events at the same microsecond, users spanning several shop session ids,
    anonymous sessions (null user) whose session_id equals a user_id, null quantity/price/
    query, prices with many decimals, and items with equal popularity scores.
    """
    rng = np.random.default_rng(seed)
    gaps_us = np.array(
        [
            0,
            1,
            1_000_000,
            29 * 60_000_000,
            30 * 60_000_000,
            30 * 60_000_000 + 1,
            31 * 60_000_000,
            5 * 3600_000_000,
            17 * 60_000_000 + 123_457,
        ]
    )
    rows: dict[str, list[object]] = {name: [] for name in EVENTS.schema.names}
    actors = [(f"user{u:03d}", None) for u in range(n_users)]
    # Anonymous visitors; one reuses a user's id as its session id (keys must not collide).
    actors += [(None, f"anon{a:03d}" if a else "user000") for a in range(n_anon)]
    for user, anon_session in actors:
        ts = T0 + dt.timedelta(microseconds=int(rng.integers(0, 86_400_000_000)))
        n = int(rng.integers(1, 25))
        shop_session = anon_session or f"{user}-s0"
        for i in range(n):
            ts += dt.timedelta(microseconds=int(rng.choice(gaps_us)))
            if user is not None and rng.random() < 0.15:
                shop_session = f"{user}-s{i}"
            event_type = EVENT_TYPES[int(rng.choice(4, p=[0.55, 0.25, 0.12, 0.08]))]
            item = f"item{int(rng.zipf(1.6)) % 40:02d}"
            rows["user_id"].append(user)
            rows["session_id"].append(shop_session)
            rows["item_id"].append(item)
            rows["event_type"].append(event_type)
            rows["ts"].append(ts)
            rows["quantity"].append(None if rng.random() < 0.2 else int(rng.integers(1, 4)))
            rows["price"].append(
                None if rng.random() < 0.1 else round(float(rng.uniform(0.1, 300.0)), 4)
            )
            rows["query"].append(None if rng.random() < 0.7 else f"q{int(rng.integers(5))}")
    # A fully duplicated event (same row twice): indistinguishable rows must not break parity.
    for name in rows:
        rows[name].append(rows[name][0])
    return pa.Table.from_pydict(rows, schema=EVENTS.schema)


def synthetic_items() -> pa.Table:
    ids = [f"item{i:02d}" for i in range(0, 38)]  # item38, item39 are not in the catalog
    cats = [None if i % 7 == 0 else f"c{i % 3}>sub{i % 2}" for i in range(len(ids))]
    return pa.table({"item_id": ids, "category": cats})


def write_parts(table: pa.Table, directory: Path, n_parts: int = 3) -> list[Path]:
    """Write a table as ``n_parts`` Parquet files, like a workspace table's parts."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    bounds = np.linspace(0, table.num_rows, n_parts + 1).astype(int)
    for i in range(n_parts):
        path = directory / f"part-{i:03d}.parquet"
        pq.write_table(table.slice(bounds[i], bounds[i + 1] - bounds[i]), path)
        paths.append(path)
    return paths


def sort_all(table: pa.Table) -> pa.Table:
    """Sort by every column so results compare independently of row order."""
    return table.sort_by([(name, "ascending") for name in table.column_names])


def assert_same_table(left: pa.Table, right: pa.Table) -> None:
    assert left.schema == right.schema, f"{left.schema}\n!=\n{right.schema}"
    assert left.num_rows == right.num_rows
    a, b = sort_all(left), sort_all(right)
    if not a.equals(b):
        for name in a.column_names:
            if not a[name].equals(b[name]):
                pytest.fail(f"column {name!r} differs:\n{a[name]}\nvs\n{b[name]}")


@pytest.fixture(scope="session")
def parity_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    root = tmp_path_factory.mktemp("parity")
    return {
        "events": write_parts(synthetic_events(), root / "events", 3),
        "items": write_parts(synthetic_items(), root / "items", 1),
    }


def _need_spark() -> None:
    if shutil.which("java") is None:
        pytest.skip("Java is not installed (Spark needs Java 17)")
    pytest.importorskip("pyspark", reason="pyspark is not installed (reclift[spark])")


@pytest.fixture(scope="module")
def spark_local() -> Iterator[object]:
    _need_spark()
    from reclift.engines import SparkEngine

    engine = SparkEngine("local[2]")
    engine.connect()
    try:
        yield engine
    finally:
        engine.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _master_json(webui_port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=5) as resp:
        data: dict[str, Any] = json.load(resp)
        return data


class StandaloneCluster:
    """A Spark standalone master and workers started from the pyspark package's scripts."""

    def __init__(self, root: Path, n_workers: int = 2) -> None:
        import pyspark

        self.spark_home = Path(pyspark.__file__).parent
        self.root = root
        self.n_workers = n_workers
        self.port = _free_port()
        self.webui_port = _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = dict(
            os.environ,
            SPARK_HOME=str(self.spark_home),
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_DAEMON_MEMORY="256m",
            SPARK_LOG_DIR=str(root / "logs"),
            SPARK_WORKER_DIR=str(root / "work"),
            PYSPARK_PYTHON=sys.executable,
            PYSPARK_DRIVER_PYTHON=sys.executable,
            SPARK_NO_DAEMONIZE="1",
        )

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.root / f"{name}.log").open("wb")
        # spark-class execs java, so the child is the JVM; its own session lets us stop the
        # whole group without touching anything we did not start.
        proc = subprocess.Popen(
            [str(self.spark_home / "bin" / "spark-class"), *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append(proc)

    def start(self, timeout: float = 120.0) -> None:
        (self.root / "work").mkdir(parents=True, exist_ok=True)
        self._spawn(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--webui-port", str(self.webui_port),
        )  # fmt: skip
        for i in range(self.n_workers):
            self._spawn(
                f"worker{i}",
                "org.apache.spark.deploy.worker.Worker",
                "--host", "127.0.0.1",
                "--port", str(_free_port()),
                "--webui-port", str(_free_port()),
                "--cores", "1",
                "--memory", "768m",
                "--work-dir", str(self.root / "work" / f"w{i}"),
                self.url,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [p.args for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"Spark daemon exited early: {dead}\n{self.logs()}")
            with contextlib.suppress(OSError, ValueError):
                state = _master_json(self.webui_port)
                workers = state.get("workers", [])
                alive = [w for w in workers if isinstance(w, dict) and w.get("state") == "ALIVE"]
                if len(alive) >= self.n_workers:
                    return
            time.sleep(1.0)
        raise RuntimeError(f"workers did not register within {timeout}s\n{self.logs()}")

    def master_state(self) -> dict[str, Any]:
        """The master's JSON status (workers, applications)."""
        return _master_json(self.webui_port)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.root.glob("*.log"))
        )

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    _need_spark()
    cluster = StandaloneCluster(tmp_path_factory.mktemp("spark-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def events_table() -> Callable[..., pa.Table]:
    return synthetic_events


@pytest.fixture(scope="session")
def assert_same() -> Callable[[pa.Table, pa.Table], None]:
    """Assert two results are equal after sorting both by every column (types included)."""
    return assert_same_table
