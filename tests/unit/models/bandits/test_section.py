"""Demo-report section on a small simulated shop (slow: builds a shop first)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.evaluation.report import HtmlReport
from reclift.jobs.sections.bandits import add_section


class _Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root

    def read_table(self, name: str) -> pa.Table:
        return pq.read_table(self.root / f"{name}.parquet")


@pytest.mark.slow
def test_section_estimates_cover_the_truth(tmp_path: Path) -> None:
    from reclift.datasets.simulate import SimulationConfig, simulate

    cfg = SimulationConfig(
        n_users=2000, n_items=2000, n_events=20_000, n_complement_pairs=100, n_seller_campaigns=20
    )
    simulate(cfg, tmp_path, progress=False)
    rep = HtmlReport("demo")
    add_section(rep, _Workspace(tmp_path), data_dir=tmp_path)  # type: ignore[arg-type]
    html = rep.render()
    rows = [re.sub(r"<[^>]+>", "|", r) for r in re.findall(r"<tr>.*?</tr>", html)]
    ope_rows = [r for r in rows if "uniform" in r or "fitted" in r]
    assert len(ope_rows) == 3
    for row in ope_rows:
        cells = [c for c in row.split("|") if c.strip()]
        truth = float(cells[1])
        # Columns: candidate, truth, ipw, ipw CI, ...; IPW within 3 bootstrap SE of the truth.
        ipw = float(cells[2])
        lo, hi = (float(v) for v in cells[3].strip("[]").split(","))
        assert abs(ipw - truth) <= 3 * (hi - lo) / 3.92, row
    assert "<svg" in html and "UCB1-Tuned" in html


def test_section_without_banner_log(tmp_path: Path) -> None:
    rep = HtmlReport("demo")
    add_section(rep, _Workspace(tmp_path), data_dir=None)  # type: ignore[arg-type]
    assert "No banner_log in this workspace" in rep.render()
