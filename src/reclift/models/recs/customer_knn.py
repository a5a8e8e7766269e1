"""User-kNN over customer vectors: recommend what the most similar customers interacted with.

Customer vectors (:mod:`reclift.models.embeddings.customer360`, the ``customer360``
artifact the lookalike route also reads) place customers with similar baskets and profiles
close together. For a user ``u`` with a vector, the ``n_neighbors`` other customers ``v``
with the largest cosine ``s(u, v) > min_similarity`` are found by a dense matmul over all
customer vectors (in batches of users), and the score of item ``i`` is

    score(u, i) = sum_v s(u, v) * w(v, i)

where ``w(v, i)`` is the summed event-type weight of ``v``'s events on ``i`` (the same
interaction matrix as the other scored recommenders). Items no neighbour touched follow,
ranked by popularity with scores in ``[-1, -0.5]``, so a list is never shorter than the catalog
allows. Users without a vector (or unknown to the events) get the popularity ranking, like
every recommender's cold start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from reclift.errors import SchemaError
from reclift.models.embeddings.customer360 import CustomerVectors, build_customer_vectors
from reclift.models.errors import InvalidParameterError
from reclift.models.recs.scored import ScoredRecommender
from reclift.workspace.artifacts import Artifact

_QUERY_BATCH = 512
"""Users per similarity matmul: ``512 x n_customers`` float32 (80 MB at 40k customers)."""


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(f"{name} must be a positive integer, got {value!r}")


@contextmanager
def _single_thread_torch() -> Iterator[None]:
    # the autoencoder is tiny: a pool of spinning threads on shared cores makes it ~50x slower
    try:
        import torch
    except ImportError:  # the builder then names the missing extra itself
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _l2_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.where(norm > 0, norm, 1.0), dtype=np.float32)


class CustomerKNNRecommender(ScoredRecommender):
    """User-based collaborative filtering over stored customer vectors.

    Parameters
    ----------
    n_neighbors
        Most similar customers whose items are scored for a user.
    min_similarity
        Neighbours need a cosine above this (in ``[0, 1)``).
    event_weights, half_life_days
        Interaction weights (as in :class:`~reclift.models.recs.popular.PopularRecommender`).
    item_dim, profile_dim, item2vec_epochs, seed
        Settings of the vectors built by :meth:`fit` when none are given (small and fast;
        see :func:`~reclift.models.embeddings.customer360.build_customer_vectors`).

    Attributes
    ----------
    user_vectors_ : numpy.ndarray
        Shape ``(n_users, dim)`` float32, L2-normalised; row ``c`` belongs to user code ``c``
        (zeros for users without a vector).
    has_vector_ : numpy.ndarray
        Shape ``(n_users,)`` bool.
    """

    name: ClassVar[str] = "customer_knn"

    def __init__(
        self,
        *,
        n_neighbors: int = 200,
        min_similarity: float = 0.0,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        item_dim: int = 16,
        profile_dim: int = 4,
        item2vec_epochs: int = 5,
        seed: int = 0,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.min_similarity = min_similarity
        self.event_weights = event_weights
        self.half_life_days = half_life_days
        self.item_dim = item_dim
        self.profile_dim = profile_dim
        self.item2vec_epochs = item2vec_epochs
        self.seed = seed

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        events: pa.Table,
        items: pa.Table | None = None,
        *,
        vectors: CustomerVectors | None = None,
    ) -> Self:
        """Learn from events and customer vectors.

        Parameters
        ----------
        events, items
            As in :meth:`~reclift.models.recs.base.Recommender.fit`.
        vectors
            Customer vectors (``user_ids`` shape ``(n,)``, ``vectors`` shape ``(n, dim)``),
            e.g. the workspace's ``customer360`` artifact. Customers absent from ``events``
            are ignored. ``None``: built here from ``events`` with this model's small
            settings (users without a session of two items then have no vector).

        Returns
        -------
        Self
            The fitted model.

        Raises
        ------
        SchemaError
            Bad tables, or ``vectors`` that are not a finite 2-D array matching its ids.
        """
        if vectors is not None and not isinstance(vectors, CustomerVectors):
            raise SchemaError(
                f"vectors must be CustomerVectors, got {type(vectors).__module__}."
                f"{type(vectors).__qualname__}"
            )
        self._given_vectors = vectors
        try:
            return super().fit(events, items)
        finally:
            del self._given_vectors

    def _check_own_params(self) -> None:
        _positive_int("n_neighbors", self.n_neighbors)
        for name in ("item_dim", "profile_dim", "item2vec_epochs"):
            _positive_int(name, getattr(self, name))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InvalidParameterError(f"seed must be an integer >= 0, got {self.seed!r}")
        sim = self.min_similarity
        if isinstance(sim, bool) or not isinstance(sim, (int, float)) or not 0.0 <= sim < 1.0:
            raise InvalidParameterError(f"min_similarity must be in [0, 1), got {sim!r}")

    def _fit_matrix(self, matrix: sp.csr_matrix, events: pa.Table, items: pa.Table | None) -> None:
        given: CustomerVectors | None = self._given_vectors
        cv = given if given is not None else self._build_vectors(events, items)
        n_users = len(self.user_map_)
        dim = 0 if cv is None else int(np.asarray(cv.vectors).shape[1])
        self.user_vectors_ = np.zeros((n_users, dim), dtype=np.float32)
        self.has_vector_ = np.zeros(n_users, dtype=bool)
        if cv is None or not n_users:
            return
        ids = np.asarray(cv.user_ids, dtype=object)
        codes = self.user_map_.encode(ids.astype(str)) if ids.size else np.zeros(0, np.int32)
        rows = np.flatnonzero(codes >= 0)
        normed = _l2_rows(np.asarray(cv.vectors, dtype=np.float32)[rows])
        self.user_vectors_[codes[rows]] = normed
        # a zero vector has no direction: such a user is treated as having none
        self.has_vector_[codes[rows]] = np.abs(normed).sum(axis=1) > 0

    def _build_vectors(self, events: pa.Table, items: pa.Table | None) -> CustomerVectors | None:
        if "user_id" not in events.column_names or "ts" not in events.column_names:
            return None
        known = events.filter(pc.is_valid(events.column("user_id")))
        cols = [
            c
            for c in ("user_id", "session_id", "item_id", "ts", "event_type")
            if c in known.column_names
        ]
        frame = known.select(cols).to_pandas()
        cats = None
        if items is not None and "category" in items.column_names:
            cats = items.select(["item_id", "category"]).to_pandas()
        try:
            with _single_thread_torch():
                return build_customer_vectors(
                    frame,
                    cats,
                    item_dim=int(self.item_dim),
                    profile_dim=int(self.profile_dim),
                    seed=int(self.seed),
                    item2vec_epochs=int(self.item2vec_epochs),
                )
        except SchemaError:
            # no session of two or more items: no basket to learn a vector from, so every
            # user falls back to popularity (an empty or anonymous log is not an error here)
            return None

    def _check_vectors(self) -> None:
        cv: CustomerVectors | None = getattr(self, "_given_vectors", None)
        if cv is None:
            return
        vecs = np.asarray(cv.vectors)
        if vecs.ndim != 2 or len(np.asarray(cv.user_ids)) != vecs.shape[0]:
            raise SchemaError(
                f"vectors: {len(np.asarray(cv.user_ids))} user ids for vectors of shape "
                f"{vecs.shape}; expected one row per id"
            )
        if not np.issubdtype(vecs.dtype, np.number) or not np.isfinite(vecs).all():
            raise SchemaError("vectors: values must be finite numbers")
        ids = np.asarray(cv.user_ids).astype(str)
        uniq, counts = np.unique(ids, return_counts=True)
        if uniq.size != ids.size:
            raise SchemaError(
                f"vectors: user id {str(uniq[counts > 1][0])!r} has more than one row"
            )

    def _check_params(self) -> None:
        super()._check_params()
        self._check_vectors()

    # ------------------------------------------------------------------ score
    def _score_users(self, user_codes: np.ndarray) -> np.ndarray:
        n_items = len(self.item_map_)
        out = np.empty((user_codes.size, n_items), dtype=np.float32)
        pop = self._popularity32
        top = float(pop.max()) if pop.size else 0.0
        # popularity mapped into [-1, -0.5]: strictly below every neighbour-backed score
        tail = (pop / (2.0 * top) - 1.0 if top > 0 else pop - 1.0).astype(np.float32)
        with_vec = self.has_vector_[user_codes]
        out[~with_vec] = pop
        rows = np.flatnonzero(with_vec)
        if rows.size:
            neigh = self._neighbours(user_codes[rows])
            scores = np.asarray((neigh @ self.interactions_).toarray(), dtype=np.float32)
            out[rows] = np.where(scores > 0, scores, tail[None, :])
        return out

    def _neighbours(self, user_codes: np.ndarray) -> sp.csr_matrix:
        """Similarity to the ``n_neighbors`` nearest other customers, ``(n, n_users)`` CSR."""
        candidates = np.flatnonzero(self.has_vector_)
        bank = self.user_vectors_[candidates]
        n_users = len(self.user_map_)
        k = min(int(self.n_neighbors), candidates.size)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
        vals: list[np.ndarray] = []
        for start in range(0, user_codes.size, _QUERY_BATCH):
            codes = user_codes[start : start + _QUERY_BATCH]
            sims = self.user_vectors_[codes] @ bank.T
            sims[candidates[None, :] == codes[:, None]] = -np.inf  # never one's own neighbour
            sims[sims <= self.min_similarity] = -np.inf
            if k == 0:
                continue
            part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            top = np.take_along_axis(sims, part, axis=1)
            ok = np.isfinite(top)
            r = np.broadcast_to(np.arange(codes.size)[:, None] + start, part.shape)
            rows.append(r[ok])
            cols.append(candidates[part[ok]])
            vals.append(top[ok])
        if not rows:
            return sp.csr_matrix((user_codes.size, n_users), dtype=np.float32)
        return sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(user_codes.size, n_users),
            dtype=np.float32,
        )

    # ------------------------------------------------------------------ persistence
    def _save_state(self, directory: Path) -> None:
        self._write_npz(
            directory,
            "vectors.npz",
            {"vectors": self.user_vectors_, "has_vector": self.has_vector_},
        )

    def _load_state(self, artifact: Artifact) -> None:
        arrays = self._read_npz(artifact, "vectors.npz")
        self.user_vectors_ = np.asarray(arrays["vectors"], dtype=np.float32)
        self.has_vector_ = np.asarray(arrays["has_vector"], dtype=bool)
        n = len(self.user_map_)
        if self.user_vectors_.ndim != 2 or self.user_vectors_.shape[0] != n:
            raise ValueError("vectors.npz does not match users.parquet")
        if self.has_vector_.shape != (n,):
            raise ValueError("vectors.npz: has_vector does not match users.parquet")
