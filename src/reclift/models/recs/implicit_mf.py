"""Matrix factorisation through the ``implicit`` package: ALS and BPR (not re-implemented).

ALS (Hu, Koren and Volinsky, 2008) weighs observed interactions by confidence
``1 + alpha * r_ui``; BPR (Rendle et al., 2009) learns from sampled (seen, unseen) pairs.
Both give user and item factors; a user's scores are ``u @ V^T`` and similar items are the
cosine of item factors. ``implicit`` is told to use one thread and a fixed seed so a refit on
the same data gives the same model (set ``OPENBLAS_NUM_THREADS=1`` as implicit advises).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from reclift.errors import require
from reclift.models.errors import InvalidParameterError
from reclift.models.recs.scored import ScoredRecommender
from reclift.workspace.artifacts import Artifact


def _positive(name: str, value: object, *, integer: bool = False) -> None:
    kind = "integer" if integer else "number"
    if (
        isinstance(value, bool)
        or not isinstance(value, int if integer else (int, float))
        or not math.isfinite(float(value))
        or float(value) <= 0
    ):
        raise InvalidParameterError(f"{name} must be a positive {kind}, got {value!r}")


class _FactorRecommender(ScoredRecommender):
    """Shared scoring and persistence of factor models."""

    user_factors_: np.ndarray
    item_factors_: np.ndarray
    binary: bool

    def _input(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        x = matrix.astype(np.float32)
        x.eliminate_zeros()
        if self.binary:
            x.data[:] = 1.0
        return x

    def _fit_matrix(self, matrix: sp.csr_matrix, events: pa.Table, items: pa.Table | None) -> None:
        x = self._input(matrix)
        if x.nnz == 0:
            # No identified user: nothing to factorise; every user gets the popular fallback.
            self.user_factors_ = np.zeros((x.shape[0], 1), np.float32)
            self.item_factors_ = np.zeros((x.shape[1], 1), np.float32)
            return
        # implicit's own loops are parallel; a BLAS thread pool underneath them oversubscribes
        # the cores (implicit warns about it), so BLAS runs single-threaded during fit.
        with threadpool_limits(limits=1, user_api="blas"):
            model = self._make_model()
            model.fit(x, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _make_model(self) -> Any:
        raise NotImplementedError

    def _score_users(self, user_codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.user_factors_[user_codes] @ self.item_factors_.T, dtype=np.float32)

    def _similar_scores(self, item_codes: np.ndarray) -> np.ndarray:
        v = self.item_factors_
        norms = np.linalg.norm(v, axis=1)
        sims = v[item_codes] @ v.T
        denom = norms[item_codes][:, None] * norms[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(denom > 0, sims / denom, 0.0).astype(np.float32)

    def _save_state(self, directory: Path) -> None:
        self._write_npz(
            directory, "factors.npz", {"users": self.user_factors_, "items": self.item_factors_}
        )

    def _load_state(self, artifact: Artifact) -> None:
        arrays = self._read_npz(artifact, "factors.npz")
        self.user_factors_, self.item_factors_ = arrays["users"], arrays["items"]
        if self.user_factors_.shape[0] != self.interactions_.shape[0]:
            raise ValueError("factors.npz does not match users.parquet")


class ALSRecommender(_FactorRecommender):
    """Implicit-feedback ALS (``implicit.cpu.als.AlternatingLeastSquares``).

    Parameters
    ----------
    factors, regularization, iterations, alpha
        Passed to implicit (confidence = ``1 + alpha * r``).
    binary
        Use 0/1 interactions instead of summed event weights.
    random_state
        Seed of the factor initialisation.
    event_weights, half_life_days
        Interaction weights.

    Attributes
    ----------
    user_factors_ : numpy.ndarray
        Shape ``(n_users, factors)`` float32.
    item_factors_ : numpy.ndarray
        Shape ``(n_items, factors)`` float32.
    """

    name: ClassVar[str] = "als"

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.05,
        iterations: int = 15,
        alpha: float = 1.0,
        binary: bool = True,
        random_state: int = 0,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.iterations = iterations
        self.alpha = alpha
        self.binary = binary
        self.random_state = random_state
        self.event_weights = event_weights
        self.half_life_days = half_life_days

    def _check_own_params(self) -> None:
        _positive("factors", self.factors, integer=True)
        _positive("iterations", self.iterations, integer=True)
        _positive("regularization", self.regularization)
        _positive("alpha", self.alpha)

    def _make_model(self) -> Any:
        als = require("implicit.cpu.als", "recs")
        return als.AlternatingLeastSquares(  # type: ignore[attr-defined]
            factors=int(self.factors),
            regularization=float(self.regularization),
            alpha=float(self.alpha),
            iterations=int(self.iterations),
            random_state=int(self.random_state),
            num_threads=1,
        )


class BPRRecommender(_FactorRecommender):
    """Bayesian personalised ranking (``implicit.cpu.bpr.BayesianPersonalizedRanking``).

    Parameters
    ----------
    factors, learning_rate, regularization, iterations
        Passed to implicit (its item factors carry a bias column).
    binary
        Use 0/1 interactions (BPR only uses which items were seen).
    random_state
        Seed of initialisation and sampling.
    event_weights, half_life_days
        Interaction weights.
    """

    name: ClassVar[str] = "bpr"

    def __init__(
        self,
        *,
        factors: int = 100,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        binary: bool = True,
        random_state: int = 0,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
    ) -> None:
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.binary = binary
        self.random_state = random_state
        self.event_weights = event_weights
        self.half_life_days = half_life_days

    def _check_own_params(self) -> None:
        _positive("factors", self.factors, integer=True)
        _positive("iterations", self.iterations, integer=True)
        _positive("learning_rate", self.learning_rate)
        _positive("regularization", self.regularization)

    def _make_model(self) -> Any:
        bpr = require("implicit.cpu.bpr", "recs")
        return bpr.BayesianPersonalizedRanking(  # type: ignore[attr-defined]
            factors=int(self.factors),
            learning_rate=float(self.learning_rate),
            regularization=float(self.regularization),
            iterations=int(self.iterations),
            random_state=int(self.random_state),
            num_threads=1,
        )
