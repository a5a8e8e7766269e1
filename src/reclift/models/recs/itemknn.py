"""Item-kNN: cosine similarity between item interaction columns, pruned to the nearest.

``S[i, j] = <x_i, x_j> / (|x_i| |x_j|)`` over the (binarised) user columns, keeping the
``n_neighbors`` most similar items per item; a user's scores are ``x_u @ S^T`` (sum of the
similarities of the user's items). Computed in blocks of items, so memory is
``block x n_items`` dense plus the sparse result.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from reclift.models.errors import InvalidParameterError
from reclift.models.recs.scored import (
    ScoredRecommender,
    csr_from_arrays,
    csr_to_arrays,
    prune_sparse_rows,
)
from reclift.workspace.artifacts import Artifact

_BLOCK = 1024


def cosine_neighbors(x: sp.csr_matrix, n_neighbors: int, shrink: float = 0.0) -> sp.csr_matrix:
    """Pruned item-item cosine similarity, shape ``(n_items, n_items)`` CSR, zero diagonal.

    Parameters
    ----------
    x
        Interaction matrix, shape ``(n_rows, n_items)``.
    n_neighbors
        Entries kept per item (the largest positive ones, ties by item code).
    shrink
        Added to the denominator, damping similarities supported by few co-occurrences.
    """
    xc = sp.csc_matrix(x, dtype=np.float32)
    norms = np.sqrt(np.asarray(xc.multiply(xc).sum(axis=0)).ravel()).astype(np.float32)
    xt = xc.T.tocsr()
    n_items = x.shape[1]
    blocks = []
    for start in range(0, n_items, _BLOCK):
        stop = min(start + _BLOCK, n_items)
        # Only co-occurring pairs have a non-zero dot product: work on the stored entries.
        dots = sp.coo_matrix(xt[start:stop] @ xc, dtype=np.float32)
        rows, cols = dots.row.astype(np.int64), dots.col.astype(np.int64)
        denom = norms[start + rows] * norms[cols] + np.float32(shrink)
        with np.errstate(invalid="ignore", divide="ignore"):
            sims = np.where(denom > 0, dots.data / denom, 0.0).astype(np.float32)
        sims[start + rows == cols] = 0.0
        block = sp.coo_matrix((sims, (rows, cols)), shape=(stop - start, n_items))
        blocks.append(prune_sparse_rows(block, n_neighbors))
    if not blocks:
        return sp.csr_matrix((0, 0), dtype=np.float32)
    return sp.vstack(blocks, format="csr").astype(np.float32)


class ItemKNNRecommender(ScoredRecommender):
    """Item-based collaborative filtering with pruned cosine neighbours.

    Parameters
    ----------
    n_neighbors
        Neighbours kept per item.
    shrink
        Similarity shrinkage (0 = plain cosine).
    binary
        Use 0/1 interactions instead of summed event weights.
    event_weights, half_life_days
        Interaction weights.

    Attributes
    ----------
    similarity_ : scipy.sparse.csr_matrix
        Shape ``(n_items, n_items)`` float32.
    """

    name: ClassVar[str] = "itemknn"

    def __init__(
        self,
        *,
        n_neighbors: int = 100,
        shrink: float = 0.0,
        binary: bool = True,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.shrink = shrink
        self.binary = binary
        self.event_weights = event_weights
        self.half_life_days = half_life_days

    def _check_own_params(self) -> None:
        if (
            isinstance(self.n_neighbors, bool)
            or not isinstance(self.n_neighbors, int)
            or self.n_neighbors < 1
        ):
            raise InvalidParameterError(
                f"n_neighbors must be a positive integer, got {self.n_neighbors!r}"
            )
        if (
            isinstance(self.shrink, bool)
            or not isinstance(self.shrink, (int, float))
            or not self.shrink >= 0
        ):
            raise InvalidParameterError(f"shrink must be a number >= 0, got {self.shrink!r}")

    def _input(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        x = matrix.astype(np.float32)
        if self.binary:
            x.data[:] = 1.0
        return x

    def _fit_matrix(self, matrix: sp.csr_matrix, events: pa.Table, items: pa.Table | None) -> None:
        self.similarity_ = cosine_neighbors(
            self._input(matrix), int(self.n_neighbors), float(self.shrink)
        )

    def _index(self) -> None:
        super()._index()
        # CSR of the transpose, built once: a CSR @ CSC product would convert the whole
        # similarity matrix on every call (~65 ms per request at 20k items, 0.7 ms cached)
        self._similarity_t = sp.csr_matrix(self.similarity_.T)

    def _score_users(self, user_codes: np.ndarray) -> np.ndarray:
        x = self._input(self.interactions_[user_codes])
        return np.asarray((x @ self._similarity_t).toarray(), dtype=np.float32)

    def _similar_scores(self, item_codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity_[item_codes].toarray(), dtype=np.float32)

    def _save_state(self, directory: Path) -> None:
        self._write_npz(directory, "similarity.npz", csr_to_arrays(self.similarity_))

    def _load_state(self, artifact: Artifact) -> None:
        self.similarity_ = csr_from_arrays(self._read_npz(artifact, "similarity.npz"))
