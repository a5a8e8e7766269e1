"""The keywords demo section on a tiny simulated shop: hygiene table, a decision, no crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from reclift.datasets.simulate import simulate
from reclift.datasets.simulation.config import SimulationConfig
from reclift.evaluation.report import HtmlReport
from reclift.jobs.sections.keywords import add_section
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace


@pytest.mark.slow
def test_section_reports_a_decision(tmp_path: Path) -> None:
    sim = tmp_path / "sim"
    simulate(SimulationConfig.tiny(seed=1, n_seller_campaigns=60), sim)
    ws = Workspace.init(tmp_path / "ws")
    for table in ("items", "campaigns"):
        ingest(ws, table, sim / f"{table}.parquet", progress=False)
    rep = HtmlReport("demo")
    add_section(rep, ws, data_dir=sim)
    html = rep.render()
    assert "after hygiene" in html
    assert any(v in html for v in ("GO", "NO-GO", "INCONCLUSIVE", "could not be analysed"))
    rep2 = HtmlReport("demo")
    add_section(rep2, ws, data_dir=None)
    assert "A/B test part is skipped" in rep2.render()
