"""Co-purchase ("frequently bought together") from baskets, and pairwise association rules.

A basket is the set of items of one session (or one user, or one order id mapped to
``session_id``). With ``n_i`` the baskets holding item ``i``, ``n_ij`` those holding both and
``N`` the number of baskets, the item-item score is

* ``count``: ``n_ij``;
* ``cosine``: ``n_ij / sqrt(n_i n_j)``;
* ``jaccard``: ``n_ij / (n_i + n_j - n_ij)``;
* ``lift``: ``n_ij N / (n_i n_j)``.

Rules ``i -> j`` have support ``n_ij / N``, confidence ``n_ij / n_i`` and lift
``confidence / (n_j / N)``. A user's scores sum the similarities of the items in their
history (so "bought together with what you have"), and :meth:`similar_items` is the
bought-together list of an item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from reclift.models.errors import InvalidParameterError
from reclift.models.recs.base import IdMap, RecFilters
from reclift.models.recs.scored import (
    ScoredRecommender,
    csr_from_arrays,
    csr_to_arrays,
    prune_sparse_rows,
)
from reclift.schema.tables import EVENT_TYPES
from reclift.workspace.artifacts import Artifact

SIMILARITIES = ("cosine", "jaccard", "lift", "count")
BASKETS = ("session", "user")
_BLOCK = 1024


def basket_matrix(
    events: pa.Table, item_codes: np.ndarray, n_items: int, basket: str
) -> sp.csr_matrix:
    """Binary baskets x items matrix, shape ``(n_baskets, n_items)``.

    Parameters
    ----------
    events
        Validated events (their rows parallel ``item_codes``).
    item_codes
        Item code of every event, shape ``(n_events,)``.
    basket
        ``"session"`` groups by ``session_id`` (falling back to ``user_id`` when absent),
        ``"user"`` by ``user_id``. Rows with a null key belong to no basket.
    """
    key = "session_id" if basket == "session" else "user_id"
    if key not in events.column_names:
        key = "user_id"
    if key not in events.column_names:
        return sp.csr_matrix((0, n_items), dtype=np.float32)
    col = events.column(key)
    valid = np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)
    _, rows = IdMap.fit(col.filter(pa.array(valid)))
    n_rows = int(rows.max()) + 1 if rows.size else 0
    m = sp.csr_matrix(
        (np.ones(rows.size, np.float32), (rows, item_codes[valid])),
        shape=(n_rows, n_items),
        dtype=np.float32,
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def pair_scores(
    cooc: sp.csr_matrix, item_counts: np.ndarray, n_baskets: int, similarity: str
) -> sp.csr_matrix:
    """Item-item scores from co-occurrence counts (same sparsity, zero diagonal)."""
    c = sp.coo_matrix(cooc)
    i, j, n_ij = c.row, c.col, c.data.astype(np.float64)
    ni, nj = item_counts[i].astype(np.float64), item_counts[j].astype(np.float64)
    if similarity == "count":
        v = n_ij
    elif similarity == "cosine":
        v = n_ij / np.sqrt(ni * nj)
    elif similarity == "jaccard":
        v = n_ij / (ni + nj - n_ij)
    else:
        v = n_ij * n_baskets / (ni * nj)
    keep = i != j
    return sp.csr_matrix(
        (v[keep].astype(np.float32), (i[keep], j[keep])), shape=cooc.shape, dtype=np.float32
    )


class CoPurchaseRecommender(ScoredRecommender):
    """Items bought together, scored by co-occurrence in baskets.

    Parameters
    ----------
    similarity
        ``"cosine"``, ``"jaccard"``, ``"lift"`` or ``"count"`` (see the module docstring).
    basket
        ``"session"`` (one basket per ``session_id``; map an order id there) or ``"user"``.
    event_types
        Event types that put an item in a basket (``None`` = all; ``["order"]`` for
        purchases only).
    min_count
        Pairs seen together in fewer baskets are ignored (noise guard, above all for lift).
    n_neighbors
        Partners kept per item for recommending.
    event_weights, half_life_days
        Weights of the user history used when recommending to a user.

    Attributes
    ----------
    cooccurrence_ : scipy.sparse.csr_matrix
        Shape ``(n_items, n_items)`` float32, ``n_ij`` for pairs with ``n_ij >= min_count``
        (diagonal = ``n_i``).
    item_counts_ : numpy.ndarray
        Shape ``(n_items,)`` int64, baskets holding each item.
    n_baskets_ : int
    similarity_ : scipy.sparse.csr_matrix
        Shape ``(n_items, n_items)``, pruned to ``n_neighbors`` per row.
    """

    name: ClassVar[str] = "copurchase"

    def __init__(
        self,
        *,
        similarity: str = "cosine",
        basket: str = "session",
        event_types: Sequence[str] | None = None,
        min_count: int = 1,
        n_neighbors: int = 100,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
    ) -> None:
        self.similarity = similarity
        self.basket = basket
        self.event_types = event_types
        self.min_count = min_count
        self.n_neighbors = n_neighbors
        self.event_weights = event_weights
        self.half_life_days = half_life_days

    def _check_own_params(self) -> None:
        if self.similarity not in SIMILARITIES:
            raise InvalidParameterError(
                f"similarity must be one of {list(SIMILARITIES)}, got {self.similarity!r}"
            )
        if self.basket not in BASKETS:
            raise InvalidParameterError(
                f"basket must be one of {list(BASKETS)}, got {self.basket!r}"
            )
        if self.event_types is not None:
            bad = [t for t in self.event_types if t not in EVENT_TYPES]
            if isinstance(self.event_types, str) or bad:
                raise InvalidParameterError(
                    f"event_types must be a list of {list(EVENT_TYPES)}, got {self.event_types!r}"
                )
        for name in ("min_count", "n_neighbors"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{name} must be a positive integer, got {v!r}")

    def _fit_matrix(self, matrix: sp.csr_matrix, events: pa.Table, items: pa.Table | None) -> None:
        codes = self.item_map_.encode(
            np.asarray(events.column("item_id").to_numpy(zero_copy_only=False), dtype=str)
        )
        n_items = len(self.item_map_)
        if self.event_types is not None and "event_type" in events.column_names:
            keep = pc.is_in(events.column("event_type"), value_set=pa.array(self.event_types))
            keep_np = np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)
            events, codes = events.filter(pa.array(keep_np)), codes[keep_np]
        baskets = basket_matrix(events, codes, n_items, self.basket)
        self.n_baskets_ = int(baskets.shape[0])
        self.item_counts_ = np.asarray(baskets.sum(axis=0), dtype=np.int64).ravel()
        bc = baskets.tocsc()
        bt = bc.T.tocsr()
        blocks = []
        for start in range(0, n_items, _BLOCK):
            block = sp.csr_matrix(bt[start : start + _BLOCK] @ bc, dtype=np.float32)
            block.data[block.data < self.min_count] = 0.0
            block.eliminate_zeros()
            blocks.append(block)
        self.cooccurrence_ = (
            sp.vstack(blocks, format="csr").astype(np.float32)
            if blocks
            else sp.csr_matrix((0, 0), dtype=np.float32)
        )
        self._build_similarity()

    def _build_similarity(self) -> None:
        scores = pair_scores(
            self.cooccurrence_, self.item_counts_, self.n_baskets_, str(self.similarity)
        )
        self.similarity_ = prune_sparse_rows(scores, int(self.n_neighbors))

    def _index(self) -> None:
        super()._index()
        # CSR of the transpose, built once: a CSR @ CSC product would convert the whole
        # similarity matrix on every call (~65 ms per request at 20k items, 0.7 ms cached)
        self._similarity_t = sp.csr_matrix(self.similarity_.T)

    def _score_users(self, user_codes: np.ndarray) -> np.ndarray:
        x = self.interactions_[user_codes].astype(np.float32)
        x.data[:] = 1.0
        return np.asarray((x @ self._similarity_t).toarray(), dtype=np.float32)

    def _similar_scores(self, item_codes: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity_[item_codes].toarray(), dtype=np.float32)

    def bought_together(
        self,
        items: Sequence[str],
        k: int,
        *,
        filters: RecFilters | Mapping[str, object] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Items most often bought with each of ``items`` (alias of :meth:`similar_items`)."""
        return self.similar_items(items, k, filters=filters)

    def association_rules(
        self,
        *,
        min_support: float = 0.0,
        min_confidence: float = 0.0,
        min_lift: float = 0.0,
    ) -> pa.Table:
        """Pairwise rules ``antecedent -> consequent`` among pairs with ``n_ij >= min_count``.

        Returns
        -------
        pyarrow.Table
            Columns ``antecedent, consequent`` (string), ``count`` (int64), ``support``,
            ``confidence``, ``lift`` (float64); sorted by lift, confidence, support (all
            descending), then antecedent and consequent ascending.
        """
        self._check_fitted()
        c = sp.coo_matrix(self.cooccurrence_)
        off = c.row != c.col
        i, j, n_ij = c.row[off], c.col[off], c.data[off].astype(np.float64)
        n = float(max(self.n_baskets_, 1))
        support = n_ij / n
        confidence = n_ij / self.item_counts_[i]
        lift = confidence / (self.item_counts_[j] / n)
        keep = (support >= min_support) & (confidence >= min_confidence) & (lift >= min_lift)
        i, j, n_ij = i[keep], j[keep], n_ij[keep]
        support, confidence, lift = support[keep], confidence[keep], lift[keep]
        order = np.lexsort((j, i, -support, -confidence, -lift))
        ids = self.item_map_.ids
        return pa.table(
            {
                "antecedent": pa.array(ids[i[order]].tolist(), pa.string()),
                "consequent": pa.array(ids[j[order]].tolist(), pa.string()),
                "count": pa.array(n_ij[order].astype(np.int64)),
                "support": pa.array(support[order]),
                "confidence": pa.array(confidence[order]),
                "lift": pa.array(lift[order]),
            }
        )

    def _save_state(self, directory: Path) -> None:
        arrays = {f"c_{k}": v for k, v in csr_to_arrays(self.cooccurrence_).items()}
        arrays["item_counts"] = self.item_counts_
        arrays["n_baskets"] = np.asarray([self.n_baskets_], dtype=np.int64)
        self._write_npz(directory, "copurchase.npz", arrays)

    def _load_state(self, artifact: Artifact) -> None:
        arrays = self._read_npz(artifact, "copurchase.npz")
        self.cooccurrence_ = csr_from_arrays(arrays, "c_")
        self.item_counts_ = arrays["item_counts"]
        self.n_baskets_ = int(arrays["n_baskets"][0])
        self._build_similarity()
