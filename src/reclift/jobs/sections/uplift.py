"""Demo-report section: uplift targeting of the ad campaigns and the ROI of targeting.

Reads ``users``, ``events`` and ``exposures`` from the workspace; features are the users'
attributes and behaviour (:func:`reclift.models.targeting.customers.customer_features`)
plus the campaign. A T-learner and an X-learner are fitted on 70% of the exposures
(stratified by arm) and evaluated on the rest: Qini curves with bootstrap bands, Qini
coefficient and uplift@30%, and the profit of random / response / uplift targeting over a
budget grid (estimated by inverse-propensity weighting; with the simulator's ``truth/`` also
the realised profit and the oracle).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from reclift.evaluation.report import HtmlReport
from reclift.evaluation.roi import best_budget, plot_profit, simulate_roi
from reclift.evaluation.uplift import (
    bootstrap_curve,
    plot_curves,
    qini_coefficient,
    uplift_at_k,
)
from reclift.models.targeting import TLearner, XLearner
from reclift.models.targeting.customers import customer_features
from reclift.models.targeting.response import ResponseModel
from reclift.workspace.store import Workspace

COST_PER_CONTACT = 0.05
VALUE_PER_CONVERSION = 5.0
MAX_ROWS = 60_000  # keeps the section within its ~30 s budget on a 1M-event shop
PARAMS = {"n_estimators": 80, "learning_rate": 0.08, "min_child_samples": 50}


def add_section(rep: HtmlReport, ws: Workspace, *, data_dir: Path | None) -> None:
    """Append the uplift section to ``rep``."""
    started = time.perf_counter()
    rep.section("Ad targeting by incremental impact (uplift)", anchor="uplift")
    expo = ws.read_table("exposures").to_pandas()
    if expo.empty or expo["treatment"].nunique() < 2:
        rep.text("No randomised ad exposures in this workspace: nothing to evaluate.", note=True)
        return
    feats = customer_features(ws.read_table("users"), ws.read_table("events"))
    truth = None
    truth_path = data_dir / "truth" / "uplift.parquet" if data_dir is not None else None
    if truth_path is not None and truth_path.is_file():
        truth_table = pq.read_table(truth_path, columns=["campaign_id", "user_id", "uplift"])
        truth = truth_table.to_pandas()
        expo = expo.merge(truth, on=["campaign_id", "user_id"], how="left")
    rng = np.random.default_rng(0)
    if len(expo) > MAX_ROWS:
        expo = expo.iloc[np.sort(rng.choice(len(expo), MAX_ROWS, replace=False))]
    expo = expo.reset_index(drop=True)
    X = feats.reindex(expo["user_id"]).reset_index(drop=True)  # noqa: N806
    X["campaign_id"] = expo["campaign_id"].to_numpy()
    y = expo["converted"].to_numpy(dtype=np.float64)
    t = expo["treatment"].to_numpy(dtype=bool).astype(np.int64)
    test = np.zeros(len(y), dtype=bool)
    for g in (0, 1):
        rows = np.flatnonzero(t == g)
        test[rng.choice(rows, round(rows.size * 0.3), replace=False)] = True
    tr, te = np.flatnonzero(~test), np.flatnonzero(test)
    models = {"T-learner": TLearner(**PARAMS), "X-learner": XLearner(**PARAMS)}  # type: ignore[arg-type]
    scores: dict[str, np.ndarray] = {}
    rows_out = []
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(X.iloc[tr], y[tr], t[tr])
        fit_s = time.perf_counter() - t0
        scores[name] = model.predict(X.iloc[te])[:, 0]
        row = {
            "model": name,
            "Qini coefficient": round(qini_coefficient(y[te], scores[name], t[te]), 4),
            "uplift@30%": round(uplift_at_k(y[te], scores[name], t[te], 0.3), 4),
            "fit seconds": round(fit_s, 1),
        }
        if truth is not None:
            tau = expo["uplift"].to_numpy(dtype=np.float64)[te]
            row["Spearman vs true uplift"] = round(
                float(pd.Series(scores[name]).corr(pd.Series(tau), method="spearman")), 3
            )
        rows_out.append(row)
    response = ResponseModel(**PARAMS).fit(X.iloc[tr], y[tr], t[tr])  # type: ignore[arg-type]
    rep.kpis(
        {
            "exposures": len(y),
            "treated share": round(float(t.mean()), 3),
            "observed uplift (conversion)": round(float(y[t == 1].mean() - y[t == 0].mean()), 4),
        }
    )
    rep.table(rows_out, caption="Held-out 30% of the exposures (stratified by arm).")
    bands = {
        name: bootstrap_curve(y[te], s, t[te], n_boot=50, grid=51) for name, s in scores.items()
    }
    rep.figure(
        plot_curves(bands, ylabel="incremental conversions per exposed customer"),
        "Qini curves with 90% bootstrap bands; dashed: random targeting.",
    )
    n_te = te.size
    budgets = [round(f * n_te * COST_PER_CONTACT, 2) for f in (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1)]
    best_model = max(models, key=lambda m: qini_coefficient(y[te], scores[m], t[te]))
    roi = simulate_roi(
        {"uplift": scores[best_model], "response": response.predict(X.iloc[te])},
        y[te],
        t[te],
        cost_per_contact=COST_PER_CONTACT,
        value_per_unit=VALUE_PER_CONVERSION,
        budgets=budgets,
        true_uplift=expo["uplift"].to_numpy(dtype=np.float64)[te] if truth is not None else None,
        n_boot=50,
    )
    rep.figure(
        plot_profit(roi, use_truth=truth is not None),
        f"Profit vs budget at {COST_PER_CONTACT}/contact and {VALUE_PER_CONVERSION}/conversion "
        f"(uplift strategy: {best_model}); "
        + ("realised on the simulator's true uplift." if truth is not None else "IPS estimate."),
    )
    best_rows = []
    for strategy in dict.fromkeys(r.strategy for r in roi):
        b = best_budget(roi, strategy, use_truth=truth is not None)
        best_rows.append(
            {
                "strategy": strategy,
                "best budget": b.budget,
                "contacts": b.contacts,
                "estimated profit": round(b.profit, 1),
                "90% interval": f"[{b.profit_lo:.1f}, {b.profit_hi:.1f}]",
                **({"true profit": round(b.true_profit or 0.0, 1)} if truth is not None else {}),
            }
        )
    rep.table(best_rows, caption="Best budget per strategy.")
    rep.text(
        f"Section built in {time.perf_counter() - started:.1f} s "
        f"({len(y):,} exposures{'; sampled' if len(y) >= MAX_ROWS else ''}).",
        note=True,
    )
