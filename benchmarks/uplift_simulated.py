"""Benchmark: uplift learners on the shop simulator, where every exposure's true uplift is known.

A shop is simulated (``reclift.datasets.simulate``) with enough users for about ``--rows``
ad exposures; features are the users' attributes and their behaviour in the event log
(:func:`reclift.models.targeting.customers.customer_features`) plus the campaign id. On a
stratified 70/30 split, every learner (reclift's and, in their own venv, causalml's and
scikit-uplift's, as in ``uplift_hillstrom``) is scored on the held-out exposures by the
Spearman correlation of predicted and true uplift (``truth/uplift.parquet``, aim >= 0.6),
the Qini coefficient on the observed conversions, and fit time. The ROI part compares the
realised (true) incremental profit of uplift targeting, response targeting, random and the
oracle at three budgets.

Usage: ``python -m benchmarks.uplift_simulated [--rows 200000] [--no-peers]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.uplift_hillstrom import LGBM, ensure_peer_venv, peer_versions, stratified_splits

ROOT = Path(__file__).resolve().parent


def build(rows: int, seed: int, work: Path) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, Any]:
    """Simulate a shop; return features, conversions, treatment and the truth table."""
    import pyarrow.parquet as pq

    from reclift.datasets.simulate import SimulationConfig, simulate
    from reclift.models.targeting.customers import customer_features

    cfg0 = SimulationConfig()
    per_user = cfg0.n_ad_campaigns * cfg0.exposure_rate
    n_users = int(rows / per_user) + 1
    out = work / f"shop_{rows}_{seed}"
    if not (out / "truth" / "uplift.parquet").exists():
        shutil.rmtree(out, ignore_errors=True)
        simulate(SimulationConfig(seed=seed, n_users=n_users, n_events=n_users * 10), out)
    expo = pq.read_table(out / "exposures.parquet").to_pandas()
    truth = pq.read_table(out / "truth" / "uplift.parquet").to_pandas()
    feats = customer_features(
        pq.read_table(out / "users.parquet"), pq.read_table(out / "events.parquet")
    )
    merged = expo.merge(
        truth[["campaign_id", "user_id", "uplift", "revenue_uplift", "segment"]],
        on=["campaign_id", "user_id"],
        how="left",
        validate="one_to_one",
    )
    X = feats.reindex(merged["user_id"]).reset_index(drop=True)  # noqa: N806
    X["campaign_id"] = merged["campaign_id"].to_numpy()
    y = merged["converted"].to_numpy(dtype=np.float64)
    t = merged["treatment"].to_numpy(dtype=np.int64)
    return X, y, t, merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()

    from scipy.stats import spearmanr

    from benchmarks.common import markdown_table, write_results
    from reclift.evaluation.roi import simulate_roi
    from reclift.evaluation.uplift import qini_coefficient
    from reclift.models.targeting import UPLIFT_MODELS
    from reclift.models.targeting.response import ResponseModel

    work = ROOT / ".work" / "uplift_simulated"
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    X, y, t, merged = build(args.rows, args.seed, work)  # noqa: N806
    sim_seconds = time.perf_counter() - started
    tau = merged["uplift"].to_numpy(dtype=np.float64)
    strata = np.asarray([f"{a}|{b}" for a, b in zip(t, y > 0, strict=True)])
    ((tr, te),) = stratified_splits(strata, 1, 0.3, seed=args.seed)
    params = {k: LGBM[k] for k in ("n_estimators", "learning_rate", "num_leaves")}
    params |= {"min_child_samples": LGBM["min_child_samples"], "n_jobs": LGBM["n_jobs"]}
    rows: list[dict[str, Any]] = []
    preds: dict[str, np.ndarray] = {}
    for key in ("s", "t", "x", "dr", "ct"):
        model = UPLIFT_MODELS[key](random_state=args.seed, **params)
        t0 = time.perf_counter()
        model.fit(X.iloc[tr], y[tr], t[tr])
        seconds = time.perf_counter() - t0
        u = model.predict(X.iloc[te])[:, 0]
        preds[f"reclift {key.upper()}"] = u
        rows.append({"model": f"reclift {key.upper()}", "fit_seconds": seconds})
    peer_status = "skipped (--no-peers)"
    peer_python = None
    if not args.no_peers:
        peer_python, peer_status = ensure_peer_venv()
    if peer_python is not None:
        enc = pd.get_dummies(X, dtype=float)
        enc.columns = [f"f{i}" for i in range(enc.shape[1])]
        xpath = work / "X.parquet"
        enc.to_parquet(xpath)
        spec = work / "peers_in.json"
        outp = work / "peers_out.json"
        spec.write_text(
            json.dumps(
                {
                    "X": str(xpath),
                    "y": y.tolist(),
                    "t": t.tolist(),
                    "binary": True,
                    "splits": [{"train": tr.tolist(), "test": te.tolist()}],
                }
            )
        )
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        done = subprocess.run(
            [
                str(peer_python),
                str(ROOT / "uplift_hillstrom.py"),
                "--peer-worker",
                str(spec),
                str(outp),
            ],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode == 0:
            (res,) = json.loads(outp.read_text())
            for label, pred in res["preds"].items():
                preds[label] = np.asarray(pred)
                rows.append({"model": label, "fit_seconds": res["fit_seconds"][label]})
        else:
            peer_status += f"; worker failed: {done.stderr[-500:]}"
    for row in rows:
        u = preds[row["model"]]
        row["spearman_vs_true_uplift"] = float(spearmanr(u, tau[te]).statistic)
        row["qini"] = qini_coefficient(y[te], u, t[te])
    # ROI: realised profit of each strategy at three budgets (true uplift known)
    response = ResponseModel(random_state=args.seed, n_jobs=1).fit(X.iloc[tr], y[tr], t[tr])
    best_reclift = max(
        (r for r in rows if r["model"].startswith("reclift")),
        key=lambda r: r["spearman_vs_true_uplift"],
    )["model"]
    n_test = te.size
    cost, value = 0.05, 5.0
    budgets = [0.1 * n_test * cost, 0.3 * n_test * cost, 0.6 * n_test * cost]
    roi = simulate_roi(
        {"uplift": preds[best_reclift], "response": response.predict(X.iloc[te])},
        y[te],
        t[te],
        cost_per_contact=cost,
        value_per_unit=value,
        budgets=budgets,
        true_uplift=tau[te],
        n_boot=100,
        seed=args.seed,
    )
    roi_rows = [
        {
            "strategy": r.strategy,
            "budget": r.budget,
            "share": r.share,
            "true_profit": r.true_profit,
            "ips_profit": r.profit,
            "ips_profit_lo": r.profit_lo,
            "ips_profit_hi": r.profit_hi,
        }
        for r in roi
    ]
    payload = {
        "rows_requested": args.rows,
        "exposures": len(y),
        "train": int(tr.size),
        "test": int(te.size),
        "simulate_and_features_seconds": sim_seconds,
        "models": rows,
        "roi": {"cost_per_contact": cost, "value_per_conversion": value, "rows": roi_rows},
        "roi_uplift_model": best_reclift,
        "peer_venv": peer_status,
        "peer_packages": peer_versions(peer_python) if peer_python else {},
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "total_seconds": time.perf_counter() - started,
    }
    md = [
        f"Simulated shop: {len(y):,} exposures ({tr.size:,} train / {te.size:,} test), "
        f"features from user attributes + event log + campaign id.",
        f"Peer venv: {peer_status}; {payload['peer_packages']}.",
        f"Load average before/after: {load_before} / {payload['load_average_after']}.",
        "",
        markdown_table(rows),
        "",
        f"ROI (uplift strategy = {best_reclift}; cost {cost}/contact, value {value}/conversion;"
        " true_profit uses the simulator's true uplift, ips_profit the unbiased estimate):",
        "",
        markdown_table(roi_rows),
    ]
    write_results("uplift_simulated", payload, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
