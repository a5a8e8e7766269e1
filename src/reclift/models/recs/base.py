"""The interface of the recommendation family and the machinery its implementations share.

Rules (as in scikit-learn): ``__init__`` stores parameters only; :meth:`Recommender.fit`
validates its input and returns ``self``; learned state ends in ``_``. Recommendation is
batch-first: one call scores many users and returns two ``(n_users, k)`` arrays. Ids are
external strings; internally items and users are dense ``int32`` codes whose id maps are
saved with the model. Models are saved through :class:`~reclift.workspace.artifacts.ArtifactStore`
in formats that cannot run code (Parquet, ``.npz`` without pickle, JSON metadata).

Every implementation registers in :data:`reclift.models.recs.registry.RECOMMENDERS` and must
pass ``tests/conformance/test_recs.py``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reclift.errors import ArtifactError, ReclifError, SchemaError
from reclift.models.errors import InvalidParameterError, NotFittedError, UnknownCategoryError
from reclift.models.persist import as_store, load_npz, reclift_version, resolve_artifact, save_npz
from reclift.schema.tables import EVENT_TYPES, TIMESTAMP
from reclift.workspace.artifacts import Artifact, ArtifactStore

FAMILY = "recs"
_STRING_COLUMNS = ("user_id", "session_id", "item_id", "event_type", "category", "brand", "title")
_NOT_NULL = ("item_id", "event_type", "ts")


def _type_name(obj: object) -> str:
    return type(obj).__module__ + "." + type(obj).__qualname__


def _as_string(col: pa.ChunkedArray, table: str, name: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_dictionary(t):
        col = col.cast(t.value_type)
        t = col.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.cast(pa.string())
    if pa.types.is_null(t):
        return col.cast(pa.string())
    raise SchemaError(f"{table}: column {name!r} has type {t}; expected string")


def _first_null(col: pa.ChunkedArray) -> int:
    valid = np.asarray(pc.is_valid(col).to_numpy(zero_copy_only=False), dtype=bool)
    return int(np.flatnonzero(~valid)[0])


def check_table(
    data: object,
    what: str,
    required: Sequence[str],
    *,
    allow_empty: bool = False,
) -> pa.Table:
    """Validate an input table's presence, type, required columns and column types.

    String columns (ids, ``event_type``, ``category``) are cast to ``string``, ``ts`` to
    ``timestamp[us, UTC]``. ``item_id``, ``event_type`` and ``ts`` may not be null; the
    values of ``event_type`` must be canonical.

    Raises
    ------
    SchemaError
        Naming the table (``events``/``items``), the column and the first bad row (0-based).
    """
    if not isinstance(data, pa.Table):
        raise SchemaError(f"{what} must be a pyarrow.Table, got {_type_name(data)}")
    table: pa.Table = data
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise SchemaError(f"{what}: missing column(s) {missing}; it has {table.column_names}")
    if table.num_rows == 0 and not allow_empty:
        raise SchemaError(f"{what} is empty: nothing to fit on")
    for name in table.column_names:
        col = table.column(name)
        if name in _STRING_COLUMNS:
            col = _as_string(col, what, name)
        elif name == "ts":
            if not pa.types.is_timestamp(col.type) or col.type.tz is None:
                raise SchemaError(
                    f"{what}: column 'ts' has type {col.type}; expected a timestamp with a zone"
                )
            col = col.cast(TIMESTAMP)
        else:
            continue
        if name in _NOT_NULL and col.null_count:
            raise SchemaError(f"{what}: column {name!r} is null at row {_first_null(col)}")
        table = table.set_column(table.schema.get_field_index(name), name, col)
    if "event_type" in table.column_names and table.num_rows:
        ok = pc.is_in(table.column("event_type"), value_set=pa.array(EVENT_TYPES))
        okn = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
        if not okn.all():
            row = int(np.flatnonzero(~okn)[0])
            value = table.column("event_type")[row].as_py()
            raise SchemaError(
                f"{what}: column 'event_type', row {row}: {value!r} is not one of "
                f"{list(EVENT_TYPES)}"
            )
    return table


def check_users(users: object) -> list[str]:
    """Validate the ``users`` argument of :meth:`Recommender.recommend`."""
    if isinstance(users, (str, bytes)):
        raise InvalidParameterError(
            "users must be a sequence of user ids, not a single string",
            hint="wrap it in a list: recommend([user], k)",
        )
    if isinstance(users, np.ndarray):
        users = users.tolist()
    if not isinstance(users, Sequence):
        raise InvalidParameterError(
            f"users must be a sequence of string ids, got {_type_name(users)}"
        )
    for i, user in enumerate(users):
        if not isinstance(user, str):
            raise InvalidParameterError(
                f"users[{i}] is {user!r} ({type(user).__name__}); user ids are strings"
            )
    return list(users)


def check_k(k: object) -> int:
    """Validate the ``k`` argument: a positive int (``bool`` is refused)."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
    if k <= 0:
        raise InvalidParameterError(f"k must be a positive integer, got {k}")
    return int(k)


