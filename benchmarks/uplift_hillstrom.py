"""Benchmark: uplift learners on the Hillstrom e-mail trial, reclift vs causalml vs scikit-uplift.

Tasks: Womens-vs-control and Mens-vs-control on ``visit``, Womens on ``conversion`` and on
``spend`` (continuous), and the three-arm trial on ``visit`` (reclift only: the peers'
learners under comparison are two-arm). Each task runs ``--splits`` repeated stratified
(by arm x outcome) 70/30 splits; every model is scored on the held-out 30% with the same
reclift metric code: Qini coefficient and uplift@30% (overall), mean and sd, plus fit time.

Peers (same LightGBM base learner and settings, categoricals one-hot encoded because the
peers need numeric input): causalml ``BaseTClassifier``/``BaseXClassifier`` (regressors for
spend) and scikit-uplift ``ClassTransformation``/``TwoModels``. They need old pins, so they
run in their own virtual environment ``benchmarks/.venvs/uplift-peers`` (created on first
run with pip) driven through a subprocess running this very file in ``--peer-worker`` mode
(so this module imports nothing from reclift at top level). The worker also computes
scikit-uplift's ``qini_auc_score`` and ``uplift_at_k`` on reclift's predictions: the
agreement of the two metric implementations is recorded.

Usage: ``python -m benchmarks.uplift_hillstrom [--splits 5] [--data-dir ../shared/data]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venvs" / "uplift-peers"
PEER_PACKAGES = ["scikit-learn<1.10", "scikit-uplift", "causalml", "lightgbm", "pandas", "pyarrow"]
LGBM = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 50,
    "random_state": 0,
    "n_jobs": 1,
    "verbose": -1,
}
ANCHOR = "scikit-uplift uplift@30% 0.0661 (Womens vs control, visit; published)"


# ---------------------------------------------------------------------- peer side
def peer_worker(inp: Path, out: Path) -> None:
    """Fit the peers on every split of one task (runs inside the peer venv)."""
    import warnings

    warnings.filterwarnings("ignore")
    from causalml.inference.meta import (
        BaseTClassifier,
        BaseTRegressor,
        BaseXClassifier,
        BaseXRegressor,
    )
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklift.metrics import qini_auc_score, uplift_at_k
    from sklift.models import ClassTransformation, TwoModels

    spec = json.loads(inp.read_text())
    X = pd.read_parquet(spec["X"]).to_numpy(dtype=np.float64)  # noqa: N806
    y = np.asarray(spec["y"], dtype=np.float64)
    t = np.asarray(spec["t"], dtype=np.int64)
    binary = bool(spec["binary"])
    results: list[dict[str, Any]] = []
    for split in spec["splits"]:
        tr, te = np.asarray(split["train"]), np.asarray(split["test"])
        models: dict[str, Any] = {}
        if binary:
            models["causalml T"] = BaseTClassifier(learner=LGBMClassifier(**LGBM), control_name=0)
            models["causalml X"] = BaseXClassifier(
                outcome_learner=LGBMClassifier(**LGBM),
                effect_learner=LGBMRegressor(**LGBM),
                control_name=0,
            )
            models["sklift ClassTransformation"] = ClassTransformation(LGBMClassifier(**LGBM))
            models["sklift TwoModels"] = TwoModels(
                LGBMClassifier(**LGBM), LGBMClassifier(**LGBM), method="vanilla"
            )
        else:
            models["causalml T"] = BaseTRegressor(learner=LGBMRegressor(**LGBM), control_name=0)
            models["causalml X"] = BaseXRegressor(learner=LGBMRegressor(**LGBM), control_name=0)
            models["sklift TwoModels"] = TwoModels(
                LGBMRegressor(**LGBM), LGBMRegressor(**LGBM), method="vanilla"
            )
        preds: dict[str, list[float]] = {}
        times: dict[str, float] = {}
        for name, model in models.items():
            start = time.perf_counter()
            if name.startswith("causalml"):
                if "X" in name:
                    # propensity: the known randomisation share (as for reclift)
                    p = np.full(tr.size, t[tr].mean())
                    model.fit(X[tr], t[tr], y[tr], p=p)
                else:
                    model.fit(X[tr], t[tr], y[tr])
                times[name] = time.perf_counter() - start
                if "X" in name:
                    pred = model.predict(X[te], p=np.full(te.size, t[tr].mean()))
                else:
                    pred = model.predict(X[te])
                preds[name] = np.asarray(pred, dtype=np.float64).reshape(-1).tolist()
            else:
                model.fit(X[tr], y[tr], t[tr])
                times[name] = time.perf_counter() - start
                preds[name] = np.asarray(model.predict(X[te]), dtype=np.float64).tolist()
        sklift_metrics: dict[str, dict[str, float]] = {}
        if binary:
            scored = dict(preds)
            scored.update(split.get("reclift_preds", {}))
            for name, pred in scored.items():
                u = np.asarray(pred)
                sklift_metrics[name] = {
                    "qini": float(qini_auc_score(y[te], u, t[te])),
                    "uplift@30": float(uplift_at_k(y[te], u, t[te], strategy="overall", k=0.3)),
                }
        results.append({"preds": preds, "fit_seconds": times, "sklift_metrics": sklift_metrics})
    out.write_text(json.dumps(results))


# ---------------------------------------------------------------------- driver side
def ensure_peer_venv() -> tuple[Path | None, str]:
    """Create the peer venv when missing; return its python (or None) and a status note."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import sklift, causalml, lightgbm"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python, "ready"
    VENV.parent.mkdir(parents=True, exist_ok=True)
    base = os.environ.get("PEER_PYTHON", "python3.11")
    steps = [
        [base, "-m", "venv", str(VENV)],
        [str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            return None, f"peer venv failed at {step[:3]}: {done.stderr[-500:]}"
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return None, "peer venv installed but sklift/causalml do not import"
    return python, "created"


def peer_versions(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json; print(json.dumps({p: m.version(p) for p in "
        "['scikit-uplift', 'causalml', 'scikit-learn', 'lightgbm', 'numpy', 'pandas']}))"
    )
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return dict(json.loads(done.stdout)) if done.returncode == 0 else {}


def stratified_splits(
    strata: np.ndarray, n_splits: int, test_share: float, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Repeated stratified random splits (train, test) of row indices."""
    out = []
    for s in range(n_splits):
        rng = np.random.default_rng(seed + s)
        test = np.zeros(strata.size, dtype=bool)
        for value in np.unique(strata):
            rows = np.flatnonzero(strata == value)
            test[rng.choice(rows, round(rows.size * test_share), replace=False)] = True
        out.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return out


def _summary(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def run_task(
    name: str,
    frame: pd.DataFrame,
    arms: list[str],
    outcome: str,
    n_splits: int,
    peer_python: Path | None,
    work: Path,
) -> dict[str, Any]:
    """Fit every learner on every split of one task; return per-model results."""
    from reclift.datasets.hillstrom import FEATURES
    from reclift.evaluation.uplift import qini_coefficient, uplift_at_k
    from reclift.models.targeting import UPLIFT_MODELS

    sub = frame[frame["arm"].isin(["control", *arms])].reset_index(drop=True)
    X = sub[list(FEATURES)]  # noqa: N806
    y = sub[outcome].to_numpy(dtype=np.float64)
    arm = sub["arm"].to_numpy(dtype=object)
    binary = outcome != "spend"
    strata = np.asarray([f"{a}|{v > 0}" for a, v in zip(arm, y, strict=True)])
    splits = stratified_splits(strata, n_splits, 0.3, seed=2024)
    learners: dict[str, dict[str, Any]] = {
        f"reclift {k.upper()}": {"cls": UPLIFT_MODELS[k], "base": "lightgbm"}
        for k in ("s", "t", "x", "dr", "ct")
        if binary or k != "ct"
    }
    learners["reclift T (logistic)" if binary else "reclift T (ridge)"] = {
        "cls": UPLIFT_MODELS["t"],
        "base": "linear",
    }
    params = {k: LGBM[k] for k in ("n_estimators", "learning_rate", "num_leaves")}
    params |= {"min_child_samples": LGBM["min_child_samples"], "n_jobs": LGBM["n_jobs"]}
    per_model: dict[str, dict[str, list[float]]] = {}
    arm_cols = arms
    split_payload = []
    for s, (tr, te) in enumerate(splits):
        t_te = (arm[te] != "control").astype(int)
        reclift_preds: dict[str, list[float]] = {}
        for label, spec in learners.items():
            model = spec["cls"](base=spec["base"], random_state=s, **params)
            start = time.perf_counter()
            model.fit(X.iloc[tr], y[tr], arm[tr], control="control")
            seconds = time.perf_counter() - start
            tau = model.predict(X.iloc[te])
            rec = per_model.setdefault(label, {})
            rec.setdefault("fit_seconds", []).append(seconds)
            if len(arm_cols) == 1:
                u = tau[:, 0]
                reclift_preds[label] = u.tolist()
                rec.setdefault("qini", []).append(qini_coefficient(y[te], u, t_te))
                rec.setdefault("uplift@30", []).append(uplift_at_k(y[te], u, t_te, 0.3))
            else:
                # three arms: each treatment column scored on its own arm vs control
                for k, a in enumerate(model.treatments_):
                    rows = (arm[te] == a) | (arm[te] == "control")
                    tt = (arm[te][rows] == a).astype(int)
                    u = tau[rows, k]
                    rec.setdefault(f"qini[{a}]", []).append(qini_coefficient(y[te][rows], u, tt))
                    rec.setdefault(f"uplift@30[{a}]", []).append(
                        uplift_at_k(y[te][rows], u, tt, 0.3)
                    )
                # policy value of "send each customer their best arm" (top 30%), IPS
                best = np.argmax(tau, axis=1)
                gain = tau[np.arange(tau.shape[0]), best]
                top = np.argsort(-gain, kind="stable")[: int(0.3 * te.size)]
                shares = {a: float(np.mean(arm[tr] == a)) for a in ["control", *arms]}
                chosen = np.asarray(model.treatments_, dtype=object)[best[top]]
                got = arm[te][top]
                yt = y[te][top]
                hit = got == chosen
                ctrl = got == "control"
                w_hit = np.array([1 / shares[c] for c in chosen])
                value = float(np.sum(hit * yt * w_hit) / top.size) - float(
                    np.sum(ctrl * yt / shares["control"]) / top.size
                )
                rec.setdefault("best-arm uplift@30 (IPS)", []).append(value)
        split_payload.append(
            {"train": tr.tolist(), "test": te.tolist(), "reclift_preds": reclift_preds}
        )
    metric_agreement = None
    if peer_python is not None and len(arm_cols) == 1:
        enc = pd.get_dummies(X, columns=["history_segment", "zip_code", "channel"], dtype=float)
        enc.columns = [str(c).replace(" ", "_") for c in enc.columns]
        xpath = work / f"{name}_X.parquet"
        enc.to_parquet(xpath)
        t_all = (arm != "control").astype(int)
        spec_path, out_path = work / f"{name}_in.json", work / f"{name}_out.json"
        spec_path.write_text(
            json.dumps(
                {
                    "X": str(xpath),
                    "y": y.tolist(),
                    "t": t_all.tolist(),
                    "binary": binary,
                    "splits": split_payload,
                }
            )
        )
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        done = subprocess.run(
            [str(peer_python), str(Path(__file__)), "--peer-worker", str(spec_path), str(out_path)],
            capture_output=True,
            text=True,
            env=env,
        )
        if done.returncode != 0:
            per_model["peers failed"] = {"error": [done.stderr[-800:]]}  # type: ignore[dict-item]
        else:
            diffs: list[float] = []
            diffs_k: list[float] = []
            for (_, te), res in zip(splits, json.loads(out_path.read_text()), strict=True):
                t_te = t_all[te]
                for label, pred in res["preds"].items():
                    u = np.asarray(pred)
                    rec = per_model.setdefault(label, {})
                    rec.setdefault("fit_seconds", []).append(res["fit_seconds"][label])
                    rec.setdefault("qini", []).append(qini_coefficient(y[te], u, t_te))
                    rec.setdefault("uplift@30", []).append(uplift_at_k(y[te], u, t_te, 0.3))
                    if binary:
                        m = res["sklift_metrics"][label]
                        diffs.append(abs(rec["qini"][-1] - m["qini"]))
                        diffs_k.append(abs(rec["uplift@30"][-1] - m["uplift@30"]))
            # reclift predictions scored by sklift: compare on every split
            for (_, te), res, payload in zip(
                splits, json.loads(out_path.read_text()), split_payload, strict=True
            ):
                for label, pred in payload["reclift_preds"].items():
                    if not binary:
                        break
                    m = res["sklift_metrics"][label]
                    u = np.asarray(pred)
                    diffs.append(abs(qini_coefficient(y[te], u, t_all[te]) - m["qini"]))
                    diffs_k.append(abs(uplift_at_k(y[te], u, t_all[te], 0.3) - m["uplift@30"]))
            if diffs:
                # uplift@k may differ on tied scores: scikit-uplift reverses a stable sort,
                # so ties at the cut-off are taken in reverse row order; reclift keeps row
                # order. Qini groups ties and must agree.
                metric_agreement = {
                    "n_comparisons": len(diffs) + len(diffs_k),
                    "qini_max_abs_diff": max(diffs),
                    "uplift_at_30_max_abs_diff": max(diffs_k),
                }
    rows = []
    for label, rec in per_model.items():
        row: dict[str, Any] = {"model": label}
        for key, values in rec.items():
            if key == "error":
                row["error"] = values[0]
                continue
            mean, sd = _summary(values)
            row[key] = mean
            row[f"{key} sd"] = sd
        rows.append(row)
    return {
        "task": name,
        "arms": arms,
        "outcome": outcome,
        "n_rows": len(sub),
        "splits": n_splits,
        "models": rows,
        "metric_agreement_with_sklift": metric_agreement,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument(
        "--secondary-splits",
        type=int,
        default=3,
        help="splits of the conversion, spend and three-arm tasks (time budget)",
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peer-worker", nargs=2, type=Path, default=None)
    args = parser.parse_args()
    if args.peer_worker is not None:
        peer_worker(*args.peer_worker)
        return

    from benchmarks.common import markdown_table, write_results
    from reclift.datasets.hillstrom import ARMS, read_frame

    data_dir = args.data_dir or Path(
        os.environ.get("RECLIFT_DATA_DIR", ROOT.parent.parent / "shared" / "data")
    )
    frame = read_frame(Path(data_dir) / "hillstrom")
    frame["arm"] = frame["segment"].map(ARMS)
    peer_python, peer_status = (None, "skipped (--no-peers)")
    if not args.no_peers:
        peer_python, peer_status = ensure_peer_venv()
    work = ROOT / ".work" / "uplift_hillstrom"
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    tasks = [
        ("womens_visit", ["womens"], "visit", args.splits),
        ("mens_visit", ["mens"], "visit", args.splits),
        ("womens_conversion", ["womens"], "conversion", args.secondary_splits),
        ("womens_spend", ["womens"], "spend", args.secondary_splits),
        ("three_arm_visit", ["mens", "womens"], "visit", args.secondary_splits),
    ]
    results = []
    started = time.perf_counter()
    for name, arms, outcome, n_splits in tasks:
        t0 = time.perf_counter()
        res = run_task(name, frame, arms, outcome, n_splits, peer_python, work)
        res["seconds"] = time.perf_counter() - t0
        results.append(res)
        print(f"{name}: {res['seconds']:.0f}s", file=sys.stderr, flush=True)
    payload = {
        "tasks": results,
        "peer_venv": peer_status,
        "peer_packages": peer_versions(peer_python) if peer_python else {},
        "base_learner": LGBM,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "total_seconds": time.perf_counter() - started,
        "anchor": ANCHOR,
    }
    md = [
        "Hillstrom e-mail trial: repeated stratified 70/30 splits, held-out Qini coefficient "
        "(scikit-uplift normalisation) and uplift@30% (overall), mean and sd over splits; "
        "fit time in seconds (one thread each).",
        f"Published anchor: {ANCHOR}.",
        f"Peer venv: {peer_status}; peer packages: {payload['peer_packages']}.",
        f"Load average before/after: {load_before} / {payload['load_average_after']} "
        "(2 cores shared with other jobs: fit times are noisy).",
    ]
    for res in results:
        md.append(f"\n### {res['task']} ({res['n_rows']:,} rows, {res['splits']} splits)\n")
        if res["metric_agreement_with_sklift"]:
            agree = res["metric_agreement_with_sklift"]
            md.append(
                "reclift metrics vs scikit-uplift's on the same predictions "
                f"({agree['n_comparisons']} comparisons): Qini max |diff| "
                f"{agree['qini_max_abs_diff']:.2e}, uplift@30% max |diff| "
                f"{agree['uplift_at_30_max_abs_diff']:.2e} (tie order at the cut-off).\n"
            )
        md.append(markdown_table(res["models"]))
    write_results("uplift_hillstrom", payload, "\n".join(md) + "\n")


if __name__ == "__main__":
    main()
