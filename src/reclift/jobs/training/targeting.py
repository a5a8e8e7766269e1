"""Train the ``targeting`` family on a workspace: an uplift model of its ad campaigns.

Each ``exposures`` row is one customer in one randomised ad campaign. The arms are the
campaigns (a treated row's arm is its ``campaign_id``; control rows of every campaign form
the shared ``control`` arm), so the model says, per customer, how much each ad would add
and which ad to show. Features are the customers' attributes and behaviour
(:func:`~reclift.models.targeting.customers.customer_features`).

The exposures are split in time: the last :data:`HOLDOUT_SHARE` of them are the holdout,
and the training features only see events before the cut, so nothing from the holdout's
period leaks into the fit. Candidate learners are fitted in order within a time budget (on
at most :data:`CANDIDATE_ROWS` training rows) and the one with the best holdout Qini
coefficient is refitted on every exposure with features as of the last event, then
published as ``uplift`` together with the customer feature table the service scores
customers from by id. The holdout metrics are those of the selected candidate.

Holdout metrics go to ``meta["metrics"]`` and plots to ``meta["curves"]``: the Qini curve,
observed uplift by decile of predicted uplift and the profit of uplift vs random targeting
over a budget grid (IPS estimate, :func:`reclift.evaluation.roi.simulate_roi`).

Options (``TrainContext.options``): ``uplift_outcome`` (``converted`` or ``revenue``),
``uplift_learners`` (e.g. ``["t", "x"]``), ``uplift_time_budget_s``, ``cost_per_contact``,
``value_per_conversion``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reclift.errors import ReclifError, SchemaError
from reclift.evaluation.roi import simulate_roi
from reclift.evaluation.uplift import UpliftMetricError, auuc, qini_coefficient, qini_curve
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.models.targeting import get_uplift_model
from reclift.models.targeting.base import MAX_ARMS, UpliftModel
from reclift.models.targeting.customers import customer_features
from reclift.models.targeting.features import ConstantFeatureWarning

ARTIFACT = "uplift"
CONTROL = "control"
LEARNERS: tuple[str, ...] = ("t", "x", "dr", "s")
"""Candidates in the order they are tried (cheapest first)."""
PARAMS: dict[str, Any] = {"n_estimators": 80, "learning_rate": 0.08, "min_child_samples": 50}
HOLDOUT_SHARE = 0.25
TIME_BUDGET_S = 8.0
"""Seconds the candidate learners may take together (the first one always runs)."""
CANDIDATE_ROWS = 20_000
"""Candidates are compared after fitting on at most this many (seeded) training rows."""
MAX_ROWS = 100_000
"""Exposures beyond this are sampled (seeded) so the family stays within its time budget."""
MIN_ROWS_PER_ARM = 20
COST_PER_CONTACT = 0.05
VALUE_PER_CONVERSION = 5.0
GRID = 51


def _exposures(ctx: TrainContext, outcome: str) -> pd.DataFrame:
    table = ctx.ws.read_table("exposures")
    if table.num_rows == 0:
        raise SkipFamily(
            "no ad exposures in this workspace: ingest an exposures table (user_id, "
            "campaign_id, treatment, ts, converted, revenue) from a randomised campaign"
        )
    frame: pd.DataFrame = table.select(
        ["user_id", "campaign_id", "treatment", "ts", outcome]
    ).to_pandas()
    frame = frame[frame[outcome].notna() & frame["user_id"].notna()].reset_index(drop=True)
    treated = frame["treatment"].to_numpy(dtype=bool)
    if not (~treated).any():
        raise SkipFamily(
            f"the {len(frame):,} exposures have no control group (every row has "
            "treatment = true): uplift needs randomly held-out customers who did not see the ad"
        )
    if not treated.any():
        raise SkipFamily(
            f"the {len(frame):,} exposures have no treated rows (every row has "
            "treatment = false): nothing to measure the ads' effect on"
        )
    values = frame[outcome].to_numpy(dtype=np.float64)
    if np.unique(values).size < 2:
        raise SkipFamily(
            f"every exposure has {outcome} = {values[0]:g}: an outcome that never varies "
            "carries no uplift to learn"
        )
    if len(frame) > MAX_ROWS:
        rng = np.random.default_rng(0)
        keep = np.sort(rng.choice(len(frame), MAX_ROWS, replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)
    return frame


def _arms(frame: pd.DataFrame) -> np.ndarray:
    """Arm label per row: the campaign when treated, ``control`` otherwise.

    Campaigns with too few treated rows, or more campaigns than arms a model supports,
    are pooled into one ``treated`` arm.
    """
    treated = frame["treatment"].to_numpy(dtype=bool)
    campaigns = frame["campaign_id"].astype(str).to_numpy(dtype=object)
    counts = pd.Series(campaigns[treated]).value_counts()
    if len(counts) > MAX_ARMS - 1 or counts.min() < MIN_ROWS_PER_ARM or CONTROL in counts:
        return np.where(treated, "treated", CONTROL).astype(object)
    return np.where(treated, campaigns, CONTROL).astype(object)


def _split(ts: pd.Series, arms: np.ndarray) -> tuple[np.ndarray, str]:
    """Holdout mask: the latest exposures; a seeded random split when time cannot split."""
    cut = ts.quantile(1 - HOLDOUT_SHARE)
    test = (ts >= cut).to_numpy()
    labels = np.unique(arms)

    def covered(mask: np.ndarray) -> bool:
        present = set(arms[mask].tolist())
        return all(a in present for a in labels) and all(
            (arms[mask] == a).sum() >= 2 for a in labels
        )

    if test.any() and (~test).any() and covered(test) and covered(~test):
        return test, "time"
    rng = np.random.default_rng(0)
    test = np.zeros(len(arms), dtype=bool)
    for a in labels:
        rows = np.flatnonzero(arms == a)
        test[rng.choice(rows, max(1, round(rows.size * HOLDOUT_SHARE)), replace=False)] = True
    return test, "random"


def _users(ctx: TrainContext, frame: pd.DataFrame) -> pa.Table:
    users = ctx.ws.read_table("users")
    if users.num_rows:
        return users
    # No users table: behaviour features alone, for every exposed customer.
    ids = sorted(set(frame["user_id"].astype(str)))
    return pa.table({"user_id": pa.array(ids, pa.string())})


def _features(users: pa.Table, events: pa.Table, as_of: datetime | None) -> pd.DataFrame:
    """Customer features indexed by ``user_id``, one row per id (the last one wins)."""
    feats = customer_features(users, events, as_of=as_of)
    feats.index = feats.index.astype(str)
    return feats[~feats.index.duplicated(keep="last")]


def _fit(name: str, X: pd.DataFrame, y: np.ndarray, arms: np.ndarray) -> UpliftModel:  # noqa: N803
    model = get_uplift_model(name)(**PARAMS)
    with warnings.catch_warnings():
        # constant columns are reported in the artifact's meta instead
        warnings.simplefilter("ignore", ConstantFeatureWarning)
        model.fit(X, y, arms, control=CONTROL)
    return model


def _row_scores(model: UpliftModel, X: pd.DataFrame, campaigns: np.ndarray) -> np.ndarray:  # noqa: N803
    """Predicted uplift of the arm each row's campaign belongs to, shape ``(n,)``."""
    tau = model.predict(X)
    if len(model.treatments_) == 1:
        return np.asarray(tau[:, 0], dtype=np.float64)
    col = {t: k for k, t in enumerate(model.treatments_)}
    idx = np.asarray([col.get(c, 0) for c in campaigns.tolist()], dtype=np.int64)
    return np.asarray(tau[np.arange(tau.shape[0]), idx], dtype=np.float64)


