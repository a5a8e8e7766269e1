"""Advertising ROI of targeting strategies over a budget grid, before going live.

Given a randomised trial (each customer treated with a known probability ``p``), a score
per customer from each strategy (random, target-all, response model, uplift model, and on
simulated data the true uplift: the *oracle*), a cost per contact and the value of one unit
of outcome (margin per conversion, or margin share of revenue), :func:`simulate_roi`
computes for every budget: contacts bought (``budget // cost``, best scores first),
incremental outcome, incremental value, profit, ROI and cost per incremental acquisition.

The incremental outcome of targeting a set ``S`` is estimated without bias from the trial
by inverse-propensity weighting (a policy value)::

    sum_{i in S} (t_i y_i / p - (1 - t_i) y_i / (1 - p))

which is unbiased for ``sum_{i in S} tau_i`` whenever the scores do not use the trial's
own outcomes (score held-out rows). Percentile bootstrap intervals resample customers.
With the true uplift known (simulator), the *realised* value ``sum_{i in S} tau_i`` is
reported as well. Profit is relative to contacting nobody.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reclift.errors import ReclifError


class RoiError(ReclifError):
    """Inputs of the ROI simulation that cannot be used."""


@dataclass(frozen=True)
class RoiRow:
    """One strategy at one budget (all money in the budget's currency)."""

    strategy: str
    budget: float
    contacts: int
    share: float
    incremental_outcome: float
    incremental_outcome_lo: float
    incremental_outcome_hi: float
    value: float
    cost: float
    profit: float
    profit_lo: float
    profit_hi: float
    roi: float
    cost_per_incremental: float
    true_incremental_outcome: float | None
    true_profit: float | None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for tables and JSON)."""
        return dict(self.__dict__)


def ips_contributions(y: np.ndarray, treatment: np.ndarray, propensity: np.ndarray) -> np.ndarray:
    """Per-customer unbiased uplift terms ``t y / p - (1 - t) y / (1 - p)``, shape ``(n,)``."""
    return np.asarray(
        treatment * y / propensity - (1 - treatment) * y / (1 - propensity), dtype=np.float64
    )


def ips_policy_uplift(
    y: object, treatment: object, target: object, propensity: float | object = 0.5
) -> float:
    """Unbiased estimate of the summed uplift of the customers in ``target``.

    Parameters
    ----------
    y
        Outcomes, shape ``(n,)``.
    treatment
        1 = treated, 0 = control, shape ``(n,)``.
    target
        Boolean mask of targeted customers, shape ``(n,)``.
    propensity
        Treatment probability: a scalar or shape ``(n,)``.
    """
    yv, tv, pv = _check(y, treatment, propensity)
    mask = np.asarray(target, dtype=bool).ravel()
    if mask.size != yv.size:
        raise RoiError(f"target has {mask.size} values, y has {yv.size}")
    return float(ips_contributions(yv, tv, pv)[mask].sum())


def ips_multiarm_uplift(
    y: object,
    arm: object,
    assigned: object,
    target: object,
    arm_probabilities: object,
) -> float:
    """Unbiased summed uplift of sending each targeted customer their assigned arm.

    The multi-treatment policy value (relative to sending nothing)::

        sum_{i in target} (1[a_i = s_i] y_i / p_{s_i} - 1[a_i = 0] y_i / p_0)

    Parameters
    ----------
    y
        Outcomes, shape ``(n,)``.
    arm
        Arm each customer received in the trial: ``0`` control, ``1..K`` treatments,
        shape ``(n,)``.
    assigned
        Arm the policy sends each customer (``1..K``), shape ``(n,)``.
    target
        Boolean mask of targeted customers, shape ``(n,)``.
    arm_probabilities
        Trial assignment probabilities, shape ``(K + 1,)`` or ``(n, K + 1)``.
    """
    try:
        yv = np.asarray(y, dtype=np.float64).ravel()
        av = np.asarray(arm, dtype=np.int64).ravel()
        sv = np.asarray(assigned, dtype=np.int64).ravel()
        mask = np.asarray(target, dtype=bool).ravel()
        probs = np.asarray(arm_probabilities, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RoiError(f"multi-arm policy inputs must be numeric: {exc}") from None
    n = yv.size
    if not (av.size == sv.size == mask.size == n):
        raise RoiError("y, arm, assigned and target must have the same length")
    probs = np.broadcast_to(probs, (n, probs.shape[-1]))
    k = probs.shape[1]
    if av.min(initial=0) < 0 or av.max(initial=0) >= k:
        raise RoiError(f"arm codes must be in 0..{k - 1}")
    if sv.min(initial=1) < 1 or sv.max(initial=1) >= k:
        raise RoiError(f"assigned arms must be treatments, codes 1..{k - 1}")
    if not ((probs > 0) & (probs < 1)).all():
        raise RoiError("arm probabilities must be strictly between 0 and 1")
    rows = np.arange(n)
    hit = (av == sv) * yv / probs[rows, sv]
    ctrl = (av == 0) * yv / probs[:, 0]
    return float((hit - ctrl)[mask].sum())


def _check(
    y: object, treatment: object, propensity: float | object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        yv = np.asarray(y, dtype=np.float64).ravel()
        tv = np.asarray(treatment, dtype=np.float64).ravel()
        pv = np.broadcast_to(np.asarray(propensity, dtype=np.float64), yv.shape).copy()
    except (TypeError, ValueError) as exc:
        raise RoiError(f"ROI inputs must be numeric and of one length: {exc}") from None
    if tv.size != yv.size:
        raise RoiError(f"treatment has {tv.size} values, y has {yv.size}")
    if yv.size == 0:
        raise RoiError("no rows to evaluate")
    if not np.isin(tv, (0.0, 1.0)).all():
        raise RoiError("treatment must hold 0 (control) and 1 (treated) only")
    if not tv.any() or tv.all():
        raise RoiError("the trial needs both treated and control rows")
    if not ((pv > 0) & (pv < 1)).all():
        raise RoiError("propensity must be strictly between 0 and 1")
    if not np.isfinite(yv).all():
        raise RoiError("y holds non-finite values")
    return yv, tv, pv


def simulate_roi(
    scores: Mapping[str, object],
    y: object,
    treatment: object,
    *,
    cost_per_contact: float,
    value_per_unit: float,
    budgets: Sequence[float],
    propensity: float | object | None = None,
    true_uplift: object | None = None,
    n_boot: int = 200,
    level: float = 0.9,
    seed: int = 0,
) -> list[RoiRow]:
    """Profit of each targeting strategy at each budget.

    Parameters
    ----------
    scores
        Strategy name -> score per customer, shape ``(n,)`` (higher = contact first).
        ``"random"`` and ``"all"`` are added when absent; ``"oracle"`` is added when
        ``true_uplift`` is given.
    y, treatment
        The trial: outcome and 0/1 treatment, shape ``(n,)``.
    cost_per_contact
        Money per contacted customer (> 0).
    value_per_unit
        Money per unit of outcome (margin per conversion; margin share for revenue).
    budgets
        Budgets to evaluate (>= 0); each buys ``min(n, budget // cost)`` contacts. For
        ``"all"`` only the budget that buys everyone is meaningful; smaller budgets
        contact a random subset.
    propensity
        Treatment probability of the trial; default: the observed treated share.
    true_uplift
        True per-customer uplift on the outcome scale, shape ``(n,)`` (simulated data).
    n_boot, level, seed
        Bootstrap replicates, interval level and seed.

    Returns
    -------
    list of RoiRow
        One row per (strategy, budget), strategies in input order then the added ones.
    """
    yv, tv, pv = _check(
        y,
        treatment,
        float(np.mean(np.asarray(treatment, dtype=np.float64)))
        if propensity is None
        else propensity,
    )
    n = yv.size
    if not cost_per_contact > 0:
        raise RoiError(f"cost_per_contact must be > 0, got {cost_per_contact}")
    if not budgets or any(b < 0 for b in budgets):
        raise RoiError("budgets must be a non-empty list of amounts >= 0")
    rng = np.random.default_rng(seed)
    named: dict[str, np.ndarray] = {}
    for name, s in scores.items():
        arr = np.asarray(s, dtype=np.float64).ravel()
        if arr.size != n:
            raise RoiError(f"scores of strategy {name!r} have {arr.size} values, y has {n}")
        if not np.isfinite(arr).all():
            raise RoiError(f"scores of strategy {name!r} hold non-finite values")
        named[name] = arr
    named.setdefault("random", rng.random(n))
    named.setdefault("all", rng.random(n))
    truth = None
    if true_uplift is not None:
        truth = np.asarray(true_uplift, dtype=np.float64).ravel()
        if truth.size != n:
            raise RoiError(f"true_uplift has {truth.size} values, y has {n}")
        named.setdefault("oracle", truth)
    contrib = ips_contributions(yv, tv, pv)
    contacts = np.array([min(n, int(b // cost_per_contact)) for b in budgets], dtype=np.int64)
    boot_idx = [rng.integers(0, n, n) for _ in range(n_boot)]
    alpha = (1 - level) / 2
    rows: list[RoiRow] = []
    for name, score in named.items():
        order = np.argsort(-score, kind="stable")
        cum = np.r_[0.0, np.cumsum(contrib[order])]
        cum_true = np.r_[0.0, np.cumsum(truth[order])] if truth is not None else None
        boot = np.empty((n_boot, contacts.size))
        for b, idx in enumerate(boot_idx):
            o = np.argsort(-score[idx], kind="stable")
            boot[b] = np.r_[0.0, np.cumsum(contrib[idx][o])][contacts]
        lo, hi = np.quantile(boot, [alpha, 1 - alpha], axis=0) if n_boot else (cum, cum)
        for j, budget in enumerate(budgets):
            m = int(contacts[j])
            incr = float(cum[m])
            cost = m * cost_per_contact
            value = incr * value_per_unit
            true_incr = float(cum_true[m]) if cum_true is not None else None
            rows.append(
                RoiRow(
                    strategy=name,
                    budget=float(budget),
                    contacts=m,
                    share=m / n,
                    incremental_outcome=incr,
                    incremental_outcome_lo=float(lo[j]) if n_boot else incr,
                    incremental_outcome_hi=float(hi[j]) if n_boot else incr,
                    value=value,
                    cost=cost,
                    profit=value - cost,
                    profit_lo=(float(lo[j]) if n_boot else incr) * value_per_unit - cost,
                    profit_hi=(float(hi[j]) if n_boot else incr) * value_per_unit - cost,
                    roi=(value - cost) / cost if cost > 0 else 0.0,
                    cost_per_incremental=cost / incr if incr > 0 else float("inf"),
                    true_incremental_outcome=true_incr,
                    true_profit=(
                        true_incr * value_per_unit - cost if true_incr is not None else None
                    ),
                )
            )
    return rows


def best_budget(rows: Sequence[RoiRow], strategy: str, *, use_truth: bool = False) -> RoiRow:
    """The row of ``strategy`` with the largest (estimated or true) profit."""
    mine = [r for r in rows if r.strategy == strategy]
    if not mine:
        raise RoiError(f"no rows for strategy {strategy!r}")
    if use_truth:
        if any(r.true_profit is None for r in mine):
            raise RoiError("true profit is unknown: pass true_uplift to simulate_roi")
        return max(mine, key=lambda r: float(r.true_profit or 0.0))
    return max(mine, key=lambda r: r.profit)


def plot_profit(rows: Sequence[RoiRow], *, use_truth: bool = False, title: str = "") -> Any:
    """Profit vs budget, one line per strategy (bootstrap band for the estimated profit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name in dict.fromkeys(r.strategy for r in rows):
        mine = [r for r in rows if r.strategy == name]
        x = [r.budget for r in mine]
        if use_truth:
            ax.plot(x, [float(r.true_profit or 0.0) for r in mine], marker="o", ms=3, label=name)
        else:
            (line,) = ax.plot(x, [r.profit for r in mine], marker="o", ms=3, label=name)
            ax.fill_between(
                x,
                [r.profit_lo for r in mine],
                [r.profit_hi for r in mine],
                color=line.get_color(),
                alpha=0.12,
            )
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xlabel("budget")
    ax.set_ylabel("true incremental profit" if use_truth else "estimated incremental profit")
    ax.set_title(title or "Profit vs budget by targeting strategy")
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
