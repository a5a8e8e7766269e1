"""The dashboard served by a real ``reclift serve`` process, and the ``reclift report`` file,
opened in headless Chromium: the plots are drawn (SVG with a real size), the inline styles
apply under the page's Content-Security-Policy and nothing fails in the console."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.serve_process import free_port, spawn_serve, stop, wait_until_up

from reclift.jobs.dashboard import group_curves, parse_curves
from reclift.jobs.train import train_workspace
from reclift.models.bandits.registry import get_policy
from reclift.models.bandits.store import DurableBandit
from reclift.models.recs import PopularRecommender
from reclift.workspace.store import Workspace

pytestmark = pytest.mark.browser

CURVES = {
    "profit vs budget": {
        "x": [0, 0.25, 0.5, 0.75, 1.0],
        "y": [0, 120.0, 180.0, 190.0, 150.0],
        "x_label": "budget share",
        "y_label": "profit",
    }
}


@pytest.fixture(scope="module")
def workspace(sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dash-e2e") / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    train_workspace(ws, families=["recs"])
    PopularRecommender().fit(ws.read_table("events")).save(
        ws.artifacts, "budget", meta={"metrics": {"profit": 190.0}, "curves": CURVES}
    )
    rng = np.random.default_rng(1)
    with DurableBandit.create(
        root / "bandits" / "home.sqlite", get_policy("ucb1", arms=["x", "y"])
    ) as store:
        for _ in range(200):
            decision = store.select()
            store.update(decision.decision_id, float(rng.random() < 0.1))
    return root


def expected_plots(root: Path) -> int:
    store = Workspace.open(root).artifacts
    curves = sum(len(group_curves(parse_curves(store.load(n).meta)[0])) for n in store.names())
    return curves + 2  # one bar chart comparing the recs models, one bandit figure


@pytest.fixture(scope="module")
def server(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("serve-log") / "serve.log"
    proc = spawn_serve([str(workspace), "--port", str(port)], log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base, proc, log, timeout=90)
        yield base
    finally:
        stop(proc)


def check_page(page: Any, n_plots: int, shot: Path) -> None:
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.reload()
    assert page.locator("h1").inner_text() in {"reclift dashboard", "reclift workspace report"}
    # The inline stylesheet applied (a CSP blocking it would leave the header unstyled).
    background = page.locator("header").evaluate("e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(20, 33, 61)"
    svgs = page.locator("figure.plot svg")
    assert svgs.count() == n_plots
    for i in range(n_plots):
        box = svgs.nth(i).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 100, i
        # Drawn lines, not an empty frame.
        assert svgs.nth(i).locator("path").count() > 4
    assert page.locator("text=profit vs budget").count() >= 1
    assert page.locator("#tables table tbody tr").count() >= 5
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    assert page.errors == [] and console_errors == []


def test_served_dashboard_renders(server, workspace, page, tmp_path):
    page.goto(f"{server}/dashboard")
    check_page(page, expected_plots(workspace), tmp_path / "dashboard.png")
    # The versions the running service loaded are shown next to the published ones.
    served = page.locator("table:has(caption:text('Published artifacts')) tbody tr")
    assert served.count() == len(Workspace.open(workspace).artifacts.names())
    assert "not loaded" not in served.all_inner_texts()[0]


def test_report_file_renders_offline(workspace, page, tmp_path):
    out = tmp_path / "report.html"
    proc = subprocess.run(
        [sys.executable, "-m", "reclift.cli.main", "report", str(workspace), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    page.goto(out.as_uri())
    check_page(page, expected_plots(workspace), tmp_path / "report.png")
