"""The interfaces of the search family: text encoders and vector indexes.

A :class:`TextEncoder` turns texts into L2-normalised ``float32`` vectors (so inner product
is cosine similarity); a :class:`VectorIndex` stores vectors under dense positions and answers
top-``k`` inner-product queries, exactly or approximately, optionally restricted to a boolean
mask of allowed positions (filters). Implementations register in
:data:`reclift.models.search.registry.ENCODERS` / ``INDEXES`` and pass
``tests/conformance/test_search.py``. Everything is saved in formats that cannot run code
(JSON parameters, ``.npz`` without pickle, native faiss/usearch index files).
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from reclift.models.errors import InvalidParameterError, NotFittedError

FAMILY = "search"


def check_texts(texts: object, what: str = "texts") -> list[str]:
    """A list of strings (``None`` becomes ``""``); anything else is refused with its position."""
    if isinstance(texts, (str, bytes)):
        raise InvalidParameterError(f"{what} must be a sequence of strings, not a single string")
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    if not isinstance(texts, Sequence):
        raise InvalidParameterError(
            f"{what} must be a sequence of strings, got {type(texts).__name__}"
        )
    out: list[str] = []
    for i, t in enumerate(texts):
        if t is None:
            out.append("")
        elif isinstance(t, str):
            out.append(t)
        else:
            raise InvalidParameterError(f"{what}[{i}] is {t!r} ({type(t).__name__}); expected str")
    return out


def check_vectors(vectors: object, dim: int | None, what: str = "vectors") -> np.ndarray:
    """A C-contiguous ``(n, dim)`` float32 array of finite values."""
    arr = np.asarray(vectors)
    if arr.dtype == np.float32 and arr.ndim == 2 and arr.flags.c_contiguous:
        # the common case (a batch from an encoder): skip the dtype checks and the copy
        if dim is not None and arr.shape[1] != dim:
            raise InvalidParameterError(
                f"{what} have dimension {arr.shape[1]}; the index has {dim}"
            )
        if not np.isfinite(arr).all():
            row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
            raise InvalidParameterError(f"{what} row {row} is not finite")
        return arr
    if arr.ndim != 2:
        raise InvalidParameterError(f"{what} must be 2-d (n, dim), got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise InvalidParameterError(f"{what} have dimension {arr.shape[1]}; the index has {dim}")
    if not np.issubdtype(arr.dtype, np.number):
        raise InvalidParameterError(f"{what} must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.size and not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InvalidParameterError(f"{what} row {row} is not finite")
    return arr


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norms > 0, x / np.maximum(norms, 1e-12), 0.0).astype(np.float32)


class _Params:
    def get_params(self) -> dict[str, Any]:
        """Keyword-only constructor parameters and their values."""
        sig = inspect.signature(type(self).__init__)
        return {
            p: getattr(self, p)
            for p, v in sig.parameters.items()
            if v.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


class TextEncoder(_Params, ABC):
    """Texts -> unit vectors. ``fit`` learns from a corpus (a no-op for pretrained models)."""

    name: ClassVar[str]

    def fit(self, texts: Sequence[str]) -> Self:
        """Learn from ``texts`` (length ``n``); returns ``self``."""
        self._fit(check_texts(texts))
        return self

    def _fit(self, texts: list[str]) -> None:
        """Learn from validated texts."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Vector dimension."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts``, shape ``(n, dim)`` float32 (an empty text -> zeros)."""
        checked = check_texts(texts)
        if not checked:
            return np.zeros((0, self.dim), dtype=np.float32)
        return normalize_rows(np.asarray(self._encode(checked), dtype=np.float32))

    @abstractmethod
    def _encode(self, texts: list[str]) -> np.ndarray:
        """Raw vectors of validated, non-empty ``texts``."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write learned state (if any) into ``directory``."""

    @abstractmethod
    def load_state(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote."""


class VectorIndex(_Params, ABC):
    """Top-``k`` inner-product search over vectors at positions ``0..n-1``."""

    name: ClassVar[str]

    def build(self, vectors: np.ndarray) -> Self:
        """Index ``vectors``, shape ``(n, dim)``; returns ``self``."""
        arr = check_vectors(vectors, None)
        self.vectors_ = arr
        self._build(arr)
        return self

    @abstractmethod
    def _build(self, vectors: np.ndarray) -> None:
        """Index validated vectors."""

    @property
    def size(self) -> int:
        """Number of indexed vectors."""
        return int(self._vectors().shape[0])

    def _vectors(self) -> np.ndarray:
        if not hasattr(self, "vectors_"):
            raise NotFittedError(f"{type(self).__name__} is empty; call build() or load()")
        return self.vectors_

    def search(
        self, queries: np.ndarray, k: int, *, mask: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best positions per query (inner product, descending).

        Parameters
        ----------
        queries
            Shape ``(n_queries, dim)``.
        k
            Results per query (> 0).
        mask
            Optional boolean ``(n,)``: only these positions may be returned. A selective
            mask is answered exactly over the allowed rows; a loose one by over-fetching.

        Returns
        -------
        positions : numpy.ndarray
            Shape ``(n_queries, k)`` int64, ``-1`` padding.
        scores : numpy.ndarray
            Shape ``(n_queries, k)`` float32, ``NaN`` padding.
        """
        vectors = self._vectors()
        q = check_vectors(queries, vectors.shape[1], "queries")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
        n = vectors.shape[0]
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != (n,):
                raise InvalidParameterError(f"mask must have shape ({n},), got {mask.shape}")
            allowed = int(mask.sum())
            if allowed <= max(4 * k, n // 20):
                return exact_search(vectors, q, k, mask)
            fetch = min(n, k * max(4, int(np.ceil(n / allowed)) * 2))
            pos, sc = self._search(q, fetch)
            out_p = np.full((q.shape[0], k), -1, dtype=np.int64)
            out_s = np.full((q.shape[0], k), np.nan, dtype=np.float32)
            for r in range(q.shape[0]):
                ok = (pos[r] >= 0) & mask[np.maximum(pos[r], 0)]
                if ok.sum() < min(k, allowed):
                    p1, s1 = exact_search(vectors, q[r : r + 1], k, mask)
                    out_p[r], out_s[r] = p1[0], s1[0]
                    continue
                out_p[r, : min(k, int(ok.sum()))] = pos[r][ok][:k]
                out_s[r, : min(k, int(ok.sum()))] = sc[r][ok][:k]
            return out_p, out_s
        if 2 * k >= n:
            # asking for most of the index: a graph walk may stop short, a scan does not
            return exact_search(vectors, q, k)
        pos, sc = self._search(q, k)
        if pos.shape[1] < k:
            pad = k - pos.shape[1]
            pos = np.pad(pos, ((0, 0), (0, pad)), constant_values=-1)
            sc = np.pad(sc, ((0, 0), (0, pad)), constant_values=np.nan)
        return pos.astype(np.int64, copy=False), sc.astype(np.float32, copy=False)

    @abstractmethod
    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Unfiltered top-``k`` (``k <= n``); ``-1`` / ``NaN`` where fewer were found."""

    def save(self, directory: Path) -> None:
        """Write the vectors (``.npz``) and the backend's own index file into ``directory``."""
        np.savez(directory / "vectors.npz", vectors=self._vectors())
        self._save_index(directory)

    def load_state(self, directory: Path) -> None:
        """Restore what :meth:`save` wrote."""
        with np.load(directory / "vectors.npz", allow_pickle=False) as data:
            self.vectors_ = np.ascontiguousarray(data["vectors"], dtype=np.float32)
        self._load_index(directory)

    @abstractmethod
    def _save_index(self, directory: Path) -> None:
        """Write the backend index (nothing for a brute-force index)."""

    @abstractmethod
    def _load_index(self, directory: Path) -> None:
        """Read the backend index."""


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-``k`` by inner product; ties by position; ``mask`` restricts rows."""
    rows = np.flatnonzero(mask) if mask is not None else np.arange(vectors.shape[0])
    n_q = queries.shape[0]
    out_p = np.full((n_q, k), -1, dtype=np.int64)
    out_s = np.full((n_q, k), np.nan, dtype=np.float32)
    if not rows.size:
        return out_p, out_s
    from reclift.models.recs.scored import topk_rows

    # rows ascend, so the column order of topk_rows' tie-break is the position order
    codes, values = topk_rows(np.asarray(queries @ vectors[rows].T, dtype=np.float32), k)
    ok = codes >= 0
    out_p[ok] = rows[codes[ok]]
    out_s[ok] = values[ok]
    return out_p, out_s
