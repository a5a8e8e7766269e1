"""EASE (Steck, 2019): a closed-form item-item linear model for implicit feedback.

With ``X`` the binarised ``(n_users, n_items)`` interaction matrix and ``G = X^T X + l2 I``,
``P = G^-1``, the weights are ``B = -P / diag(P)`` (column-wise) with ``diag(B) = 0``; a
user's scores are ``x_u @ B``. The ``n_items x n_items`` inverse bounds the catalog size
(``max_items``); larger catalogs want item-kNN or ALS.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import scipy.linalg
import scipy.sparse as sp

from reclift.models.errors import InvalidParameterError
from reclift.models.recs.scored import ScoredRecommender
from reclift.workspace.artifacts import Artifact


def ease_weights(x: sp.csr_matrix | np.ndarray, l2: float) -> np.ndarray:
    """The EASE weight matrix, shape ``(n_items, n_items)`` float32, zero diagonal.

    Parameters
    ----------
    x
        Interaction matrix, shape ``(n_users, n_items)`` (used as given: binarise first).
    l2
        Ridge penalty added to the Gram matrix's diagonal (> 0).
    """
    gram = np.asarray((x.T @ x).toarray() if sp.issparse(x) else x.T @ x, dtype=np.float64)
    gram[np.diag_indices_from(gram)] += l2
    # G is symmetric positive definite: a Cholesky-based inverse is faster and stabler.
    p = scipy.linalg.cho_solve(scipy.linalg.cho_factor(gram), np.eye(gram.shape[0]))
    b = -p / np.diag(p)[None, :]
    b[np.diag_indices_from(b)] = 0.0
    return np.asarray(b, dtype=np.float32)


class EASERecommender(ScoredRecommender):
    """Embarrassingly shallow autoencoder (closed form).

    Parameters
    ----------
    l2
        Ridge penalty (Steck uses a few hundred on MovieLens-sized data).
    binary
        Use 0/1 interactions (the paper's setting) instead of summed event weights.
    max_items
        Refuse catalogs above this size (the model is dense ``n_items^2``).
    event_weights, half_life_days
        Interaction weights (see :class:`~reclift.models.recs.popular.PopularRecommender`).

    Attributes
    ----------
    weights_ : numpy.ndarray
        Shape ``(n_items, n_items)`` float32.
    """

    name: ClassVar[str] = "ease"

    def __init__(
        self,
        *,
        l2: float = 500.0,
        binary: bool = True,
        max_items: int = 30_000,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
    ) -> None:
        self.l2 = l2
        self.binary = binary
        self.max_items = max_items
        self.event_weights = event_weights
        self.half_life_days = half_life_days

    def _check_own_params(self) -> None:
        if isinstance(self.l2, bool) or not isinstance(self.l2, (int, float)) or not self.l2 > 0:
            raise InvalidParameterError(f"l2 must be a positive number, got {self.l2!r}")
        if isinstance(self.max_items, bool) or not isinstance(self.max_items, int):
            raise InvalidParameterError(f"max_items must be an int, got {self.max_items!r}")

    def _fit_matrix(self, matrix: sp.csr_matrix, events: pa.Table, items: pa.Table | None) -> None:
        n_items = matrix.shape[1]
        if n_items > self.max_items:
            raise InvalidParameterError(
                f"ease: {n_items:,} items exceed max_items={self.max_items:,}",
                hint="use --algo itemknn or als for large catalogs, or raise max_items",
            )
        x = self._input(matrix)
        self.weights_ = ease_weights(x, float(self.l2))

    def _input(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        x = matrix.astype(np.float32)
        if self.binary:
            x.data[:] = 1.0
        return x

    def _score_users(self, user_codes: np.ndarray) -> np.ndarray:
        x = self._input(self.interactions_[user_codes])
        return np.asarray(x @ self.weights_, dtype=np.float32)

    def _similar_scores(self, item_codes: np.ndarray) -> np.ndarray:
        # Column j of B says how much having item j's neighbours predicts j; row i says how
        # much having i predicts each other item: "people who have i" -> row i.
        return np.asarray(self.weights_[item_codes], dtype=np.float32)

    def _save_state(self, directory: Path) -> None:
        self._write_npz(directory, "ease.npz", {"weights": self.weights_})

    def _load_state(self, artifact: Artifact) -> None:
        self.weights_ = self._read_npz(artifact, "ease.npz")["weights"]
