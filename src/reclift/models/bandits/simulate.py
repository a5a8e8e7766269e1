"""Regret simulation of context-free policies against known Bernoulli click rates.

At each round the policy shows a slate of ``k`` banners; banner ``a`` at slot ``j`` is clicked
with probability ``kappa_j * ctr_a`` (position-based model). Regret is the expected clicks of
the best slate (the ``k`` highest CTRs, best at slot 0) minus the expected clicks of the slate
shown, so it has no sampling noise from the clicks themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from reclift.models.bandits.base import F64, I64, BanditPolicy
from reclift.models.errors import InvalidParameterError


@dataclass(frozen=True)
class RegretCurve:
    """Cumulative expected regret of one policy run.

    Attributes
    ----------
    rounds
        Checkpoints (1-based round numbers), shape ``(m,)``.
    regret
        Cumulative expected regret at each checkpoint, shape ``(m,)``.
    clicks
        Realised clicks at each checkpoint, shape ``(m,)``.
    """

    rounds: I64
    regret: F64
    clicks: F64


def checkpoints(n_rounds: int, n_points: int = 50) -> I64:
    """Round numbers ``1..n_rounds`` spaced evenly (always including the last)."""
    pts = np.unique(np.linspace(1, n_rounds, min(n_points, n_rounds)).round().astype(np.int64))
    return np.asarray(pts, dtype=np.int64)


def simulate_regret(
    policy: BanditPolicy,
    ctr: Sequence[float] | F64,
    n_rounds: int,
    *,
    k: int = 1,
    position_weights: Sequence[float] | None = None,
    seed: int = 0,
    n_points: int = 50,
    ctr_after: Sequence[float] | F64 | None = None,
    change_at: int | None = None,
) -> RegretCurve:
    """Run ``policy`` (fitted, one arm per CTR) for ``n_rounds`` and record its regret.

    Parameters
    ----------
    policy
        A fitted context-free policy whose arms are in the order of ``ctr``.
    ctr
        True click probability per arm, shape ``(n_arms,)``.
    n_rounds
        Number of rounds.
    k
        Slate size.
    position_weights
        True position model ``kappa`` (shape ``(k,)``); default all ones.
    seed
        Seed of the click draws (the policy has its own ``random_state``).
    n_points
        Number of checkpoints recorded.
    ctr_after, change_at
        Optional abrupt change: from round ``change_at`` on, the CTRs are ``ctr_after``
        (tests non-stationary policies).
    """
    p0 = np.asarray(ctr, dtype=np.float64)
    if p0.ndim != 1 or p0.size != policy.n_arms or not ((p0 >= 0) & (p0 <= 1)).all():
        raise InvalidParameterError(
            f"ctr must hold one probability per arm ({policy.n_arms}), got {p0.size} values"
        )
    p1 = p0 if ctr_after is None else np.asarray(ctr_after, dtype=np.float64)
    if p1.shape != p0.shape:
        raise InvalidParameterError("ctr_after must have the same length as ctr")
    if n_rounds < 1:
        raise InvalidParameterError(f"n_rounds must be >= 1, got {n_rounds}")
    kappa = np.ones(k) if position_weights is None else np.asarray(position_weights, float)[:k]
    rng = np.random.default_rng(seed)
    marks = checkpoints(n_rounds, n_points)
    out_regret = np.empty(marks.size)
    out_clicks = np.empty(marks.size)
    best0 = float((np.sort(p0)[::-1][:k] * kappa).sum())
    best1 = float((np.sort(p1)[::-1][:k] * kappa).sum())
    regret = 0.0
    clicks = 0.0
    m = 0
    uniforms = rng.random((n_rounds, k))
    for t in range(1, n_rounds + 1):
        after = change_at is not None and t >= change_at
        p = p1 if after else p0
        codes = policy.choose(None, k)
        probs = kappa * p[codes]
        rewards = (uniforms[t - 1] < probs).astype(np.float64)
        policy.learn_codes(codes, rewards)
        regret += (best1 if after else best0) - float(probs.sum())
        clicks += float(rewards.sum())
        if t == marks[m]:
            out_regret[m] = regret
            out_clicks[m] = clicks
            m += 1
    return RegretCurve(rounds=marks, regret=out_regret, clicks=out_clicks)