class IdMap:
    """A sorted array of external string ids; the code of an id is its position.

    Parameters
    ----------
    ids
        Unique ids, shape ``(n,)``; sorted here if needed.
    """

    def __init__(self, ids: np.ndarray | Sequence[str]) -> None:
        arr = np.asarray(ids, dtype=object)
        self.ids: np.ndarray = np.sort(arr) if arr.size else arr
        self._lookup = self.ids.astype(str) if self.ids.size else np.array([], dtype=str)

    def __len__(self) -> int:
        return int(self.ids.size)

    @classmethod
    def fit(cls, values: pa.ChunkedArray | pa.Array) -> tuple[IdMap, np.ndarray]:
        """Build a map from (non-null) string values and return it with their ``int32`` codes.

        Arrow's dictionary encoding finds the distinct ids in one pass; only those are
        sorted (UTF-8 byte order equals code-point order, as used by :meth:`encode`).
        """
        arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        encoded = pc.dictionary_encode(arr.cast(pa.string()))
        order = np.asarray(pc.sort_indices(encoded.dictionary).to_numpy(), dtype=np.int64)
        rank = np.empty(order.size, dtype=np.int32)
        rank[order] = np.arange(order.size, dtype=np.int32)
        indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        ids = np.asarray(encoded.dictionary.take(pa.array(order)).to_pylist(), dtype=object)
        return cls(ids), rank[indices]

    def encode(self, values: Sequence[str] | np.ndarray) -> np.ndarray:
        """Codes of ``values``, shape ``(n,)`` ``int32``; unknown ids get ``-1``."""
        vals = np.asarray(values, dtype=str)
        if not len(self) or not vals.size:
            return np.full(vals.shape, -1, dtype=np.int32)
        pos = np.searchsorted(self._lookup, vals)
        pos = np.minimum(pos, len(self) - 1)
        found = self._lookup[pos] == vals
        return np.where(found, pos, -1).astype(np.int32)

    def to_arrow(self, column: str) -> pa.Table:
        """The map as a one-column table (row ``i`` holds the id of code ``i``)."""
        return pa.table({column: pa.array(self.ids.tolist(), type=pa.string())})

    @classmethod
    def from_arrow(cls, table: pa.Table, column: str) -> IdMap:
        """Inverse of :meth:`to_arrow`."""
        return cls(np.asarray(table.column(column).to_pylist(), dtype=object))


class SeenItems:
    """Per-user sets of item codes in CSR form (``indptr`` shape ``(n_users + 1,)``)."""

    def __init__(self, indptr: np.ndarray, indices: np.ndarray) -> None:
        self.indptr = indptr.astype(np.int64)
        self.indices = indices.astype(np.int32)

    @classmethod
    def build(cls, user_codes: np.ndarray, item_codes: np.ndarray, n_users: int) -> SeenItems:
        """From parallel code arrays (duplicates allowed), shape ``(n_events,)`` each."""
        n_items = int(item_codes.max()) + 1 if item_codes.size else 1
        pairs = np.sort(user_codes.astype(np.int64) * n_items + item_codes.astype(np.int64))
        if pairs.size:
            pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])]
        users = (pairs // n_items).astype(np.int64)
        counts = np.bincount(users, minlength=n_users)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr, (pairs % n_items).astype(np.int32))

    def of(self, user_code: int) -> np.ndarray:
        """Item codes seen by one user (sorted)."""
        return self.indices[self.indptr[user_code] : self.indptr[user_code + 1]]


