"""A tiny uplift model with stored customers, for fuzzing the targeting routes."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from reclift.models.targeting import TLearner

N_USERS = 40


def tiny_customers() -> pd.DataFrame:
    """Features of ``N_USERS`` customers (``u00``...), indexed by ``user_id``."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 70, N_USERS).astype(np.float64),
            "region": np.array(["north", "south", "west"], dtype=object)[np.arange(N_USERS) % 3],
            "spend": rng.gamma(2.0, 10.0, N_USERS),
        },
        index=pd.Index([f"u{i:02d}" for i in range(N_USERS)], name="user_id"),
    )


def fit_tiny() -> TLearner:
    """A T-learner with arms ``email`` and ``sms`` on 120 exposures of the tiny customers."""
    customers = tiny_customers()
    rng = np.random.default_rng(1)
    users = rng.integers(0, N_USERS, 120)
    X = customers.iloc[users].reset_index(drop=True)
    arm = np.array(["control", "email", "sms"], dtype=object)[np.arange(120) % 3]
    y = (rng.random(120) < 0.2 + 0.3 * (arm == "email") * (X["age"] > 40)).astype(float)
    model = TLearner(n_estimators=5, min_child_samples=3, num_leaves=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y, arm)


def publish_tiny(store: Path) -> None:
    """Publish the tiny model (with its customers) as ``uplift`` into ``store``."""
    fit_tiny().save(store, "uplift", customers=tiny_customers())