def _curve(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, x_label: str, y_label: str
) -> dict[str, Any]:
    return {
        "x": [round(float(v), 6) for v in x],
        "y": [round(float(v), 6) for v in y],
        "x_label": x_label,
        "y_label": y_label,
    }


def _deciles(y: np.ndarray, score: np.ndarray, t: np.ndarray) -> tuple[list[int], list[float]]:
    order = np.argsort(-score, kind="stable")
    xs: list[int] = []
    ys: list[float] = []
    for d, rows in enumerate(np.array_split(order, 10), start=1):
        tr, ct = rows[t[rows] == 1], rows[t[rows] == 0]
        if tr.size and ct.size:
            xs.append(d)
            ys.append(float(y[tr].mean() - y[ct].mean()))
    return xs, ys


def _economics(options: Mapping[str, Any]) -> tuple[float, float]:
    """``cost_per_contact`` (> 0) and ``value_per_conversion`` (>= 0) of the ROI curve."""
    cost = float(options.get("cost_per_contact", COST_PER_CONTACT))
    value = float(options.get("value_per_conversion", VALUE_PER_CONVERSION))
    if not (np.isfinite(cost) and cost > 0 and np.isfinite(value) and value >= 0):
        raise ReclifError(
            f"cost_per_contact must be > 0 and value_per_conversion >= 0, got {cost} and {value}"
        )
    return cost, value


