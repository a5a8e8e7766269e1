"""Popularity recommender: weighted, optionally time-decayed event counts per item.

The score of an item is the sum over its events of ``event_weights[event_type]`` times
``0.5 ** (age / half_life)`` where ``age`` is measured from the newest event of the
training data (so a refit on the same data gives the same scores). Every user gets the same
list, minus their own items with ``exclude_seen``; a ``category`` restricts it to items of
that category path or below, taken from the ``items`` table given to :meth:`fit`.

Unknown users get the overall list. An unknown category (not a path or prefix of a path in
the catalog) raises :class:`~reclift.models.errors.UnknownCategoryError`; the service turns it
into the overall list with a ``fallback`` note. A known category whose items have no events
yields an all-padding row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.errors import SchemaError
from reclift.models.errors import InvalidParameterError, UnknownCategoryError
from reclift.models.recs.base import (
    IdMap,
    RecFilters,
    Recommender,
    SeenItems,
    catalog_arrays,
    category_prefixes,
    normalize_category,
)
from reclift.schema.tables import EVENT_TYPES
from reclift.workspace.artifacts import Artifact

DEFAULT_EVENT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"view": 1.0, "click": 2.0, "cart": 4.0, "order": 8.0}
)
_MICROS_PER_DAY = 86_400 * 1_000_000

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "PopularRecommender",
    "category_prefixes",
    "event_weights_array",
    "normalize_category",
]


def event_weights_array(
    events: pa.Table,
    event_weights: Mapping[str, float] | None,
    half_life_days: float | None,
) -> np.ndarray:
    """Weight of every event, shape ``(n_events,)`` float64.

    ``event_weights[event_type]`` (default :data:`DEFAULT_EVENT_WEIGHTS`; 1 without an
    ``event_type`` column), or the ``rating`` column when the events have one (explicit
    feedback in file mode), times ``0.5 ** (age / half_life_days)`` with the age measured
    from the newest event.
    """
    n = events.num_rows
    if "rating" in events.column_names:
        col = events.column("rating")
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise SchemaError(f"events: column 'rating' has type {col.type}; expected a number")
        if col.null_count:
            valid = np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)
            raise SchemaError(
                f"events: column 'rating' is null at row {int(np.flatnonzero(~valid)[0])}"
            )
        w = np.asarray(col.cast(pa.float64()).to_numpy(), dtype=np.float64)
    elif "event_type" in events.column_names:
        table = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
        types = pa.array(list(EVENT_TYPES))
        lookup = np.array([float(table.get(t, 0.0)) for t in EVENT_TYPES])
        idx = pc.index_in(events.column("event_type"), value_set=types)
        w = lookup[np.asarray(idx.to_numpy(zero_copy_only=False), dtype=np.int64)]
    else:
        w = np.ones(n, dtype=np.float64)
    if half_life_days is not None:
        if "ts" not in events.column_names:
            raise SchemaError("events: column 'ts' is needed when half_life_days is set")
        ts = events.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
        age_days = (ts.max() - ts).astype(np.float64) / _MICROS_PER_DAY
        w = w * np.exp2(-age_days / float(half_life_days))
    return w


def check_weight_params(
    event_weights: Mapping[str, float] | None, half_life_days: float | None
) -> None:
    """Validate the ``event_weights`` and ``half_life_days`` parameters shared by recommenders."""
    if event_weights is not None:
        if not isinstance(event_weights, Mapping):
            raise InvalidParameterError("event_weights must be a mapping event_type -> weight")
        for key, value in event_weights.items():
            if key not in EVENT_TYPES:
                raise InvalidParameterError(
                    f"event_weights: unknown event type {key!r}; expected {list(EVENT_TYPES)}"
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                raise InvalidParameterError(
                    f"event_weights[{key!r}] must be a finite number >= 0, got {value!r}"
                )
    if half_life_days is not None and (
        isinstance(half_life_days, bool)
        or not isinstance(half_life_days, (int, float))
        or not math.isfinite(half_life_days)
        or half_life_days <= 0
    ):
        raise InvalidParameterError(
            f"half_life_days must be a positive number, got {half_life_days!r}"
        )


class PopularRecommender(Recommender):
    """Most popular items overall and per category.

    Parameters
    ----------
    event_weights
        Weight of each event type; types left out weigh 0. Defaults to
        :data:`DEFAULT_EVENT_WEIGHTS` (view 1, click 2, cart 4, order 8). Without an
        ``event_type`` column every event weighs 1.
    half_life_days
        If set, an event ``d`` days older than the newest event counts ``0.5 ** (d / h)``;
        needs a ``ts`` column.

    Attributes
    ----------
    item_map_ : IdMap
        Item ids seen in the events (code = position).
    scores_ : numpy.ndarray
        Shape ``(n_items,)`` float64, the popularity of each item code.
    ranking_ : numpy.ndarray
        Shape ``(n_ranked,)`` int32, codes with a positive score, best first.
    item_categories_ : numpy.ndarray
        Shape ``(n_items,)`` object, normalised category path per item code (or ``None``).
    categories_ : frozenset[str]
        Every category path and prefix in the catalog (items table).
    user_map_ : IdMap
        Users seen in the events.
    seen_ : SeenItems
        Item codes per user code.
    """

    name: ClassVar[str] = "popular"
    required_columns: ClassVar[tuple[str, ...]] = ("item_id",)

    def __init__(
        self,
        *,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
    ) -> None:
        self.event_weights = event_weights
        self.half_life_days = half_life_days

    def _check_params(self) -> None:
        check_weight_params(self.event_weights, self.half_life_days)

    # ------------------------------------------------------------------ fit
    def _weights(self, events: pa.Table) -> np.ndarray:
        return event_weights_array(events, self.event_weights, self.half_life_days)

    def _fit(self, events: pa.Table, items: pa.Table | None) -> None:
        self.item_map_, codes = IdMap.fit(events.column("item_id"))
        n_items = len(self.item_map_)
        self.scores_ = np.bincount(codes, weights=self._weights(events), minlength=n_items)

        if "user_id" in events.column_names:
            users = events.column("user_id")
            valid = np.asarray(pc.is_valid(users).to_numpy(zero_copy_only=False), dtype=bool)
            self.user_map_, user_codes = IdMap.fit(users.filter(pa.array(valid)))
            self.seen_ = SeenItems.build(user_codes, codes[valid], len(self.user_map_))
        else:
            self.user_map_ = IdMap([])
            self.seen_ = SeenItems(np.zeros(1, np.int64), np.zeros(0, np.int32))

        self.item_categories_, self.categories_, self.item_prices_ = catalog_arrays(
            self.item_map_, items
        )
        self._index()

    def _index(self) -> None:
        # Rank on the float32 scores that are returned, so the output order is always
        # (score desc, id asc) as seen by the caller; codes follow id order.
        s32 = self.scores_.astype(np.float32)
        self._scores32 = s32
        codes = np.arange(s32.size, dtype=np.int32)
        order = np.lexsort((codes, -s32))
        self.ranking_ = order[s32[order] > 0].astype(np.int32)
        # Per category prefix, the ranked codes whose path lies under it, in ranking order:
        # group ranking positions by path, then merge the positions of each prefix's paths.
        encoded = pc.dictionary_encode(pa.array(self.item_categories_.tolist(), pa.string()))
        paths: list[str] = encoded.dictionary.to_pylist()
        path_code = np.asarray(
            encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64
        )[self.ranking_]
        by_path = np.argsort(path_code, kind="stable")
        bounds = np.searchsorted(path_code[by_path], np.arange(len(paths) + 1))
        under: dict[str, list[int]] = {}
        for code, path in enumerate(paths):
            for prefix in category_prefixes(path):
                under.setdefault(prefix, []).append(code)
        self._category_ranking: dict[str, np.ndarray] = {}
        for prefix, codes_under in under.items():
            parts = [by_path[bounds[c] : bounds[c + 1]] for c in codes_under]
            positions = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
            self._category_ranking[prefix] = self.ranking_[positions]

    # ------------------------------------------------------------------ recommend
    def _ranking_for(self, category: str | None) -> np.ndarray:
        if category is None:
            return self.ranking_
        norm = normalize_category(category)
        if norm not in self.categories_:
            raise UnknownCategoryError(
                category,
                hint="pass the items table with a 'category' column at fit"
                if not self.categories_
                else "use a category path such as 'a>b' from the items table",
            )
        return self._category_ranking.get(norm, np.zeros(0, dtype=np.int32))

    def top(self, k: int, *, category: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The top-``k`` list shared by every user without ``exclude_seen``.

        Returns
        -------
        ids : numpy.ndarray
            Shape ``(m,)`` object (``m <= k``, no padding).
        scores : numpy.ndarray
            Shape ``(m,)`` float32.
        """
        ids, scores = self.recommend([""], k, category=category)
        m = int(np.count_nonzero(~np.isnan(scores[0])))
        return ids[0, :m], scores[0, :m]

    def _recommend(
        self,
        users: list[str],
        k: int,
        *,
        exclude_seen: bool,
        category: str | None,
        filters: RecFilters,
    ) -> tuple[np.ndarray, np.ndarray]:
        ranking = self._ranking_for(category)
        mask = self.item_mask(filters)
        if mask is not None:
            ranking = ranking[mask[ranking]]
        n = len(users)
        ids = np.full((n, k), None, dtype=object)
        scores = np.full((n, k), np.nan, dtype=np.float32)
        item_ids = self.item_map_.ids
        s32 = self._scores32
        top = ranking[:k]
        ids[:, : top.size] = item_ids[top]
        scores[:, : top.size] = s32[top]
        if exclude_seen and n:
            for row, code in enumerate(self.user_map_.encode(users).tolist()):
                if code < 0:
                    continue
                seen = self.seen_.of(code)
                if not seen.size:
                    continue
                cand = ranking[: k + seen.size]
                keep = cand[~np.isin(cand, seen)][:k]
                ids[row, :] = None
                scores[row, :] = np.nan
                ids[row, : keep.size] = item_ids[keep]
                scores[row, : keep.size] = s32[keep]
        return ids, scores

    # ------------------------------------------------------------------ persistence
    def _save(self, directory: Path) -> None:
        self._write_parquet(
            directory,
            "items.parquet",
            pa.table(
                {
                    "item_id": pa.array(self.item_map_.ids.tolist(), type=pa.string()),
                    "score": pa.array(self.scores_, type=pa.float64()),
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
        self._write_npz(
            directory, "seen.npz", {"indptr": self.seen_.indptr, "indices": self.seen_.indices}
        )

    def _load(self, artifact: Artifact) -> None:
        items = self._read_parquet(artifact, "items.parquet")
        self.item_map_ = IdMap.from_arrow(items, "item_id")
        if not np.array_equal(
            self.item_map_.ids, np.asarray(items.column("item_id").to_pylist(), dtype=object)
        ):
            raise ValueError("items.parquet is not sorted by item_id")
        self.scores_ = np.asarray(items.column("score").to_numpy(), dtype=np.float64)
        self.item_categories_ = np.asarray(items.column("category").to_pylist(), dtype=object)
        # artifacts written before prices were kept have no price column
        self.item_prices_ = (
            np.asarray(items.column("price").to_numpy(), dtype=np.float64)
            if "price" in items.column_names
            else np.full(len(self.item_map_), np.nan)
        )
        cats = self._read_parquet(artifact, "categories.parquet")
        self.categories_ = frozenset(cats.column("category").to_pylist())
        self.user_map_ = IdMap.from_arrow(self._read_parquet(artifact, "users.parquet"), "user_id")
        seen = self._read_npz(artifact, "seen.npz")
        self.seen_ = SeenItems(seen["indptr"], seen["indices"])
        if self.seen_.indptr.size != len(self.user_map_) + 1:
            raise ValueError("seen.npz does not match users.parquet")
        self._index()
