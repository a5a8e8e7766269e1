"""Shared machinery of the recommenders that score every item for a user.

:class:`ScoredRecommender` builds the user x item interaction matrix once (weights from the
event types or a ``rating`` column, optionally time-decayed), keeps the catalog arrays that
filters need and a popularity vector for users the model does not know (cold start:
popular in the asked context, i.e. under the same filters), and turns per-user score rows
into the top-``k`` with the family's total order (score descending, item id ascending).
A subclass only learns its parameters from the matrix (:meth:`ScoredRecommender._fit_matrix`)
and scores a batch of known users (:meth:`ScoredRecommender._score_users`).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from reclift.models.errors import InvalidParameterError
from reclift.models.recs.base import (
    IdMap,
    RecFilters,
    Recommender,
    SeenItems,
    catalog_arrays,
    check_k,
)
from reclift.models.recs.popular import check_weight_params, event_weights_array
from reclift.workspace.artifacts import Artifact

_BATCH = 512


def topk_rows(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` columns of each row with a total order: score descending, column ascending.

    Parameters
    ----------
    scores
        Shape ``(n, n_items)`` float32; ``-inf`` marks items that may not be returned.
    k
        Items per row.

    Returns
    -------
    codes : numpy.ndarray
        Shape ``(n, k)`` int64, ``-1`` where a row has fewer than ``k`` candidates.
    values : numpy.ndarray
        Shape ``(n, k)`` float32, ``NaN`` padding.
    """
    n, m = scores.shape
    codes = np.full((n, k), -1, dtype=np.int64)
    values = np.full((n, k), np.nan, dtype=np.float32)
    if m == 0 or n == 0:
        return codes, values
    kk = min(k, m)
    if kk < m:
        part = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
    else:
        part = np.broadcast_to(np.arange(m), (n, m)).copy()
    vals = np.take_along_axis(scores, part, axis=1)
    kth = vals.min(axis=1)
    if kk < m:
        # argpartition picks arbitrarily among values tied with the k-th: rows where a tie
        # straddles the cut are redone exactly so ties go to the smaller column.
        above = (scores > kth[:, None]).sum(axis=1)
        tied = (scores == kth[:, None]).sum(axis=1)
        redo = np.flatnonzero((above + tied > kk) & np.isfinite(kth))
        for row in redo.tolist():
            s = scores[row]
            cand = np.flatnonzero(s >= kth[row])
            cand = cand[np.lexsort((cand, -s[cand]))][:kk]
            part[row] = cand
            vals[row] = s[cand]
    rows = np.repeat(np.arange(n), kk)
    flat_codes, flat_vals = part.ravel(), vals.ravel()
    order = np.lexsort((flat_codes, -flat_vals, rows))
    part = flat_codes[order].reshape(n, kk)
    vals = flat_vals[order].reshape(n, kk)
    finite = np.isfinite(vals)
    codes[:, :kk] = np.where(finite, part, -1)
    values[:, :kk] = np.where(finite, vals, np.nan)
    return codes, values


