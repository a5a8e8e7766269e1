"""Suite-wide fixtures and rules.

With ``RECLIFT_REQUIRE_ALL=1`` (set by ``.ci/run``) a test that needs a real component
(Spark, PostgreSQL, Chromium, ../shared/data) fails instead of skipping when the component
is missing, so CI proves those tests ran.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPONENT_MARKERS = ("spark", "spark_cluster", "postgres", "browser", "data")


def shared_data_dir() -> Path:
    """Where the public data sets live (``RECLIFT_DATA_DIR`` or ``../shared/data``)."""
    env = os.environ.get("RECLIFT_DATA_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"public data sets not found at {path} (set RECLIFT_DATA_DIR)")
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if not os.environ.get("RECLIFT_REQUIRE_ALL") or not report.skipped:
        return
    needs = [m for m in COMPONENT_MARKERS if item.get_closest_marker(m)]
    if needs:
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = (
            f"RECLIFT_REQUIRE_ALL is set but this {'/'.join(needs)} test skipped: {reason}"
        )


_PG_ENV_FILE: Path | None = None


def _start_throwaway_postgres() -> None:
    """Start a PostgreSQL cluster for `postgres` tests when none is given and one can run.

    ``.ci/run`` starts its own and sets RECLIFT_TEST_PG_DSN; a developer's ``make test`` on a
    machine with Debian's postgresql gets one here. RECLIFT_AUTO_PG=0 turns this off.
    """
    global _PG_ENV_FILE
    import glob
    import subprocess
    import tempfile

    if os.environ.get("RECLIFT_TEST_PG_DSN") or os.environ.get("RECLIFT_AUTO_PG") == "0":
        return
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return
    fd, name = tempfile.mkstemp(prefix="reclift-pg-env.")
    os.close(fd)
    env_file = Path(name)
    script = REPO_ROOT / ".ci" / "start_postgres.sh"
    proc = subprocess.run(["bash", str(script), str(env_file)], capture_output=True, text=True)
    if proc.returncode != 0:
        env_file.unlink(missing_ok=True)
        return
    for line in env_file.read_text().splitlines():
        line = line.removeprefix("export ").strip()
        if "=" in line:
            key, value = line.split("=", 1)
            os.environ[key] = value.strip("'\"")
    _PG_ENV_FILE = env_file


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        _start_throwaway_postgres()


def pytest_unconfigure(config: pytest.Config) -> None:
    import subprocess

    if _PG_ENV_FILE is not None:
        script = REPO_ROOT / ".ci" / "start_postgres.sh"
        subprocess.run(["bash", str(script), "--stop", str(_PG_ENV_FILE)], capture_output=True)
        _PG_ENV_FILE.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def sim_shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated shop (~60k events, every table, ground truth under ``truth/``), made once
    per test session. Read it, never write into it."""
    from reclift.datasets.simulate import SimulationConfig, simulate

    out = tmp_path_factory.mktemp("sim-shop")
    config = SimulationConfig(
        seed=7,
        n_events=60_000,
        n_users=2_400,
        n_items=1_200,
        n_complement_pairs=150,
        n_seller_campaigns=150,
    )
    simulate(config, out, progress=False)
    return out


@pytest.fixture(scope="session")
def sim_workspace(sim_shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with every table of :func:`sim_shop` ingested and derived tables built,
    but no model trained. Copy it (``shutil.copytree``) before training or publishing."""
    from reclift.jobs.train import build_derived
    from reclift.schema.tables import TABLES
    from reclift.workspace.ingest import ingest
    from reclift.workspace.store import Workspace

    root = tmp_path_factory.mktemp("sim-ws") / "ws"
    ws = Workspace.init(root)
    for table in TABLES:
        path = sim_shop / f"{table}.parquet"
        if path.exists():
            ingest(ws, table, path, on_error="quarantine", progress=False)
    build_derived(ws)
    return root