def _evaluate(
    y: np.ndarray, score: np.ndarray, t: np.ndarray, options: Mapping[str, Any], outcome: str
) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    metrics: dict[str, float] = {}
    curves: dict[str, dict[str, Any]] = {}
    unit = "conversions" if outcome == "converted" else "revenue"
    try:
        metrics["qini"] = qini_coefficient(y, score, t)
        metrics["auuc"] = auuc(y, score, t)
    except UpliftMetricError:
        pass  # a holdout without any observed uplift has no normalised area
    metrics["observed_uplift"] = float(y[t == 1].mean() - y[t == 0].mean())
    qx, qy = qini_curve(y, score, t)
    grid = np.linspace(0.0, 1.0, GRID)
    curves["qini"] = _curve(
        grid,
        np.interp(grid, qx / qx[-1], qy / qx[-1]),
        "share of customers targeted (by predicted uplift)",
        f"incremental {unit} per customer",
    )
    curves["uplift_by_decile"] = _curve(
        *_deciles(y, score, t),
        "decile of predicted uplift (1 = highest)",
        f"observed uplift ({unit}: treated - control mean)",
    )
    cost, value = _economics(options)
    shares = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0)
    budgets = [round(s * y.size * cost, 4) for s in shares]
    rows = simulate_roi(
        {"uplift": score},
        y,
        t,
        cost_per_contact=cost,
        value_per_unit=value,
        budgets=budgets,
        n_boot=0,
    )
    for strategy, key in (("uplift", "profit_vs_budget"), ("random", "profit_vs_budget_random")):
        mine = [r for r in rows if r.strategy == strategy]
        curves[key] = _curve(
            [r.budget for r in mine],
            [r.profit for r in mine],
            f"budget ({cost:g} per contact)",
            f"estimated incremental profit ({value:g} per unit of {outcome}, {strategy})",
        )
    best = max((r for r in rows if r.strategy == "uplift"), key=lambda r: r.profit)
    metrics["best_budget"] = best.budget
    metrics["best_profit"] = best.profit
    return metrics, curves


