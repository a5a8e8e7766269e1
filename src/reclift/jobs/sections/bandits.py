"""Demo-report section: banner bandits (off-policy evaluation table and regret curves).

With the simulator's ``truth/banner_ctr.parquet`` the true value of every candidate policy on
the logged contexts and positions is known exactly, so the table shows each estimator next to
the truth. Regret curves run the policies for 20,000 rounds against the true position-1 CTRs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from reclift.evaluation.ope import estimate_policy_value, feedback_from_banner_log
from reclift.evaluation.report import HtmlReport
from reclift.models.bandits import BanditPolicy, get_policy
from reclift.models.bandits.simulate import simulate_regret
from reclift.workspace.store import Workspace

MAX_ROWS = 30_000
ROUNDS = 20_000


def _cells(contexts: list[Any]) -> list[str]:
    out = []
    for text in contexts:
        obj = json.loads(text) if isinstance(text, str) else {}
        out.append(f"{obj.get('age_band')}|{obj.get('device')}|{obj.get('region')}")
    return out


def _true_values(
    truth: Any, log: Any, banners: list[str], dists: dict[str, np.ndarray]
) -> dict[str, float]:
    """Exact value per impression of each context-free distribution on the logged rows."""
    truth = truth.to_pandas()
    truth["cell"] = truth["age_band"] + "|" + truth["device"] + "|" + truth["region"]
    cells = sorted(truth["cell"].unique())
    c_index = {c: i for i, c in enumerate(cells)}
    b_index = {b: i for i, b in enumerate(banners)}
    n_pos = int(truth["position"].max())
    ctr = np.zeros((len(cells), n_pos, len(banners)))
    ctr[
        truth["cell"].map(c_index).to_numpy(),
        truth["position"].to_numpy() - 1,
        truth["banner_id"].map(b_index).to_numpy(),
    ] = truth["true_ctr"].to_numpy()
    row_cell = np.array([c_index.get(c, 0) for c in _cells(log["context"].tolist())])
    row_pos = log["position"].fillna(1).astype(int).to_numpy() - 1
    out = {}
    for name, dist in dists.items():
        # dist: (n_banners, n_positions); value_i = sum_b pi(b, p_i) ctr(b, p_i, cell_i)
        per_row = (dist[:, row_pos].T * ctr[row_cell, row_pos, :]).sum(axis=1)
        out[name] = float(per_row.mean())
    return out


def _fitted(name: str, banners: list[str], n: np.ndarray, s: np.ndarray, **kw: Any) -> BanditPolicy:
    policy = get_policy(name, arms=banners, random_state=0, **kw).fit()
    policy.set_state({"n": n, "s": s})
    return policy


def add_section(rep: HtmlReport, ws: Workspace, *, data_dir: Path | None) -> None:
    """Append the banner-bandit section (OPE table against the truth, regret curves)."""
    rep.section("Banner bandits", anchor="bandits")
    try:
        table = ws.read_table("banner_log")
    except Exception as exc:
        rep.text(f"No banner_log in this workspace ({exc}).", note=True)
        return
    if table.num_rows == 0:
        rep.text("The banner_log table is empty.", note=True)
        return
    log = table.to_pandas()
    if len(log) > MAX_ROWS:
        log = log.sample(MAX_ROWS, random_state=0).sort_index()
    data = feedback_from_banner_log(log)
    banners = list(data.action_ids or [])
    k = data.n_positions
    n = np.bincount(data.action, minlength=data.n_actions).astype(float)
    s = np.bincount(data.action, weights=data.reward, minlength=data.n_actions)
    candidates = {
        "uniform": _fitted("uniform", banners, n, s),
        "thompson (fitted on the logs)": _fitted("thompson", banners, n, s),
        "epsilon-greedy 0.1 (fitted)": _fitted("epsilon-greedy", banners, n, s, epsilon=0.1),
    }
    dists = {
        name: pol.action_distribution(k=k, n_samples=20_000)[0] for name, pol in candidates.items()
    }
    truth_file = None if data_dir is None else Path(data_dir) / "truth" / "banner_ctr.parquet"
    truths: dict[str, float] = {}
    if truth_file is not None and truth_file.is_file():
        import pyarrow.parquet as pq

        truths = _true_values(pq.read_table(truth_file), log, banners, dists)
    rep.kpis(
        {
            "impressions evaluated": data.n_rounds,
            "banners": data.n_actions,
            "positions": k,
            "logged CTR": float(data.reward.mean()),
        }
    )
    from reclift.evaluation.ope import RewardModel

    # Context x banner interactions: the simulator's best banner depends on the context cell.
    model = RewardModel("logistic", n_folds=3, interactions=True, random_state=0)
    q = model.fit_predict(data)
    rows = []
    for name, dist in dists.items():
        est = estimate_policy_value(
            data, dist[None], ("ipw", "snipw", "dm", "dr"), estimated_rewards=q, n_bootstrap=50
        )
        row: dict[str, Any] = {"candidate": name, "true value": truths.get(name, float("nan"))}
        for key, e in est.items():
            row[key] = e.value
            row[f"{key} 95% CI"] = f"[{e.ci_low:.4f}, {e.ci_high:.4f}]"
        rows.append(row)
    rep.text(
        "Off-policy estimates of each candidate's CTR per impression from the logged slates "
        "(logging propensities as recorded); the true value is computed from the simulator's "
        "true CTR per (banner, position, context) on the same logged rows."
    )
    rep.table(rows, caption="Off-policy evaluation against the truth")
    if truth_file is None or not truth_file.is_file():
        rep.text("No simulator truth given: regret curves skipped.", note=True)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pyarrow.parquet as pq

    frame = pq.read_table(truth_file).to_pandas()
    first = frame[frame["position"] == 1].groupby("banner_id")["true_ctr"].mean().sort_index()
    arms = [str(b) for b in first.index]
    ctr = first.to_numpy()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    finals = []
    for label, name, params in (
        ("Thompson", "thompson", {}),
        ("UCB1", "ucb1", {}),
        ("UCB1-Tuned", "ucb1", {"tuned": True}),
        ("epsilon-greedy 0.1", "epsilon-greedy", {"epsilon": 0.1}),
    ):
        policy = get_policy(name, arms=arms, random_state=0, **params).fit()
        curve = simulate_regret(policy, ctr, ROUNDS, seed=1, n_points=60)
        ax.plot(curve.rounds, curve.regret, label=label)
        finals.append({"policy": label, f"regret after {ROUNDS}": float(curve.regret[-1])})
    ax.set_xlabel("round")
    ax.set_ylabel("cumulative expected regret (clicks)")
    ax.legend()
    rep.figure(fig, caption="Regret against the true position-1 CTRs (one seed)")
    rep.table(finals)