def normalize_category(path: str) -> str:
    """Canonical form of a category path: segments stripped, empty segments dropped."""
    return ">".join(part.strip() for part in path.split(">") if part.strip())


def category_prefixes(path: str) -> list[str]:
    """``"a>b>c"`` -> ``["a", "a>b", "a>b>c"]`` (after normalisation)."""
    parts = normalize_category(path).split(">")
    return [">".join(parts[: i + 1]) for i in range(len(parts)) if parts[0]]


def category_mask(
    item_categories: np.ndarray, categories: frozenset[str], category: str
) -> np.ndarray:
    """Items whose category path is ``category`` or lies below it, shape ``(n_items,)``.

    Raises
    ------
    UnknownCategoryError
        ``category`` is not a path or prefix of a path in ``categories``.
    """
    norm = normalize_category(category)
    if norm not in categories:
        raise UnknownCategoryError(
            category,
            hint="pass the items table with a 'category' column at fit"
            if not categories
            else "use a category path such as 'a>b' from the items table",
        )
    prefix = norm + ">"
    return np.fromiter(
        (c is not None and (c == norm or c.startswith(prefix)) for c in item_categories),
        dtype=bool,
        count=len(item_categories),
    )


def catalog_arrays(
    item_map: IdMap, items: pa.Table | None
) -> tuple[np.ndarray, frozenset[str], np.ndarray]:
    """Per item code: normalised category path (or ``None``) and price (``NaN`` if unknown).

    Returns
    -------
    item_categories : numpy.ndarray
        Shape ``(n_items,)`` object.
    categories : frozenset[str]
        Every category path and prefix in the catalog (including items without events).
    prices : numpy.ndarray
        Shape ``(n_items,)`` float64.
    """
    n = len(item_map)
    item_categories = np.full(n, None, dtype=object)
    prices = np.full(n, np.nan, dtype=np.float64)
    categories: set[str] = set()
    if items is None or not items.num_rows:
        return item_categories, frozenset(categories), prices
    codes = item_map.encode(
        np.asarray(items.column("item_id").to_numpy(zero_copy_only=False), dtype=str)
    )
    keep = codes >= 0
    if "category" in items.column_names:
        # Normalise each distinct path once, then map rows through the dictionary.
        encoded = pc.dictionary_encode(items.column("category").combine_chunks())
        normalized = [normalize_category(p) or None for p in encoded.dictionary.to_pylist()]
        for path in set(normalized):
            if path:
                categories.update(category_prefixes(path))
        lookup = np.array([*normalized, None], dtype=object)
        row_paths = np.asarray(
            encoded.indices.fill_null(len(normalized)).to_numpy(zero_copy_only=False),
            dtype=np.int64,
        )
        item_categories[codes[keep]] = lookup[row_paths[keep]]
    if "price" in items.column_names:
        col = items.column("price")
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise SchemaError(f"items: column 'price' has type {col.type}; expected a number")
        p = np.asarray(col.cast(pa.float64()).fill_null(np.nan).to_numpy(), dtype=np.float64)
        prices[codes[keep]] = p[keep]
    return item_categories, frozenset(categories), prices