def train(ctx: TrainContext) -> dict[str, str]:
    """Fit, evaluate and publish the ``uplift`` model; returns artifact name -> version.

    Raises
    ------
    SkipFamily
        No exposures, no control or no treated rows, an outcome that never varies, or
        customer features that are all constant.
    """
    started = time.perf_counter()
    options = ctx.options
    outcome = str(options.get("uplift_outcome", "converted"))
    if outcome not in ("converted", "revenue"):
        raise ReclifError(f"uplift_outcome must be 'converted' or 'revenue', got {outcome!r}")
    budget = float(options.get("uplift_time_budget_s", TIME_BUDGET_S))
    learners = [str(n) for n in options.get("uplift_learners", LEARNERS)]
    for name in learners:
        get_uplift_model(name)  # fail on a typo before any work
    _economics(options)
    frame = _exposures(ctx, outcome)
    arms = _arms(frame)
    campaigns = frame["campaign_id"].astype(str).to_numpy(dtype=object)
    y = frame[outcome].to_numpy(dtype=np.float64)
    t = frame["treatment"].to_numpy(dtype=bool).astype(np.int64)
    test, split = _split(frame["ts"], arms)
    users = _users(ctx, frame)
    events = ctx.ws.read_table("events")
    cut = frame["ts"][test].min().to_pydatetime()
    ctx.say(f"uplift: {len(frame):,} exposures, arms {sorted(set(arms.tolist()))}")
    ids = frame["user_id"].astype(str).to_numpy()
    # Fit-time features see only events before the holdout starts: no leakage.
    feats_cut = _features(users, events, cut if split == "time" else None)
    X_cut = feats_cut.reindex(ids).reset_index(drop=True)  # noqa: N806
    tr, te = np.flatnonzero(~test), np.flatnonzero(test)
    if tr.size > CANDIDATE_ROWS:
        rng = np.random.default_rng(0)
        tr = np.sort(rng.choice(tr, CANDIDATE_ROWS, replace=False))
    candidates: dict[str, dict[str, float]] = {}
    scores: dict[str, np.ndarray] = {}
    failed: dict[str, str] = {}
    loop_start = time.perf_counter()
    seconds = {"prepare": round(loop_start - started, 3)}
    for name in learners:
        elapsed = time.perf_counter() - loop_start
        last = max((c["fit_seconds"] for c in candidates.values()), default=0.0)
        if candidates and elapsed + 2 * last > budget:
            ctx.say(f"uplift: time budget reached, skipping learner {name}")
            continue
        t0 = time.perf_counter()
        try:
            model = _fit(name, X_cut.iloc[tr], y[tr], arms[tr])
        except SchemaError as exc:
            # e.g. the class transformation on revenue: the other candidates may still fit
            failed[name] = str(exc)
            ctx.say(f"uplift: learner {name} cannot fit: {exc}")
            continue
        fit_s = time.perf_counter() - t0
        scores[name] = _row_scores(model, X_cut.iloc[te], campaigns[te])
        try:
            q = qini_coefficient(y[te], scores[name], t[te])
        except UpliftMetricError:
            q = 0.0
        candidates[name] = {"qini": float(q), "fit_seconds": round(fit_s, 3)}
        ctx.say(f"uplift: learner {name}: holdout Qini {q:.4f} ({fit_s:.1f} s)")
    if not candidates:
        first = next(iter(failed.values()))
        raise SkipFamily(f"cannot fit an uplift model on the exposures: {first}")
    best = max(candidates, key=lambda n: candidates[n]["qini"])
    seconds["candidates"] = round(time.perf_counter() - loop_start, 3)
    metrics, curves = _evaluate(y[te], scores[best], t[te], options, outcome)
    metrics.update({"n_train": float(tr.size), "n_holdout": float(te.size)})
    # The published model learns from every exposure with features as of the last event.
    feats = _features(users, events, None)
    X = feats.reindex(ids).reset_index(drop=True)  # noqa: N806
    final_start = time.perf_counter()
    model = _fit(best, X, y, arms)
    seconds["final_fit"] = round(time.perf_counter() - final_start, 3)
    last_ts = pc.max(events.column("ts")).as_py() if events.num_rows else None
    meta = {
        "trained_from": "workspace",
        "engine": ctx.engine,
        "outcome_column": outcome,
        "arms": "pooled" if "treated" in set(arms.tolist()) else "campaign",
        "learner": best,
        "candidates": candidates,
        "failed_candidates": failed,
        "holdout": {
            "split": split,
            "share": HOLDOUT_SHARE,
            "start": cut.isoformat(),
            "candidate_train_rows": int(tr.size),
        },
        "features_as_of": last_ts.isoformat() if last_ts is not None else None,
        "dropped_features": model.feature_spec_.dropped,
        "n_exposures": len(frame),
        "n_customers": len(feats),
        "metrics": metrics,
        "primary_metric": "qini",
        "curves": curves,
        "seconds": seconds,
    }
    artifact = model.save(ctx.ws.artifacts, ARTIFACT, meta=meta, customers=feats)
    ctx.say(
        f"uplift: published {best}-learner version {artifact.version} "
        f"(holdout Qini {candidates[best]['qini']:.4f}, {time.perf_counter() - started:.1f} s)"
    )
    return {ARTIFACT: artifact.version}
