"""Synthetic randomised trials with known individual uplift (for tests, docs and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class UpliftData:
    """A synthetic trial.

    Attributes
    ----------
    X
        Features, shape ``(n, 5)``: numeric ``x0..x2`` (``x1`` with 5 % missing), a
        categorical ``color`` and a constant-free integer ``visits``.
    y
        Outcome, shape ``(n,)``.
    treatment
        Arm labels, shape ``(n,)``: ``"control"``, ``"t1"`` (and ``"t2"``).
    tau
        True uplift of each treatment, shape ``(n, n_treatments)``.
    mu0
        True expected outcome under control, shape ``(n,)``.
    """

    X: pd.DataFrame
    y: np.ndarray
    treatment: np.ndarray
    tau: np.ndarray
    mu0: np.ndarray


def make_uplift_data(
    n: int = 4000,
    *,
    n_treatments: int = 1,
    outcome: str = "binary",
    treated_share: float = 0.5,
    seed: int = 0,
) -> UpliftData:
    """Draw a randomised trial whose uplift depends on ``x0`` and ``color``.

    Arm ``t1`` helps customers with large ``x0`` (and ``color == "red"``) and hurts those
    with small ``x0``; arm ``t2`` does the opposite, so the best arm changes with ``x0``.
    Binary outcomes are Bernoulli draws; continuous ones add Gaussian noise (sd 1).
    """
    rng = np.random.default_rng(seed)
    x0 = rng.uniform(0, 1, n)
    x1 = rng.normal(0, 1, n)
    x2 = rng.uniform(-1, 1, n)
    color = rng.choice(np.array(["red", "green", "blue"], dtype=object), n)
    visits = rng.poisson(3, n)
    x1_obs = np.where(rng.random(n) < 0.05, np.nan, x1)
    red = (color == "red").astype(np.float64)
    taus = [0.3 * x0 - 0.1 + 0.1 * red, 0.2 * (1 - x0) - 0.08]
    tau = np.column_stack(taus[:n_treatments])
    if outcome == "binary":
        mu0 = 1 / (1 + np.exp(-(-1.0 + 0.8 * x2 + 0.3 * x1 + 0.1 * visits)))
        mu0 = np.clip(mu0, 0.05, 0.6)
    else:
        mu0 = 5 + 2 * x2 + x1 + 0.2 * visits
        tau = tau * 10
    shares = [1 - treated_share] + [treated_share / n_treatments] * n_treatments
    arm = rng.choice(n_treatments + 1, size=n, p=shares)
    mean = mu0 + np.concatenate([np.zeros((n, 1)), tau], axis=1)[np.arange(n), arm]
    if outcome == "binary":
        y = (rng.random(n) < np.clip(mean, 0, 1)).astype(np.float64)
    else:
        y = mean + rng.normal(0, 1, n)
    labels = np.array(["control", "t1", "t2"], dtype=object)[arm]
    frame = pd.DataFrame({"x0": x0, "x1": x1_obs, "x2": x2, "color": color, "visits": visits})
    return UpliftData(X=frame, y=y, treatment=labels, tau=tau, mu0=mu0)