def filter_mask(
    filters: RecFilters,
    item_map: IdMap,
    item_categories: np.ndarray,
    categories: frozenset[str],
    prices: np.ndarray | None,
) -> np.ndarray | None:
    """Boolean mask over item codes, shape ``(n_items,)``, or ``None`` when nothing filters.

    An unknown price (``NaN``) never passes a price bound; unknown ids in the allow/deny
    lists are ignored.

    Raises
    ------
    UnknownCategoryError
        The category is not a path or prefix of a path in ``categories``.
    """
    if filters.is_empty:
        return None
    n = len(item_map)
    mask = np.ones(n, dtype=bool)
    if filters.category is not None:
        mask &= category_mask(item_categories, categories, filters.category)
    if filters.min_price is not None or filters.max_price is not None:
        p = prices if prices is not None else np.full(n, np.nan)
        with np.errstate(invalid="ignore"):
            if filters.min_price is not None:
                mask &= p >= filters.min_price
            if filters.max_price is not None:
                mask &= p <= filters.max_price
    if filters.allow_items is not None:
        allowed = np.zeros(n, dtype=bool)
        codes = item_map.encode(list(filters.allow_items))
        allowed[codes[codes >= 0]] = True
        mask &= allowed
    if filters.exclude_items is not None:
        codes = item_map.encode(list(filters.exclude_items))
        mask[codes[codes >= 0]] = False
    return mask


@dataclasses.dataclass(frozen=True)
class RecFilters:
    """Business rules applied to every recommender's output.

    Attributes
    ----------
    category
        Only items in this category path or below.
    min_price, max_price
        Inclusive price range (items without a known price are dropped by either bound).
    allow_items
        Only these item ids (e.g. the items in stock); unknown ids are ignored.
    exclude_items
        Never these item ids (e.g. just bought, out of stock).
    """

    category: str | None = None
    min_price: float | None = None
    max_price: float | None = None
    allow_items: tuple[str, ...] | None = None
    exclude_items: tuple[str, ...] | None = None

    @property
    def is_empty(self) -> bool:
        """Whether no rule is set."""
        return all(getattr(self, f.name) is None for f in dataclasses.fields(self))

    @classmethod
    def coerce(cls, value: object) -> RecFilters:
        """Validate ``value`` (``None``, a :class:`RecFilters` or a mapping of its fields).

        Raises
        ------
        InvalidParameterError
            Unknown field, wrong type, non-finite or negative price, ``min_price > max_price``.
        """
        if value is None:
            return cls()
        if isinstance(value, RecFilters):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(cls)}
        elif isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(map(str, value)) - known)
            if unknown:
                raise InvalidParameterError(
                    f"filters: unknown field(s) {unknown}; expected some of {sorted(known)}"
                )
            fields = dict(value)
        else:
            raise InvalidParameterError(
                f"filters must be a RecFilters or a mapping, got {_type_name(value)}"
            )
        cat = fields.get("category")
        if cat is not None and not isinstance(cat, str):
            raise InvalidParameterError(f"filters.category must be a string, got {cat!r}")
        for name in ("min_price", "max_price"):
            v = fields.get(name)
            if v is None:
                continue
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float, np.integer, np.floating))
                or not math.isfinite(float(v))
                or v < 0
            ):
                raise InvalidParameterError(
                    f"filters.{name} must be a finite number >= 0, got {v!r}"
                )
            fields[name] = float(v)
        lo, hi = fields.get("min_price"), fields.get("max_price")
        if lo is not None and hi is not None and lo > hi:
            raise InvalidParameterError(f"filters: min_price {lo} is above max_price {hi}")
        for name in ("allow_items", "exclude_items"):
            v = fields.get(name)
            if v is None:
                continue
            if isinstance(v, (str, bytes)) or not isinstance(v, (Sequence, np.ndarray, set)):
                raise InvalidParameterError(
                    f"filters.{name} must be a sequence of item ids, got {v!r}"
                )
            items = list(v)
            for i, item in enumerate(items):
                if not isinstance(item, str):
                    raise InvalidParameterError(
                        f"filters.{name}[{i}] is {item!r}; item ids are strings"
                    )
            fields[name] = tuple(items)
        return cls(**fields)


