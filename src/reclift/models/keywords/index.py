"""The vector index behind dense retrieval: exact inner-product search with faiss.

Kept behind this one small class so it can be swapped for the shared search family's index
later without touching the retrievers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from reclift.errors import require


class VectorIndex:
    """Exact maximum-inner-product index over unit vectors (cosine).

    Parameters
    ----------
    vectors
        ``(n, d)`` float32 rows to index.
    """

    def __init__(self, vectors: np.ndarray) -> None:
        faiss: Any = require("faiss", "keywords")
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        self.dim = int(x.shape[1])
        self._index = faiss.IndexFlatIP(self.dim)
        if x.shape[0]:
            self._index.add(x)

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows per query: ``(n_q, k)`` int64 positions (``-1`` pads) and float32
        scores (``-inf`` pads)."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        kk = min(k, len(self))
        if kk == 0 or q.shape[0] == 0:
            return (
                np.full((q.shape[0], k), -1, dtype=np.int64),
                np.full((q.shape[0], k), -np.inf, dtype=np.float32),
            )
        scores, idx = self._index.search(q, kk)
        if kk < k:
            idx = np.pad(idx, ((0, 0), (0, k - kk)), constant_values=-1)
            scores = np.pad(scores, ((0, 0), (0, k - kk)), constant_values=-np.inf)
        return idx.astype(np.int64), scores.astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the native faiss index file."""
        faiss: Any = require("faiss", "keywords")
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        faiss: Any = require("faiss", "keywords")
        obj = cls.__new__(cls)
        obj._index = faiss.read_index(str(path))
        obj.dim = int(obj._index.d)
        return obj
