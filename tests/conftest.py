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