def csr_to_arrays(matrix: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix as plain arrays for ``.npz`` (shape kept as a 2-vector)."""
    return {
        "indptr": np.asarray(matrix.indptr, dtype=np.int64),
        "indices": np.asarray(matrix.indices, dtype=np.int32),
        "data": np.asarray(matrix.data, dtype=np.float32),
        "shape": np.asarray(matrix.shape, dtype=np.int64),
    }


def csr_from_arrays(arrays: Mapping[str, np.ndarray], prefix: str = "") -> sp.csr_matrix:
    """Inverse of :func:`csr_to_arrays` (keys optionally prefixed)."""
    shape = tuple(int(v) for v in arrays[prefix + "shape"])
    return sp.csr_matrix(
        (arrays[prefix + "data"], arrays[prefix + "indices"], arrays[prefix + "indptr"]),
        shape=shape,
    )


def prune_rows(dense: np.ndarray, n_neighbors: int) -> sp.csr_matrix:
    """Keep the ``n_neighbors`` largest positive entries per row (ties by column), as CSR."""
    n, m = dense.shape
    keep = min(n_neighbors, m)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    masked = np.where(dense > 0, dense, -np.inf).astype(np.float32)
    codes, values = topk_rows(masked, keep)
    for r in range(n):
        ok = codes[r] >= 0
        rows.append(np.full(int(ok.sum()), r, dtype=np.int64))
        cols.append(codes[r][ok])
        vals.append(values[r][ok])
    if not rows:
        return sp.csr_matrix((n, m), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, m),
        dtype=np.float32,
    )


def prune_sparse_rows(matrix: sp.spmatrix, n_neighbors: int) -> sp.csr_matrix:
    """Sparse twin of :func:`prune_rows`: the ``n_neighbors`` largest positive entries per row.

    Only stored entries are ranked, so the cost follows the number of non-zeros instead of
    ``n_rows x n_cols`` (item-item products are sparse: most pairs never co-occur). Same
    entries as :func:`prune_rows`: value descending, ties to the smaller column.

    Parameters
    ----------
    matrix
        Shape ``(n, m)``, any sparse format.
    n_neighbors
        Entries kept per row.

    Returns
    -------
    scipy.sparse.csr_matrix
        Shape ``(n, m)`` float32.
    """
    csr = sp.csr_matrix(matrix, dtype=np.float32)
    csr.sum_duplicates()  # also sorts the columns of each row, which breaks ties below
    data, indptr = csr.data, csr.indptr
    valid = np.isfinite(data) & (data > 0)
    rows = np.repeat(np.arange(csr.shape[0], dtype=np.int64), np.diff(indptr))
    n_valid = np.bincount(rows[valid], minlength=csr.shape[0])
    keep = valid & (n_valid[rows] <= n_neighbors)
    # Rows with more candidates than kept: select the n largest per row (few rows, cheap).
    for r in np.flatnonzero(n_valid > n_neighbors).tolist():
        lo, hi = int(indptr[r]), int(indptr[r + 1])
        d = np.where(valid[lo:hi], data[lo:hi], -np.inf)
        kth = np.partition(d, d.size - n_neighbors)[d.size - n_neighbors]
        above = d > kth
        ties = np.flatnonzero(d == kth)[: n_neighbors - int(above.sum())]
        above[ties] = True
        keep[lo:hi] = above
    out = sp.csr_matrix(
        (
            data[keep],
            csr.indices[keep],
            np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=csr.shape[0]))]),
        ),
        shape=csr.shape,
        dtype=np.float32,
    )
    return out


class ScoredRecommender(Recommender):
    """Base of recommenders that score all items for a user from the interaction matrix.

    Subclasses take ``event_weights`` and ``half_life_days`` among their keyword parameters
    (they define the interaction weights) and implement :meth:`_fit_matrix`,
    :meth:`_score_users`, :meth:`_save_state` and :meth:`_load_state`; they may override
    :meth:`_similar_scores` (default: cosine of the item columns of the matrix).

    Attributes
    ----------
    item_map_, user_map_ : IdMap
        Item and user ids seen in the events.
    interactions_ : scipy.sparse.csr_matrix
        Shape ``(n_users, n_items)`` float32, summed (decayed) event weights.
    popularity_ : numpy.ndarray
        Shape ``(n_items,)`` float64, summed weights including anonymous events; the
        answer for unknown users.
    item_categories_, item_prices_, categories_
        Catalog arrays used by filters (see :func:`~reclift.models.recs.base.catalog_arrays`).
    """

    event_weights: Mapping[str, float] | None
    half_life_days: float | None
    similarity_name: ClassVar[str] = "cosine of interaction columns"

    # ------------------------------------------------------------------ fit
    def _check_params(self) -> None:
        check_weight_params(self.event_weights, self.half_life_days)
        self._check_own_params()

    def _check_own_params(self) -> None:
        """Validate the subclass's own parameters."""

    def _fit(self, events: pa.Table, items: pa.Table | None) -> None:
        weights = event_weights_array(events, self.event_weights, self.half_life_days)
        item_map, codes = IdMap.fit(events.column("item_id"))
        n_items = len(item_map)
        popularity = np.bincount(codes, weights=weights, minlength=n_items)
        if "user_id" in events.column_names:
            users = events.column("user_id")
            valid = np.asarray(pc.is_valid(users).to_numpy(zero_copy_only=False), dtype=bool)
            user_map, user_codes = IdMap.fit(users.filter(pa.array(valid)))
            item_codes, w = codes[valid], weights[valid]
        else:
            user_map = IdMap([])
            user_codes = np.zeros(0, dtype=np.int32)
            item_codes, w = codes[:0], weights[:0]
        matrix = sp.csr_matrix(
            (w.astype(np.float32), (user_codes, item_codes)),
            shape=(len(user_map), n_items),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        # A user's interaction with weight 0 (e.g. a type weighted 0) still counts as seen.
        self.item_map_ = item_map
        self.user_map_ = user_map
        self.interactions_ = matrix
        self.popularity_ = popularity
        self.item_categories_, self.categories_, self.item_prices_ = catalog_arrays(item_map, items)
        self._fit_matrix(matrix, events, items)
        self._index()

    def _index(self) -> None:
        m = self.interactions_
        self.seen_ = SeenItems(m.indptr.astype(np.int64), m.indices.astype(np.int32))
        self._popularity32 = self.popularity_.astype(np.float32)

    @abstractmethod
    def _fit_matrix(self, matrix: sp.csr_matrix, events: pa.Table, items: pa.Table | None) -> None:
        """Learn from the ``(n_users, n_items)`` interaction matrix (and the raw tables)."""

    @abstractmethod
    def _score_users(self, user_codes: np.ndarray) -> np.ndarray:
        """Scores of every item for known users, shape ``(len(user_codes), n_items)`` float32."""

    # ------------------------------------------------------------------ recommend
    def _recommend(
        self,
        users: list[str],
        k: int,
        *,
        exclude_seen: bool,
        category: str | None,
        filters: RecFilters,
    ) -> tuple[np.ndarray, np.ndarray]:
        mask = self.item_mask(filters)
        codes = self.user_map_.encode(users) if users else np.zeros(0, dtype=np.int32)
        n = len(users)
        out_ids = np.full((n, k), None, dtype=object)
        out_scores = np.full((n, k), np.nan, dtype=np.float32)
        item_ids = self.item_map_.ids
        known = np.flatnonzero(codes >= 0)
        unknown = np.flatnonzero(codes < 0)
        if unknown.size:
            pop = np.where(self._popularity32 > 0, self._popularity32, -np.inf)
            if mask is not None:
                pop = np.where(mask, pop, -np.inf)
            top, vals = topk_rows(pop[None, :].astype(np.float32), k)
            ok = top[0] >= 0
            out_ids[np.ix_(unknown, np.flatnonzero(ok))] = item_ids[top[0][ok]]
            out_scores[np.ix_(unknown, np.flatnonzero(ok))] = vals[0][ok]
        for start in range(0, known.size, _BATCH):
            rows = known[start : start + _BATCH]
            ucodes = codes[rows]
            scores = np.asarray(self._score_users(ucodes), dtype=np.float32).copy()
            scores[~np.isfinite(scores)] = -np.inf
            if mask is not None:
                scores[:, ~mask] = -np.inf
            if exclude_seen:
                for r, u in enumerate(ucodes.tolist()):
                    scores[r, self.seen_.of(u)] = -np.inf
            top, vals = topk_rows(scores, k)
            for r, row in enumerate(rows.tolist()):
                ok = top[r] >= 0
                m = int(ok.sum())
                out_ids[row, :m] = item_ids[top[r][ok]]
                out_scores[row, :m] = vals[r][ok]
        return out_ids, out_scores

    # ------------------------------------------------------------------ similar items
    def similar_items(
        self,
        items: Sequence[str],
        k: int,
        *,
        filters: RecFilters | Mapping[str, object] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to each of ``items`` (never the item itself).

        Parameters
        ----------
        items
            Item ids, length ``n``. Unknown items get the popular items (under the filters).
        k
            Items per row.
        filters
            As in :meth:`recommend`.

        Returns
        -------
        ids, scores : numpy.ndarray
            Shape ``(n, k)`` (object, float32), padded with ``None`` / ``NaN``.
        """
        self._check_fitted()
        if isinstance(items, (str, bytes)):
            raise InvalidParameterError("items must be a sequence of item ids, not a string")
        item_list = list(items)
        for i, item in enumerate(item_list):
            if not isinstance(item, str):
                raise InvalidParameterError(f"items[{i}] is {item!r}; item ids are strings")
        k = check_k(k)
        mask = self.item_mask(RecFilters.coerce(filters))
        codes = self.item_map_.encode(item_list) if item_list else np.zeros(0, np.int32)
        n = len(item_list)
        out_ids = np.full((n, k), None, dtype=object)
        out_scores = np.full((n, k), np.nan, dtype=np.float32)
        ids = self.item_map_.ids
        for row, code in enumerate(codes.tolist()):
            if code >= 0:
                s = np.asarray(self._similar_scores(np.array([code])), dtype=np.float32)[0].copy()
                s[~np.isfinite(s) | (s <= 0)] = -np.inf
                s[code] = -np.inf
            else:
                s = np.where(self._popularity32 > 0, self._popularity32, -np.inf)
            if mask is not None:
                s = np.where(mask, s, -np.inf)
            top, vals = topk_rows(s[None, :].astype(np.float32), k)
            ok = top[0] >= 0
            m = int(ok.sum())
            out_ids[row, :m] = ids[top[0][ok]]
            out_scores[row, :m] = vals[0][ok]
        return out_ids, out_scores

    def _similar_scores(self, item_codes: np.ndarray) -> np.ndarray:
        """Similarity of each given item to every item, shape ``(n, n_items)``."""
        x = self.interactions_.tocsc().astype(np.float32)
        x.data[:] = 1.0
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
        cols = x[:, item_codes]
        sims = np.asarray((cols.T @ x).todense(), dtype=np.float32)
        denom = norms[item_codes][:, None] * norms[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(denom > 0, sims / denom, 0.0)
        return out.astype(np.float32)

    # ------------------------------------------------------------------ persistence
    def _save(self, directory: Path) -> None:
        self._write_parquet(
            directory,
            "items.parquet",
            pa.table(
                {
                    "item_id": pa.array(self.item_map_.ids.tolist(), type=pa.string()),
                    "popularity": pa.array(self.popularity_, type=pa.float64()),
                    "category": pa.array(self.item_categories_.tolist(), type=pa.string()),
                    "price": pa.array(self.item_prices_, type=pa.float64()),
                }
            ),
        )
        self._write_parquet(
            directory,
            "categories.parquet",
            pa.table({"category": pa.array(sorted(self.categories_), type=pa.string())}),
        )
        self._write_parquet(directory, "users.parquet", self.user_map_.to_arrow("user_id"))
        self._write_npz(directory, "interactions.npz", csr_to_arrays(self.interactions_))
        self._save_state(directory)

    def _load(self, artifact: Artifact) -> None:
        items = self._read_parquet(artifact, "items.parquet")
        self.item_map_ = IdMap.from_arrow(items, "item_id")
        if not np.array_equal(
            self.item_map_.ids, np.asarray(items.column("item_id").to_pylist(), dtype=object)
        ):
            raise ValueError("items.parquet is not sorted by item_id")
        self.popularity_ = np.asarray(items.column("popularity").to_numpy(), dtype=np.float64)
        self.item_categories_ = np.asarray(items.column("category").to_pylist(), dtype=object)
        self.item_prices_ = np.asarray(items.column("price").to_numpy(), dtype=np.float64)
        cats = self._read_parquet(artifact, "categories.parquet")
        self.categories_ = frozenset(cats.column("category").to_pylist())
        self.user_map_ = IdMap.from_arrow(self._read_parquet(artifact, "users.parquet"), "user_id")
        self.interactions_ = csr_from_arrays(self._read_npz(artifact, "interactions.npz"))
        if self.interactions_.shape != (len(self.user_map_), len(self.item_map_)):
            raise ValueError("interactions.npz does not match users.parquet/items.parquet")
        self._load_state(artifact)
        self._index()

    @abstractmethod
    def _save_state(self, directory: Path) -> None:
        """Write the subclass's learned arrays (``.npz`` / Parquet)."""

    @abstractmethod
    def _load_state(self, artifact: Artifact) -> None:
        """Restore what :meth:`_save_state` wrote."""
