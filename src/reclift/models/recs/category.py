"""Category recommendations: a user's time-decayed affinity per category -> best items there.

The affinity of user ``u`` for category ``c`` is the share of the user's (decayed, weighted)
interactions that fall on items of ``c``; the quality of item ``i`` is its popularity over
the most popular item of its category. The score is ``share_u(c_i) * quality_i`` plus a tiny
multiple of overall popularity, which only orders items of categories the user never touched.
Categories are cut to their first ``level`` segments (``None`` = full path). Without a ``ts``
column the decay is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from reclift.models.errors import InvalidParameterError
from reclift.models.recs.base import RecFilters
from reclift.models.recs.scored import ScoredRecommender
from reclift.workspace.artifacts import Artifact

_POPULARITY_TIEBREAK = 1e-3


class CategoryRecommender(ScoredRecommender):
    """Best items in each user's favourite categories.

    Parameters
    ----------
    level
        Category depth used for affinity (``1`` = top level; ``None`` = full path).
    half_life_days
        Half-life of the affinity decay (skipped when the events have no ``ts``).
    event_weights
        Weights of the event types.

    Attributes
    ----------
    item_group_ : numpy.ndarray
        Shape ``(n_items,)`` int64, category group per item (``-1`` = none).
    groups_ : list[str]
        Category path of each group.
    quality_ : numpy.ndarray
        Shape ``(n_items,)`` float32 in [0, 1].
    """

    name: ClassVar[str] = "category"

    def __init__(
        self,
        *,
        level: int | None = None,
        half_life_days: float | None = 30.0,
        event_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.level = level
        self.half_life_days = half_life_days
        self.event_weights = event_weights

    def _check_own_params(self) -> None:
        if self.level is not None and (
            isinstance(self.level, bool) or not isinstance(self.level, int) or self.level < 1
        ):
            raise InvalidParameterError(f"level must be a positive integer, got {self.level!r}")

    def _fit(self, events: pa.Table, items: pa.Table | None) -> None:
        if "ts" not in events.column_names and self.half_life_days is not None:
            # Decay needs times; without them every event counts fully (documented).
            saved, self.half_life_days = self.half_life_days, None
            try:
                super()._fit(events, items)
            finally:
                self.half_life_days = saved
            return
        super()._fit(events, items)

    def _group(self, path: object) -> str | None:
        if not isinstance(path, str) or not path:
            return None
        return ">".join(path.split(">")[: self.level]) if self.level else path

    def _fit_matrix(self, matrix: sp.csr_matrix, events: pa.Table, items: pa.Table | None) -> None:
        paths = [self._group(p) for p in self.item_categories_]
        self.groups_ = sorted({p for p in paths if p is not None})
        lookup = {g: n for n, g in enumerate(self.groups_)}
        self.item_group_ = np.array(
            [lookup[p] if p is not None else -1 for p in paths], dtype=np.int64
        )
        pop = self.popularity_
        best = np.zeros(len(self.groups_) + 1)
        np.maximum.at(best, self.item_group_, pop)  # index -1 lands in the spare slot
        denom = best[self.item_group_]
        with np.errstate(invalid="ignore", divide="ignore"):
            quality = np.where(denom > 0, pop / denom, 0.0)
        self.quality_ = np.where(self.item_group_ >= 0, quality, 0.0).astype(np.float32)

    def _build(self) -> None:
        n_items = len(self.item_map_)
        ok = self.item_group_ >= 0
        onehot = sp.csr_matrix(
            (np.ones(int(ok.sum()), np.float32), (np.flatnonzero(ok), self.item_group_[ok])),
            shape=(n_items, max(len(self.groups_), 1)),
        )
        # weights 0 are kept: an interaction on a zero-weight type shows interest but adds none
        totals = np.asarray(self.interactions_.sum(axis=1)).ravel()
        self._affinity = sp.csr_matrix(self.interactions_ @ onehot, dtype=np.float32)
        self._totals = totals.astype(np.float32)
        top = float(self.popularity_.max()) if self.popularity_.size else 0.0
        self._tiebreak = (
            (self.popularity_ / top * _POPULARITY_TIEBREAK).astype(np.float32)
            if top > 0
            else np.zeros(n_items, np.float32)
        )

    def _score_users(self, user_codes: np.ndarray) -> np.ndarray:
        aff = np.asarray(self._affinity[user_codes].toarray(), dtype=np.float32)
        tot = self._totals[user_codes][:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(tot > 0, aff / tot, 0.0).astype(np.float32)
        share = np.concatenate([share, np.zeros((share.shape[0], 1), np.float32)], axis=1)
        per_item = share[:, self.item_group_]  # group -1 reads the zero column
        return (per_item * self.quality_[None, :] + self._tiebreak[None, :]).astype(np.float32)

    def _similar_scores(self, item_codes: np.ndarray) -> np.ndarray:
        same = self.item_group_[item_codes][:, None] == self.item_group_[None, :]
        same &= self.item_group_[item_codes][:, None] >= 0
        return np.where(same, self.quality_[None, :] + self._tiebreak[None, :], 0.0).astype(
            np.float32
        )

    def top_in_category(
        self, category: str, k: int, *, filters: RecFilters | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best items of ``category`` for a visitor without history, shape ``(k,)`` each."""
        f = RecFilters.coerce(filters)
        ids, scores = self.recommend([""], k, category=category, filters=f)
        return ids[0], scores[0]

    def _save_state(self, directory: Path) -> None:
        self._write_npz(
            directory,
            "category.npz",
            {"item_group": self.item_group_, "quality": self.quality_},
        )
        self._write_parquet(
            directory, "groups.parquet", pa.table({"group": pa.array(self.groups_, pa.string())})
        )

    def _load_state(self, artifact: Artifact) -> None:
        arrays = self._read_npz(artifact, "category.npz")
        self.item_group_, self.quality_ = arrays["item_group"], arrays["quality"]
        groups = self._read_parquet(artifact, "groups.parquet")
        self.groups_ = [str(g) for g in groups.column("group").to_pylist()]

    def _index(self) -> None:
        super()._index()
        if hasattr(self, "item_group_"):
            self._build()
