"""The classic response model that uplift targeting is compared with.

It predicts the outcome of *treated* customers (``P(convert | x, treated)`` or expected
revenue) and targets the highest. It finds likely buyers, many of whom would have bought
anyway, which is exactly what the ROI simulation exposes.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from reclift.errors import SchemaError
from reclift.models.targeting._learners import BaseLearner, LGBMLearner, Objective
from reclift.models.targeting.base import check_outcome
from reclift.models.targeting.features import FeatureSpec, to_frame


class ResponseModel:
    """LightGBM model of the outcome among treated customers.

    Parameters
    ----------
    n_estimators, learning_rate, num_leaves, min_child_samples, random_state, n_jobs
        LightGBM settings.
    """

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        random_state: int = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, X: object, y: object, treated: object) -> Self:  # noqa: N803
        """Fit on the treated rows (``treated`` truthy), shape ``(n, d)``/``(n,)``/``(n,)``."""
        frame = to_frame(X)
        mask = np.asarray(treated, dtype=bool).ravel()
        if mask.size != len(frame):
            raise SchemaError(f"treated has {mask.size} values but X has {len(frame)} rows")
        if not mask.any():
            raise SchemaError("no treated rows to fit a response model on")
        sub = frame[mask].reset_index(drop=True)
        values, kind = check_outcome(np.asarray(y)[mask], len(sub), "auto")
        self.feature_spec_ = FeatureSpec.fit(sub)
        params = {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "random_state": self.random_state,
            "n_jobs": self.n_jobs,
        }
        objective: Objective = "binary" if kind == "binary" else "continuous"
        self.model_: BaseLearner = LGBMLearner(objective, params).fit(
            self.feature_spec_.transform(sub), values
        )
        return self

    def predict(self, X: object) -> np.ndarray:  # noqa: N803
        """Predicted outcome under treatment, shape ``(n,)``."""
        return self.model_.predict(self.feature_spec_.transform(to_frame(X)))


def fit_response_model(X: object, y: object, treated: object, *, seed: int = 0) -> ResponseModel:  # noqa: N803
    """Shortcut: ``ResponseModel(random_state=seed).fit(X, y, treated)``."""
    return ResponseModel(random_state=seed).fit(X, y, treated)
