"""Vector indexes behind :class:`~reclift.models.search.base.VectorIndex`: faiss and usearch.

* ``FaissIndex(kind="exact")``: ``IndexFlatIP`` (brute force, the reference).
* ``FaissIndex(kind="hnsw")``: ``IndexHNSWFlat`` with inner product (``m`` links,
  ``ef_construction``, ``ef_search``).
* ``USearchIndex``: usearch's HNSW with the ``ip`` metric (``exact=True`` for brute force).

Index files are the libraries' own formats (``faiss.write_index`` / ``Index.save``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from reclift.errors import require
from reclift.models.errors import InvalidParameterError
from reclift.models.search.base import VectorIndex

KINDS = ("exact", "hnsw")
_FAISS: list[Any] = []


def _faiss_module() -> Any:
    # imported once: ``require`` goes through importlib on every call, which is measurable
    # per query when the service answers one query per call
    if not _FAISS:
        _FAISS.append(require("faiss", "search"))
    return _FAISS[0]


def _check_kind(kind: object) -> None:
    if kind not in KINDS:
        raise InvalidParameterError(f"kind must be one of {list(KINDS)}, got {kind!r}")


class FaissIndex(VectorIndex):
    """faiss flat (exact) or HNSW inner-product index.

    Parameters
    ----------
    kind
        ``"exact"`` or ``"hnsw"``.
    m, ef_construction, ef_search
        HNSW graph degree and beam widths at build and query time.
    threads
        faiss OpenMP threads (``None`` keeps faiss's default).
    """

    name: ClassVar[str] = "faiss"

    def __init__(
        self,
        *,
        kind: str = "hnsw",
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        threads: int | None = None,
    ) -> None:
        self.kind = kind
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.threads = threads

    def _faiss(self) -> Any:
        faiss: Any = _faiss_module()
        if self.threads is not None:
            faiss.omp_set_num_threads(int(self.threads))
        return faiss

    def _build(self, vectors: np.ndarray) -> None:
        _check_kind(self.kind)
        faiss = self._faiss()
        dim = vectors.shape[1]
        if self.kind == "exact":
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, int(self.m), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = int(self.ef_construction)
        index.add(vectors)
        self.index_ = index
        self._tune()

    def _tune(self) -> None:
        if self.kind == "hnsw":
            self.index_.hnsw.efSearch = int(self.ef_search)
            self._ef_applied = self.ef_search

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self._faiss()
        # ef_search may change after build/load (an ef sweep); a SWIG write per call costs
        # more than the comparison, so only write on change
        if self.kind == "hnsw" and getattr(self, "_ef_applied", None) != self.ef_search:
            self._tune()
        scores, pos = self.index_.search(queries, k)
        missing = pos < 0
        if missing.any():
            scores[missing] = np.nan
        return pos.astype(np.int64, copy=False), scores.astype(np.float32, copy=False)

    def _save_index(self, directory: Path) -> None:
        self._faiss().write_index(self.index_, str(directory / "index.faiss"))

    def _load_index(self, directory: Path) -> None:
        self.index_ = self._faiss().read_index(str(directory / "index.faiss"))
        self._tune()


class USearchIndex(VectorIndex):
    """usearch HNSW (or its exact scan) with the inner-product metric.

    Parameters
    ----------
    kind
        ``"exact"`` or ``"hnsw"``.
    m, ef_construction, ef_search
        usearch ``connectivity``, ``expansion_add``, ``expansion_search``.
    threads
        Threads for add and search (0 = all cores).
    """

    name: ClassVar[str] = "usearch"

    def __init__(
        self,
        *,
        kind: str = "hnsw",
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        threads: int = 0,
    ) -> None:
        self.kind = kind
        self.m = m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.threads = threads

    def _new(self, dim: int) -> Any:
        module: Any = require("usearch.index", "search")
        return module.Index(
            ndim=dim,
            metric="ip",
            dtype="f32",
            connectivity=int(self.m),
            expansion_add=int(self.ef_construction),
            expansion_search=int(self.ef_search),
        )

    def _build(self, vectors: np.ndarray) -> None:
        _check_kind(self.kind)
        index = self._new(vectors.shape[1])
        if self.kind == "hnsw":
            index.add(np.arange(vectors.shape[0], dtype=np.uint64), vectors, threads=self.threads)
        self.index_ = index
        self.__dict__.pop("_ef_applied", None)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.kind == "exact":
            from reclift.models.search.base import exact_search

            return exact_search(self.vectors_, queries, k)
        # ef_search may change after build/load (an ef sweep); the property write goes
        # through usearch's Python layer, so only write on change
        if getattr(self, "_ef_applied", None) != self.ef_search:
            self.index_.expansion_search = int(self.ef_search)
            self._ef_applied = self.ef_search
        matches = self.index_.search(queries, k, threads=self.threads)
        n_q = len(queries)
        keys = np.full((n_q, k), -1, dtype=np.int64)
        dist = np.full((n_q, k), np.nan, dtype=np.float32)
        if hasattr(matches, "counts"):  # a batch of queries
            got = np.asarray(matches.keys, dtype=np.int64).reshape(n_q, -1)
            keys[:, : got.shape[1]] = got
            dist[:, : got.shape[1]] = np.asarray(matches.distances).reshape(n_q, -1)
            counts = np.asarray(matches.counts).reshape(-1)
        else:  # usearch answers a single query with a flat result
            flat = np.asarray(matches.keys, dtype=np.int64).reshape(-1)
            keys[0, : flat.size] = flat
            dist[0, : flat.size] = np.asarray(matches.distances).reshape(-1)
            counts = np.array([flat.size])
        valid = np.arange(keys.shape[1])[None, :] < counts[:, None]
        pos = np.where(valid, keys, -1)
        # usearch's "ip" distance is 1 - dot
        return pos, np.where(valid, 1.0 - dist, np.nan).astype(np.float32)

    def _save_index(self, directory: Path) -> None:
        if self.kind == "hnsw":
            self.index_.save(str(directory / "index.usearch"))

    def _load_index(self, directory: Path) -> None:
        index = self._new(self.vectors_.shape[1])
        if self.kind == "hnsw":
            index.load(str(directory / "index.usearch"))
        self.index_ = index
        self.__dict__.pop("_ef_applied", None)  # a new index object: apply ef at next search
