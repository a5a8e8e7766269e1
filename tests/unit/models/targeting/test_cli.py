"""File mode: ``reclift uplift fit|predict|segment`` and ``reclift simulate-roi``."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from scipy.stats import spearmanr
from typer.testing import CliRunner

from reclift.cli.main import build_app
from reclift.errors import ReclifError
from reclift.models.targeting.synthetic import make_uplift_data


def run(*args: str) -> tuple[int, str]:
    """Exit code and output, with ReclifError mapped to exit 2 as ``reclift`` does."""
    result = CliRunner().invoke(build_app(), list(args))
    if isinstance(result.exception, ReclifError):
        return 2, str(result.exception)
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, np.ndarray]:
    d = make_uplift_data(2000, n_treatments=2, seed=21)
    frame = d.X.assign(
        customer=[f"c{i}" for i in range(len(d.y))], arm=d.treatment, bought=d.y.astype(int)
    )
    path = tmp_path_factory.mktemp("cli") / "trial.csv"
    frame.to_csv(path, index=False)
    return path, frame, d.tau


def test_fit_predict_round_trip(
    trial: tuple[Path, pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    path, frame, tau = trial
    code, out = run(
        "uplift", "fit", "--data", str(path), "--treatment-col", "arm", "--outcome-col",
        "bought", "--id-col", "customer", "--model-dir", str(tmp_path / "m"), "--base", "linear",
    )  # fmt: skip
    assert code == 0, out
    assert "treatments ['t1', 't2']" in out.replace("\n", "")
    # predict on a shuffled file: one row per input row, in input order
    shuffled = frame.sample(frac=1.0, random_state=0)
    shuffled.drop(columns=["arm", "bought"]).to_parquet(tmp_path / "new.parquet")
    code, out = run(
        "uplift", "predict", "--model-dir", str(tmp_path / "m"), "--data",
        str(tmp_path / "new.parquet"), "--out", str(tmp_path / "pred.parquet"),
    )  # fmt: skip
    assert code == 0, out
    pred = pq.read_table(tmp_path / "pred.parquet").to_pandas()
    assert list(pred.columns) == ["customer", "uplift", "uplift_t1", "uplift_t2", "best_treatment"]
    assert pred["customer"].tolist() == shuffled["customer"].tolist()
    truth = tau[shuffled.index.to_numpy()]
    assert spearmanr(pred["uplift_t1"], truth[:, 0]).statistic > 0.7
    both = pred[["uplift_t1", "uplift_t2"]].to_numpy()
    np.testing.assert_allclose(pred["uplift"], both.max(axis=1))
    assert (pred["best_treatment"] == np.where(both[:, 0] >= both[:, 1], "t1", "t2")).all()


def test_segment_by_budget_and_top_k(
    trial: tuple[Path, pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    path, _, _ = trial
    model = str(tmp_path / "m")
    code, out = run(
        "uplift", "fit", "--data", str(path), "--treatment-col", "arm", "--outcome-col",
        "bought", "--id-col", "customer", "--model-dir", model, "--base", "linear",
    )  # fmt: skip
    assert code == 0, out
    code, out = run(
        "uplift", "segment", "--model-dir", model, "--data", str(path), "--out",
        str(tmp_path / "aud.csv"), "--budget", "50", "--cost-per-contact", "0.5",
        "--value-per-unit", "30",
    )  # fmt: skip
    assert code == 0, out
    aud = pd.read_csv(tmp_path / "aud.csv")
    assert len(aud) == 100 and aud["rank"].tolist() == list(range(1, 101))
    assert aud["uplift"].is_monotonic_decreasing and (aud["uplift"] > 0).all()
    np.testing.assert_allclose(aud["expected_incremental_value"], 30 * aud["uplift"])
    assert set(aud["best_treatment"]) <= {"t1", "t2"}
    code, out = run(
        "uplift", "segment", "--model-dir", model, "--data", str(path), "--out",
        str(tmp_path / "aud2.csv"), "--threshold", "0.1",
    )  # fmt: skip
    assert code == 0, out
    assert (pd.read_csv(tmp_path / "aud2.csv")["uplift"] > 0.1).all()
    code, out = run(
        "uplift", "segment", "--model-dir", model, "--data", str(path), "--out",
        str(tmp_path / "aud3.csv"), "--top-k", "5", "--threshold", "0.1",
    )  # fmt: skip
    assert code == 2 and "exactly one of top_k" in out


def test_simulate_roi_with_truth(tmp_path: Path) -> None:
    d = make_uplift_data(3000, seed=22)
    frame = d.X.assign(arm=d.treatment, y=d.y, tau=d.tau[:, 0])
    frame.to_parquet(tmp_path / "sim.parquet")
    code, out = run(
        "simulate-roi", "--data", str(tmp_path / "sim.parquet"), "--treatment-col", "arm",
        "--outcome-col", "y", "--truth-col", "tau", "--cost-per-contact", "1",
        "--value-per-unit", "20", "--budgets", "50,150,300,900", "--n-boot", "20",
        "--out", str(tmp_path / "roi.csv"), "--report", str(tmp_path / "roi.html"),
    )  # fmt: skip
    assert code == 0, out
    roi = pd.read_csv(tmp_path / "roi.csv")
    assert set(roi["strategy"]) == {"uplift", "response", "random", "all", "oracle"}
    at = roi.set_index(["strategy", "budget"])["true_profit"]
    assert at[("oracle", 150.0)] >= at[("uplift", 150.0)] >= at[("random", 150.0)]
    assert "<svg" in (tmp_path / "roi.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--outcome-col", "nope"], "missing column 'nope' \\(--outcome-col\\)"),
        (["--outcome-col", "color"], "column 'color', row 1: 'red' is not a number"),
        (["--outcome-col", "bought", "--control-value", "zz"], "no control rows"),
        (["--outcome-col", "bought", "--feature-cols", "x0,arm"], "cannot be one of them"),
        (["--outcome-col", "bought", "--learner", "magic"], "unknown uplift learner 'magic'"),
    ],
)
def test_fit_errors(
    trial: tuple[Path, pd.DataFrame, np.ndarray], tmp_path: Path, extra: list[str], message: str
) -> None:
    path, _, _ = trial
    code, out = run(
        "uplift", "fit", "--data", str(path), "--treatment-col", "arm",
        "--model-dir", str(tmp_path / "m"), *extra,
    )  # fmt: skip
    assert code == 2
    assert re.search(message, out.replace("\n", "")), out
