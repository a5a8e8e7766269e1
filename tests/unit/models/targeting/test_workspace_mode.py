"""Workspace mode and the demo section on a tiny simulated shop (slow: simulates and ingests)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from reclift.evaluation.report import HtmlReport

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from reclift.datasets.simulate import SimulationConfig, simulate
    from reclift.workspace.ingest import ingest
    from reclift.workspace.store import Workspace

    root = tmp_path_factory.mktemp("shop")
    simulate(SimulationConfig(n_users=3000, n_events=30_000, seed=3), root / "data")
    ws = Workspace.init(root / "ws")
    for table in ("users", "events", "exposures"):
        ingest(ws, table, root / "data" / f"{table}.parquet")
    return root / "data", root / "ws"


def test_train_features_predict(shop: tuple[Path, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from reclift.cli.main import build_app

    _, ws = shop
    app, runner = build_app(), CliRunner()
    model = str(tmp_path / "m")
    res = runner.invoke(
        app, ["uplift", "train", str(ws), "--model-dir", model, "--campaign", "ad01"]
    )
    assert res.exit_code == 0, res.output
    feats = tmp_path / "f.parquet"
    res = runner.invoke(app, ["uplift", "features", str(ws), "--out", str(feats)])
    assert res.exit_code == 0, res.output
    out = tmp_path / "p.csv"
    res = runner.invoke(
        app, ["uplift", "predict", "--model-dir", model, "--data", str(feats), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["user_id", "uplift", "uplift_ad01", "best_treatment"]
    assert len(pred) == 3000 and set(pred["best_treatment"]) == {"ad01"}


def test_demo_section(shop: tuple[Path, Path]) -> None:
    from reclift.jobs.sections.uplift import add_section
    from reclift.workspace.store import Workspace

    data, ws = shop
    rep = HtmlReport("demo")
    add_section(rep, Workspace.open(ws), data_dir=data)
    html = rep.render()
    assert "Qini coefficient" in html and "Spearman vs true uplift" in html
    assert html.count("<svg") >= 2 and "oracle" in html
