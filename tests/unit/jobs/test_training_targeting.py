"""Workspace training of the targeting family: what it publishes, how well it ranks against
the simulator's true uplift, and the reasons it skips a workspace it cannot learn from."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.errors import ReclifError
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.jobs.training.targeting import train
from reclift.models.targeting import load_uplift_model
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace


@pytest.fixture(scope="module")
def trained(sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("targeting-train") / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    versions = train(TrainContext(ws=ws))
    assert list(versions) == ["uplift"]
    assert ws.artifacts.current_version("uplift") == versions["uplift"]
    return ws


def test_publishes_a_multi_arm_model_with_its_customers(trained: Workspace) -> None:
    model = load_uplift_model(trained.artifacts, "uplift")
    exposures = trained.read_table("exposures").to_pandas()
    campaigns = sorted(exposures["campaign_id"].unique())
    assert model.treatments_ == campaigns and model.control_ == "control"
    users = trained.read_table("users").column("user_id").to_pylist()
    assert model.customers_ is not None
    assert model.customers_.ids == users
    meta = trained.artifacts.load("uplift").meta
    assert meta["learner"] in meta["candidates"]
    best = max(meta["candidates"], key=lambda n: meta["candidates"][n]["qini"])
    assert meta["learner"] == best
    assert meta["holdout"]["split"] == "time"
    # the holdout is the latest quarter of the exposures
    start = pd.Timestamp(meta["holdout"]["start"])
    held = (exposures["ts"] >= start).mean()
    assert 0.2 < held < 0.3
    assert meta["metrics"]["n_holdout"] == pytest.approx((exposures["ts"] >= start).sum())


def test_metrics_and_curves_match_the_holdout(trained: Workspace) -> None:
    meta = trained.artifacts.load("uplift").meta
    metrics, curves = meta["metrics"], meta["curves"]
    assert {"qini", "auuc", "observed_uplift", "best_budget", "best_profit"} <= set(metrics)
    assert set(curves) == {
        "qini",
        "uplift_by_decile",
        "profit_vs_budget",
        "profit_vs_budget_random",
    }
    for curve in curves.values():
        assert len(curve["x"]) == len(curve["y"]) > 1
        assert curve["x_label"] and curve["y_label"]
    qini = curves["qini"]
    assert qini["x"][0] == 0 and qini["x"][-1] == 1 and qini["y"][0] == 0
    # the Qini curve ends at the observed incremental outcome per customer of the holdout
    assert qini["y"][-1] == pytest.approx(
        metrics["observed_uplift"] * _treated_share(trained, meta), rel=1e-3
    )
    profits = curves["profit_vs_budget"]
    assert max(profits["y"]) == pytest.approx(metrics["best_profit"], abs=1e-5)
    assert metrics["qini"] == pytest.approx(meta["candidates"][meta["learner"]]["qini"])


def _treated_share(ws: Workspace, meta: dict[str, Any]) -> float:
    expo = ws.read_table("exposures").to_pandas()
    held = expo[expo["ts"] >= pd.Timestamp(meta["holdout"]["start"])]
    return float(held["treatment"].mean())


def test_ranking_follows_the_true_uplift_of_unseen_customers(
    trained: Workspace, sim_shop: Path
) -> None:
    # Customers never exposed were not in any fit: their true base uplift is an honest oracle.
    model = load_uplift_model(trained.artifacts, "uplift")
    table = model.customers_
    assert table is not None
    predicted = pd.Series(table.uplift(model.predict_encoded).mean(axis=1), index=table.ids)
    truth = pq.read_table(sim_shop / "truth" / "users.parquet").to_pandas()
    truth = truth.set_index("user_id")["base_uplift"]
    exposed = set(trained.read_table("exposures").column("user_id").to_pylist())
    unseen = [u for u in table.ids if u not in exposed]
    assert len(unseen) > 100
    rho = predicted[unseen].corr(truth[unseen], method="spearman")
    assert rho > 0.15, rho


# ------------------------------------------------------------------ skip reasons
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _workspace(
    tmp_path: Path,
    *,
    treatment: list[bool] | None,
    converted: list[bool] | None = None,
    attributes: str | None = None,
) -> Workspace:
    n = 40
    ws = Workspace.init(tmp_path / "ws")
    users = pa.table(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "attributes": [attributes or f'{{"age": {20 + i}}}' for i in range(n)],
        }
    )
    pq.write_table(users, tmp_path / "users.parquet")
    ingest(ws, "users", tmp_path / "users.parquet", progress=False)
    if treatment is not None:
        expo = pa.table(
            {
                "user_id": [f"u{i}" for i in range(n)],
                "campaign_id": ["c1"] * n,
                "treatment": treatment,
                "ts": [T0 + timedelta(hours=i) for i in range(n)],
                "converted": converted if converted is not None else [i % 3 == 0 for i in range(n)],
                "revenue": [0.0] * n,
            }
        )
        pq.write_table(expo, tmp_path / "exposures.parquet")
        ingest(ws, "exposures", tmp_path / "exposures.parquet", progress=False)
    return ws


HALF = [i % 2 == 0 for i in range(40)]
SKIPS: list[tuple[str, dict[str, Any], str]] = [
    (
        "no exposures",
        {"treatment": None},
        "no ad exposures in this workspace: ingest an exposures table (user_id, campaign_id, "
        "treatment, ts, converted, revenue) from a randomised campaign",
    ),
    (
        "no control",
        {"treatment": [True] * 40},
        "the 40 exposures have no control group (every row has treatment = true): uplift "
        "needs randomly held-out customers who did not see the ad",
    ),
    (
        "no treated",
        {"treatment": [False] * 40},
        "the 40 exposures have no treated rows (every row has treatment = false): nothing "
        "to measure the ads' effect on",
    ),
    (
        "single outcome class",
        {"treatment": HALF, "converted": [False] * 40},
        "every exposure has converted = 0: an outcome that never varies carries no uplift to learn",
    ),
    (
        "constant features",
        {"treatment": HALF, "attributes": '{"country": "fr"}'},
        "cannot fit an uplift model on the exposures: X: every feature column is constant "
        "(['country']); nothing to learn uplift from",
    ),
]


@pytest.mark.parametrize(("kwargs", "reason"), [s[1:] for s in SKIPS], ids=[s[0] for s in SKIPS])
def test_skip_reasons(tmp_path: Path, kwargs: dict[str, Any], reason: str) -> None:
    ws = _workspace(tmp_path, **kwargs)
    with pytest.raises(SkipFamily) as info:
        train(TrainContext(ws=ws))
    assert str(info.value) == reason
    assert ws.artifacts.names() == []


def test_a_small_randomised_campaign_trains(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ws = _workspace(tmp_path, treatment=HALF, converted=(rng.random(40) < 0.4).tolist())
    versions = train(TrainContext(ws=ws, options={"uplift_learners": ["t"]}))
    model = load_uplift_model(ws.artifacts, "uplift")
    assert versions == {"uplift": ws.artifacts.current_version("uplift")}
    assert model.treatments_ == ["c1"]
    assert model.customers_ is not None and len(model.customers_) == 40


def test_unknown_option_values_are_refused(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, treatment=HALF)
    with pytest.raises(ReclifError, match="unknown uplift learner 'q'"):
        train(TrainContext(ws=ws, options={"uplift_learners": ["q"]}))
    with pytest.raises(ReclifError, match="uplift_outcome must be 'converted' or 'revenue'"):
        train(TrainContext(ws=ws, options={"uplift_outcome": "clicks"}))
    with pytest.raises(ReclifError, match="cost_per_contact must be > 0"):
        train(TrainContext(ws=ws, options={"cost_per_contact": 0}))
    assert ws.artifacts.names() == []


def test_revenue_outcome_trains_a_continuous_model(sim_workspace: Path, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    train(
        TrainContext(ws=ws, options={"uplift_outcome": "revenue", "uplift_learners": ["ct", "t"]})
    )
    model = load_uplift_model(ws.artifacts, "uplift")
    meta = ws.artifacts.load("uplift").meta
    assert model.outcome_type_ == "continuous"
    # the class transformation needs a 0/1 outcome: it is reported, the T-learner is used
    assert set(meta["failed_candidates"]) == {"ct"}
    assert "needs a 0/1 outcome" in meta["failed_candidates"]["ct"]
    assert meta["outcome_column"] == "revenue" and meta["learner"] == "t"
    assert "revenue" in meta["curves"]["qini"]["y_label"]
    # observed revenue uplift of the holdout, recomputed from the exposures
    expo = ws.read_table("exposures").to_pandas()
    held = expo[expo["ts"] >= pd.Timestamp(meta["holdout"]["start"])]
    observed = (
        held.loc[held["treatment"], "revenue"].mean()
        - held.loc[~held["treatment"], "revenue"].mean()
    )
    assert meta["metrics"]["observed_uplift"] == pytest.approx(observed)