class Recommender(ABC):
    """Abstract base of every recommender (implicit feedback, batch-first).

    Subclasses set :attr:`name`, implement :meth:`_fit`, :meth:`_recommend`, :meth:`_save`
    and :meth:`_load`, and take only keyword parameters in ``__init__`` stored under the
    same attribute names (so :meth:`get_params` and :meth:`load` can rebuild them).
    """

    name: ClassVar[str]
    """Registry key and default artifact name, e.g. ``"popular"``."""
    required_columns: ClassVar[tuple[str, ...]] = ("item_id",)
    """Columns ``events`` must have; others of the canonical schema are optional."""

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters and their current values (JSON-serialisable)."""
        sig = inspect.signature(type(self).__init__)
        return {
            p: _jsonable(getattr(self, p))
            for p in sig.parameters
            if p != "self" and sig.parameters[p].kind is inspect.Parameter.KEYWORD_ONLY
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ fitting
    def fit(self, events: pa.Table, items: pa.Table | None = None) -> Self:
        """Learn from interaction events (and optionally the item catalog).

        Parameters
        ----------
        events
            Canonical ``events`` table, shape ``(n_events, ...)``; at least
            :attr:`required_columns`. ``user_id`` may be null (anonymous sessions).
        items
            Optional canonical ``items`` table (``item_id`` and ``category`` used).

        Returns
        -------
        Self
            The fitted model.

        Raises
        ------
        SchemaError
            Empty events, missing or mistyped columns, nulls in ids, unknown event types.
        InvalidParameterError
            A constructor parameter is invalid.
        """
        self._check_params()
        events = check_table(events, "events", self.required_columns)
        if items is not None:
            items = check_table(items, "items", ("item_id",), allow_empty=True)
            dup = pc.count_distinct(items.column("item_id")).as_py()
            if dup != items.num_rows:
                raise SchemaError("items: column 'item_id' has duplicate ids")
        self._fit(events, items)
        return self

    def _check_params(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Validate constructor parameters (override; called at the start of :meth:`fit`)."""

    @abstractmethod
    def _fit(self, events: pa.Table, items: pa.Table | None) -> None:
        """Learn from validated tables; set attributes ending in ``_``."""

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` or :meth:`load` has run."""
        return hasattr(self, "item_map_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load()")

    # ------------------------------------------------------------------ recommending
    def recommend(
        self,
        users: Sequence[str],
        k: int,
        *,
        exclude_seen: bool = False,
        category: str | None = None,
        filters: RecFilters | Mapping[str, Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items for each user, best first.

        Parameters
        ----------
        users
            External user ids, length ``n_users``. Users unknown to the model get the
            model's fallback (for most models: overall popularity), never an error.
        k
            Number of items per user (> 0).
        exclude_seen
            Drop items the user interacted with in the training events.
        category
            Only items in this category path or below (``"a>b"`` matches ``"a>b>c"``).
        filters
            Business rules (:class:`RecFilters` or a mapping of its fields): category, price
            range, allow-list (e.g. the items in stock) and deny-list. ``category`` above is
            a shortcut for ``filters.category``; giving two different ones is an error.

        Returns
        -------
        ids : numpy.ndarray
            Shape ``(n_users, k)``, dtype ``object`` holding ``str`` ids; rows with fewer
            than ``k`` candidates are padded with ``None``.
        scores : numpy.ndarray
            Shape ``(n_users, k)``, ``float32``, non-increasing along each row; padding is
            ``NaN``. Ties are ordered by item id ascending.

        Raises
        ------
        NotFittedError, InvalidParameterError, UnknownCategoryError
        """
        self._check_fitted()
        user_list = check_users(users)
        k = check_k(k)
        if category is not None and not isinstance(category, str):
            raise InvalidParameterError(f"category must be a string, got {category!r}")
        checked = RecFilters.coerce(filters)
        if category is not None:
            if checked.category is not None and checked.category != category:
                raise InvalidParameterError(
                    f"category {category!r} and filters.category {checked.category!r} disagree"
                )
            checked = dataclasses.replace(checked, category=category)
        return self._recommend(
            user_list,
            k,
            exclude_seen=bool(exclude_seen),
            category=checked.category,
            filters=checked,
        )

    @abstractmethod
    def _recommend(
        self,
        users: list[str],
        k: int,
        *,
        exclude_seen: bool,
        category: str | None,
        filters: RecFilters,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Validated-arguments version of :meth:`recommend` (``filters.category == category``)."""

    def item_mask(self, filters: RecFilters) -> np.ndarray | None:
        """Boolean mask over item codes, shape ``(n_items,)``, or ``None`` when nothing filters.

        Uses the catalog arrays every implementation sets at fit: ``item_categories_``
        (normalised path per code or ``None``), ``categories_`` (known paths and prefixes)
        and ``item_prices_`` (``float64``, ``NaN`` = unknown price; an unknown price never
        passes a price filter).

        Raises
        ------
        UnknownCategoryError
            The category is not a path or prefix of a path in the catalog.
        """
        self._check_fitted()
        return filter_mask(
            filters,
            self.item_map_,  # type: ignore[attr-defined]
            self.item_categories_,  # type: ignore[attr-defined]
            self.categories_,  # type: ignore[attr-defined]
            getattr(self, "item_prices_", None),
        )

    # ------------------------------------------------------------------ persistence
    def save(
        self,
        target: ArtifactStore | str | os.PathLike[str],
        name: str | None = None,
        *,
        meta: Mapping[str, Any] | None = None,
    ) -> Artifact:
        """Publish the fitted model as a new artifact version.

        Parameters
        ----------
        target
            An artifact store, or a directory used as one.
        name
            Artifact name; defaults to :attr:`name`.
        meta
            Extra JSON metadata (e.g. the input column mapping of the file mode).

        Returns
        -------
        Artifact
            The published version.
        """
        self._check_fitted()
        store = as_store(target)
        full_meta: dict[str, Any] = {
            "family": FAMILY,
            "model": self.name,
            "params": self.get_params(),
            "reclift_version": reclift_version(),
        }
        full_meta.update(meta or {})
        with store.publish(name or self.name, full_meta) as tmp:
            self._save(Path(tmp))
        return store.load(name or self.name)

    @classmethod
    def load(
        cls,
        source: Artifact | ArtifactStore | str | os.PathLike[str],
        name: str | None = None,
    ) -> Self:
        """Rebuild a fitted model from an artifact (checksums verified).

        Parameters
        ----------
        source
            An artifact, a store (or its directory) or a version directory.
        name
            Artifact name in a store; defaults to the only one, else :attr:`name`.
        """
        if name is None and isinstance(source, ArtifactStore | str | os.PathLike):
            try:
                artifact = resolve_artifact(source)
            except ArtifactError:
                artifact = resolve_artifact(source, cls.name)
        else:
            artifact = resolve_artifact(source, name)
        meta = artifact.meta
        if meta.get("family") != FAMILY or meta.get("model") != cls.name:
            raise ArtifactError(
                f"artifact {artifact.path} holds {meta.get('family')}/{meta.get('model')}, "
                f"not {FAMILY}/{cls.name}"
            )
        params = meta.get("params", {})
        try:
            model = cls(**params)
        except TypeError as exc:
            raise ArtifactError(f"artifact {artifact.path}: bad parameters: {exc}") from None
        try:
            model._load(artifact)
        except (pa.ArrowException, KeyError, ValueError, OSError) as exc:
            raise ArtifactError(f"artifact {artifact.path} is damaged: {exc}") from None
        return model

    @abstractmethod
    def _save(self, directory: Path) -> None:
        """Write the learned state into ``directory`` (safe formats only)."""

    @abstractmethod
    def _load(self, artifact: Artifact) -> None:
        """Restore the learned state written by :meth:`_save`."""

    # helpers for subclasses --------------------------------------------------------
    @staticmethod
    def _write_parquet(directory: Path, filename: str, table: pa.Table) -> None:
        pq.write_table(table, directory / filename)

    @staticmethod
    def _read_parquet(artifact: Artifact, filename: str) -> pa.Table:
        return pq.read_table(artifact.file(filename))

    @staticmethod
    def _write_npz(directory: Path, filename: str, arrays: Mapping[str, np.ndarray]) -> None:
        save_npz(directory / filename, arrays)

    @staticmethod
    def _read_npz(artifact: Artifact, filename: str) -> dict[str, np.ndarray]:
        return load_npz(artifact.file(filename))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        raise ReclifError(f"parameter value {value!r} cannot be saved")
    return value
