"""Two-stage session recommender: co-visitation candidates, one LightGBM ranker per target.

Training is leakage-free by construction (:func:`training_split`): the log is cut at a time
``cutoff``; co-visitation matrices and popularity for the training features come only from
events before it; the sessions that start after it are truncated at a random point (OTTO's
protocol) and what follows the cut becomes the labels. The final model then rebuilds the
matrices on the whole log (more data, same features) for prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reclift.errors import ArtifactError, SchemaError, require
from reclift.models.errors import InvalidParameterError
from reclift.models.sessions.features import (
    CovisitIndex,
    EventFiles,
    count_before,
    events_of_sessions,
    feature_matrix,
    ranked_candidates,
    rules_score,
    session_starts,
)
from reclift.models.sessions.labels import Labels, capped_recall, truncate_sessions
from reclift.models.sessions.online import OnlineCandidates
from reclift.models.sessions.rules import (
    _ONLINE_LOCK,
    CovisitationRecommender,
    _check_positive_int,
)
from reclift.pipelines.candidates import FEATURES
from reclift.pipelines.covisitation import MATRICES
from reclift.schema.tables import EVENT_TYPES, TIMESTAMP
from reclift.workspace.artifacts import Artifact

CATALOG_FILE = "catalog.parquet"
#: Levels of the category path ``department>subcategory>leaf`` (and the brand) whose share
#: in the session is a feature: shoppers browse within a category and come back to it.
CATALOG_LEVELS: tuple[str, ...] = ("leaf", "sub", "dept", "brand")
#: Features from the item catalogue (only when the ranker is fitted with ``items``).
CATALOG_FEATURES: tuple[str, ...] = (
    *(f"c_{lvl}_{stat}" for lvl in CATALOG_LEVELS for stat in ("share", "wshare", "same_last")),
    "c_rel_price",
    "c_price_gap",
)
#: Recency half-life in events of the ``wshare`` features (the candidate pipeline's default).
_HALF_LIFE = 5.0
#: Features the ranker derives from a session's candidate rows alone (:func:`session_features`).
SESSION_FEATURES: tuple[str, ...] = (
    "r_cart_click",
    "r_order_cart",
    "r_order_click",
    *(f"cv_{kind}_{stat}" for kind in MATRICES for stat in ("rank", "rel")),
    "h_score_rank",
)
#: Rank given to a candidate without any weight from a source (after every ranked one).
UNRANKED = 999.0


def item_catalog(items: pa.Table) -> pa.Table:
    """The catalogue attributes the ranker uses, from an ``items`` table.

    Parameters
    ----------
    items
        ``item_id`` and ``category`` (a path ``department>subcategory>leaf``, any depth),
        optionally ``brand`` and ``price``, shape ``(n_items, n_columns)``. Nulls are
        allowed (the feature is then missing).

    Returns
    -------
    pa.Table
        ``item_id``, ``leaf`` (the full path), ``sub`` (its first two levels), ``dept`` (its
        first level), ``brand`` (strings) and ``rel_price`` (``log(price)`` minus the median
        over the leaf, ``NaN`` when unknown), shape ``(n_distinct_items, 6)``, by ``item_id``.

    Raises
    ------
    SchemaError
        A missing ``item_id`` or ``category`` column, or a null ``item_id``.
    """
    if not isinstance(items, pa.Table):
        raise SchemaError(f"items must be a pyarrow Table, got {type(items).__name__}")
    for name in ("item_id", "category"):
        if name not in items.column_names:
            raise SchemaError(f"items: missing column {name!r}; it has {items.column_names}")
    if items.column("item_id").null_count:
        raise SchemaError("items: column 'item_id' has nulls")
    n = items.num_rows
    frame = pd.DataFrame(
        {
            "item_id": items.column("item_id").cast(pa.string()).to_pylist(),
            "leaf": items.column("category").cast(pa.string()).to_pylist(),
            "brand": (
                items.column("brand").cast(pa.string()).to_pylist()
                if "brand" in items.column_names
                else [None] * n
            ),
            "price": (
                items.column("price").cast(pa.float64()).to_numpy(zero_copy_only=False)
                if "price" in items.column_names
                else np.full(n, np.nan)
            ),
        }
    )
    frame = frame.drop_duplicates("item_id").sort_values("item_id", kind="stable")
    parts = frame["leaf"].str.split(">")
    frame["sub"] = parts.str[:2].str.join(">")
    frame["dept"] = parts.str[0]
    price = frame["price"].to_numpy(dtype=np.float64)
    log_price = np.log(np.where(price > 0, price, np.nan))
    frame["lp"] = log_price
    median = frame.groupby("leaf", dropna=False)["lp"].transform("median").to_numpy()
    rel = log_price - median
    return pa.table(
        {
            "item_id": pa.array(frame["item_id"].tolist(), pa.string()),
            **{
                lvl: pa.array(
                    [v if isinstance(v, str) else None for v in frame[lvl].tolist()], pa.string()
                )
                for lvl in CATALOG_LEVELS
            },
            "rel_price": pa.array(rel, pa.float64(), from_pandas=True),
        }
    )


def catalog_features(candidates: pa.Table, history: pa.Table, catalog: pa.Table) -> pa.Table:
    """``candidates`` with the :data:`CATALOG_FEATURES` appended.

    Every feature is a function of the session's own events in ``history`` and of the static
    catalogue: nothing after a session's last event can reach it.

    Parameters
    ----------
    candidates
        Candidate rows with ``session_id`` and ``item_id``, shape ``(n, n_columns)``.
    history
        The events the candidates were built from (``session_id``, ``item_id``,
        ``event_type``, ``ts``), shape ``(n_events, 4+)``.
    catalog
        :func:`item_catalog` output, shape ``(n_items, 6)``.

    Returns
    -------
    pa.Table
        ``candidates`` plus :data:`CATALOG_FEATURES` (float64, ``NaN`` where the price is
        unknown), shape ``(n, n_columns + 14)``, rows unchanged. ``c_<level>_share`` is
        the share of the session's events on items of the candidate's category (or brand),
        ``c_<level>_wshare`` the same count weighted by recency as the pipeline's
        ``h_recency`` (the ``i``-th event from the end weighs ``0.5 ** (i / 5)``),
        ``c_<level>_same_last`` whether the session's last event is in it;
        ``c_rel_price`` is the candidate's ``rel_price`` and ``c_price_gap`` that minus the
        session's mean.
    """
    n = candidates.num_rows
    cand = pd.DataFrame(
        {
            "session_id": candidates.column("session_id").cast(pa.string()).to_pylist(),
            "item_id": candidates.column("item_id").cast(pa.string()).to_pylist(),
        }
    )
    codes = {t: i for i, t in enumerate(EVENT_TYPES)}
    hist = pd.DataFrame(
        {
            "session_id": history.column("session_id").cast(pa.string()).to_pylist(),
            "item_id": history.column("item_id").cast(pa.string()).to_pylist(),
            "code": [codes.get(t, len(codes)) for t in history.column("event_type").to_pylist()],
            "ts": history.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False),
        }
    )
    # The candidate pipeline's total order of a session's events: time, then funnel step,
    # then item id (so "last" is the same event in the batch and the online path).
    hist = hist.sort_values(["session_id", "ts", "code", "item_id"], kind="stable")
    hist = hist.reset_index(drop=True)
    size = hist.groupby("session_id", sort=False)["code"].transform("size").to_numpy()
    rev = size - hist.groupby("session_id", sort=False).cumcount().to_numpy()
    hist["w"] = 0.5 ** (rev / _HALF_LIFE)
    out: dict[str, np.ndarray] = {}
    attrs = catalog.to_pandas().set_index("item_id")
    h_attr = hist[["session_id", "item_id", "w"]].join(attrs, on="item_id")
    c_attr = cand.join(attrs, on="item_id")
    n_events = hist.groupby("session_id", sort=False)["w"].size()
    last_attr = h_attr.groupby("session_id", sort=False).tail(1).set_index("session_id")
    for lvl in CATALOG_LEVELS:
        grouped = h_attr.groupby(["session_id", lvl], sort=False)["w"]
        stats = pd.DataFrame({"_k": grouped.size(), "_wk": grouped.sum()})
        m = c_attr[["session_id", lvl]].join(stats, on=["session_id", lvl])
        total = m["session_id"].map(n_events).to_numpy(dtype=np.float64)
        k = m["_k"].fillna(0.0).to_numpy(dtype=np.float64)
        out[f"c_{lvl}_share"] = np.where(total > 0, k / np.maximum(total, 1.0), 0.0)
        out[f"c_{lvl}_wshare"] = m["_wk"].fillna(0.0).to_numpy(dtype=np.float64)
        mine = c_attr[lvl].to_numpy(dtype=object)
        theirs = c_attr["session_id"].map(last_attr[lvl]).to_numpy(dtype=object)
        same = [isinstance(a, str) and a == b for a, b in zip(mine, theirs, strict=True)]
        out[f"c_{lvl}_same_last"] = np.asarray(same, dtype=np.float64)
    rel = c_attr["rel_price"].to_numpy(dtype=np.float64, na_value=np.nan)
    mean_rel = h_attr.groupby("session_id", sort=False)["rel_price"].mean()
    out["c_rel_price"] = rel
    gap = c_attr["session_id"].map(mean_rel).to_numpy(dtype=np.float64, na_value=np.nan)
    out["c_price_gap"] = rel - gap
    table = candidates
    for name in CATALOG_FEATURES:
        values = out[name] if n else np.empty(0, dtype=np.float64)
        table = table.append_column(name, pa.array(values, pa.float64()))
    return table


class _CatalogOnline(OnlineCandidates):
    """The in-memory candidates of one session plus the catalogue features."""

    def __init__(
        self,
        neighbours: pa.Table,
        item_pop: pa.Table,
        *,
        n_expand: int,
        n_popular: int,
        catalog: pa.Table,
    ) -> None:
        super().__init__(neighbours, item_pop, n_expand=n_expand, n_popular=n_popular)
        self.catalog = catalog

    def candidates(
        self,
        session_id: str,
        items: Sequence[str],
        types: Sequence[str],
        ts_us: Sequence[int],
    ) -> pa.Table:
        """See :meth:`OnlineCandidates.candidates`; catalogue features appended."""
        history = pa.table(
            {
                "session_id": pa.array([session_id] * len(items), pa.string()),
                "item_id": pa.array(list(items), pa.string()),
                "event_type": pa.array(list(types), pa.string()),
                "ts": pa.array(list(ts_us), pa.int64()).cast(TIMESTAMP),
            }
        )
        base = super().candidates(session_id, items, types, ts_us)
        return catalog_features(base, history, self.catalog)


@dataclass(frozen=True)
class TrainingSplit:
    """The parts of a log used to train the ranker.

    Attributes
    ----------
    cutoff
        Instant separating the feature period (before) from the label period.
    cutoff_us
        ``cutoff`` in microseconds after the log's first event (how the index pipelines
        take it, without a timestamp literal).
    events
        The whole log the split was cut from (not copied), in memory or on disk.
    n_feature_events
        Events before ``cutoff``.
    history
        Truncated label-period sessions (the inputs the ranker learns to complete).
    labels
        What followed each cut (session -> target -> items).
    """

    cutoff: pa.Scalar
    cutoff_us: int
    events: pa.Table | EventFiles
    n_feature_events: int
    history: pa.Table
    labels: Labels

    @property
    def feature_events(self) -> pa.Table:
        """Events strictly before ``cutoff``: the only input of co-visitation and popularity.

        A copy of an in-memory log, made on each access: the ranker hands the index
        pipelines the whole log and ``cutoff_us`` instead (at 219M events the copy alone
        would be about 7 GiB).
        """
        if isinstance(self.events, EventFiles):
            raise TypeError("the split was cut from files: read them with cutoff_us")
        return self.events.filter(pc.less(self.events.column("ts"), self.cutoff))


def training_split(
    events: pa.Table | EventFiles,
    *,
    label_fraction: float,
    seed: int,
    max_sessions: int | None = None,
    cuts_per_session: int = 1,
) -> TrainingSplit:
    """Cut a validated log in time for leakage-free ranker training.

    Parameters
    ----------
    events
        Validated session log, shape ``(n_events, 4)``, or :class:`EventFiles` of one
        (the engine reads them; only the label sessions come into memory, ordered by
        session, time, funnel step and item).
    label_fraction
        Share of the time span, at its end, that forms the label period.
    seed
        Seed of the truncation points and of the session sample.
    max_sessions
        Keep at most this many label-period sessions (a seeded sample), to bound training.
    cuts_per_session
        Cut each label-period session this many times at independent random points (copies
        keyed ``<session>#<j>``): more training examples from the same sessions.

    Returns
    -------
    TrainingSplit
        Label-period sessions are those whose *first* event is at or after ``cutoff``;
        sessions straddling the cutoff contribute only their earlier events to the features.
    """
    if isinstance(events, EventFiles):
        t0, t1, firsts = session_starts(events)
    else:
        ts = events.column("ts")
        t0, t1 = pc.min(ts).value, pc.max(ts).value
        firsts = events.group_by("session_id").aggregate([("ts", "min")])
    cutoff_us = int(t0 + (1.0 - label_fraction) * (t1 - t0))
    cutoff = pa.scalar(cutoff_us, type=TIMESTAMP)
    late = firsts.filter(pc.greater_equal(firsts.column("ts_min"), cutoff)).column("session_id")
    late_ids = np.asarray(sorted(late.to_pylist()), dtype=object)
    if max_sessions is not None and late_ids.size > max_sessions:
        rng = np.random.default_rng(seed)
        late_ids = np.sort(rng.choice(late_ids, size=max_sessions, replace=False))
    chosen = pa.array(late_ids.tolist(), pa.string())
    if isinstance(events, EventFiles):
        label_events = events_of_sessions(events, chosen)
        n_before = count_before(events, cutoff_us - t0)
    else:
        label_events = events.filter(pc.is_in(events.column("session_id"), value_set=chosen))
        n_before = int(pc.sum(pc.less(events.column("ts"), cutoff).cast(pa.int64())).as_py() or 0)
    if cuts_per_session > 1:
        copies = []
        for j in range(cuts_per_session):
            keyed = pc.binary_join_element_wise(
                label_events.column("session_id"), pa.scalar(str(j)), "#"
            )
            idx = label_events.schema.get_field_index("session_id")
            copies.append(label_events.set_column(idx, "session_id", keyed))
        label_events = pa.concat_tables(copies)
    history, labels = truncate_sessions(label_events, seed=seed)
    return TrainingSplit(cutoff, cutoff_us - t0, events, n_before, history, labels)


def label_vector(candidates: pa.Table, labels: Labels, target: str) -> np.ndarray:
    """1 where a candidate row is in its session's truth for ``target``, shape ``(n,)``."""
    sessions = candidates.column("session_id").to_pylist()
    items = candidates.column("item_id").to_pylist()
    truth = {s: set(v.get(target, ())) for s, v in labels.items()}
    return np.fromiter(
        (1 if it in truth.get(s, ()) else 0 for s, it in zip(sessions, items, strict=True)),
        dtype=np.int32,
        count=len(items),
    )


def _rank_within(sessions: np.ndarray, score: np.ndarray) -> np.ndarray:
    """0-based rank of each row by descending ``score`` within its session (rows grouped)."""
    n = sessions.size
    if not n:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1]])
    group = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
    order = np.lexsort((-score, group))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[group[order]]
    return rank


def session_features(candidates: pa.Table) -> np.ndarray:
    """The :data:`SESSION_FEATURES` of candidate rows, shape ``(n, len(SESSION_FEATURES))``.

    Functions of the candidate rows of each session (rows grouped by session, as
    :meth:`TwoStageRanker.candidates` and the online path give them) and nothing else, so
    the batch and the one-session path agree.

    Parameters
    ----------
    candidates
        Rows with ``session_id`` and the candidate pipeline's
        :data:`~reclift.pipelines.candidates.FEATURES`, shape ``(n, n_columns)``.

    Returns
    -------
    np.ndarray
        float32. ``r_cart_click = (pop_cart + 1) / (pop_click + 20)``, ``r_order_cart =
        (pop_order + 1) / (pop_cart + 3)``, ``r_order_click = (pop_order + 1) / (pop_click +
        50)`` (the item's conversion rates, shrunk towards small values when counts are
        few; ratios keep their scale when the fitting period grows, counts do not);
        ``cv_<kind>_rank`` the 0-based rank of ``cv_<kind>_w`` among the session's
        candidates (ties in row order; :data:`UNRANKED` where it is 0), ``cv_<kind>_rel``
        that weight over the session's largest, ``h_score_rank`` the rank of ``h_score``.
    """
    n = candidates.num_rows

    def col(name: str) -> np.ndarray:
        return np.asarray(candidates.column(name).to_numpy(), dtype=np.float64)

    out = np.empty((n, len(SESSION_FEATURES)), dtype=np.float32)
    if not n:
        return out
    click, cart, order = col("pop_click"), col("pop_cart"), col("pop_order")
    out[:, 0] = (cart + 1.0) / (click + 20.0)
    out[:, 1] = (order + 1.0) / (cart + 3.0)
    out[:, 2] = (order + 1.0) / (click + 50.0)
    sessions = np.asarray(candidates.column("session_id").to_pylist(), dtype=object)
    starts = np.flatnonzero(np.r_[True, sessions[1:] != sessions[:-1]])
    j = 3
    for name in (*(f"cv_{kind}_w" for kind in MATRICES), "h_score"):
        v = col(name)
        out[:, j] = np.where(v > 0, _rank_within(sessions, v), UNRANKED)
        j += 1
        if name != "h_score":
            best = np.maximum.reduceat(v, starts)
            best = np.repeat(best, np.diff(np.r_[starts, n]))
            out[:, j] = np.where(best > 0, v / np.where(best > 0, best, 1.0), 0.0)
            j += 1
    return out


def _run_lengths(values: np.ndarray) -> np.ndarray:
    """Lengths of runs of equal consecutive values (LightGBM's query groups), shape ``(g,)``."""
    if not values.size:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
    return np.diff(np.r_[starts, values.size])


class TwoStageRanker(CovisitationRecommender):
    """Co-visitation candidates re-ranked by one LightGBM lambdarank model per target.

    Parameters
    ----------
    label_fraction
        Share of the log's time span (at its end) used as label period for training.
    n_estimators, learning_rate, num_leaves, min_data_in_leaf
        LightGBM settings.
    max_train_sessions
        Label-period sessions sampled for training (bounds time and memory).
    max_train_candidates
        Per training session, keep the best candidates by rules score up to this many rows
        (easy negatives teach little and cost time); set it to at least the number of
        candidates per session to train on all of them.
    cuts_per_session
        Random cuts per training session (see :func:`training_split`).
    orders_from_carts
        Train the ``orders`` model on items carted *or* ordered after the cut (when the log
        has carts): orders are the scarcest label, and a cart is the step before an order,
        so the model sees several times more positives of the same kind.
    n_threads
        LightGBM threads (1 is fastest on a busy machine: OpenMP threads spin).
    seed
        Seed of the split, the sample and LightGBM.
    top_k_neighbours, tail, window_hours, buy_window_days, n_expand, n_popular
        As in :class:`~reclift.models.sessions.rules.CovisitationRecommender`.

    Notes
    -----
    A target without any positive among the training candidates keeps the rules score
    (recorded in ``fit_report_``). The rules score of the target is itself a feature, and
    so are the candidate pipeline's :data:`~reclift.pipelines.candidates.FEATURES`, the
    :data:`SESSION_FEATURES` derived from them (conversion rates, the candidate's rank in
    its session per source) and, when :meth:`fit` is given an ``items`` table, the
    catalogue features
    (:data:`CATALOG_FEATURES`: the candidate's category and brand share in the session,
    its price against its category's).
    """

    name: ClassVar[str] = "ranker"

    def __init__(
        self,
        *,
        label_fraction: float = 0.25,
        n_estimators: int = 100,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_data_in_leaf: int = 20,
        max_train_sessions: int = 100_000,
        max_train_candidates: int = 60,
        cuts_per_session: int = 1,
        orders_from_carts: bool = True,
        n_threads: int = 1,
        seed: int = 0,
        top_k_neighbours: int = 20,
        tail: int = 30,
        window_hours: float = 24.0,
        buy_window_days: float = 14.0,
        n_expand: int = 20,
        n_popular: int = 20,
    ) -> None:
        super().__init__(
            top_k_neighbours=top_k_neighbours,
            tail=tail,
            window_hours=window_hours,
            buy_window_days=buy_window_days,
            n_expand=n_expand,
            n_popular=n_popular,
        )
        self.label_fraction = label_fraction
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_data_in_leaf = min_data_in_leaf
        self.max_train_sessions = max_train_sessions
        self.max_train_candidates = max_train_candidates
        self.cuts_per_session = cuts_per_session
        self.orders_from_carts = orders_from_carts
        self.n_threads = n_threads
        self.seed = seed

    def _check_params(self) -> None:
        super()._check_params()
        lf = self.label_fraction
        if isinstance(lf, bool) or not isinstance(lf, (int, float)) or not 0 < lf < 1:
            raise InvalidParameterError(f"label_fraction must be in (0, 1), got {lf!r}")
        for name in (
            "n_estimators",
            "num_leaves",
            "min_data_in_leaf",
            "max_train_sessions",
            "max_train_candidates",
            "cuts_per_session",
            "n_threads",
        ):
            _check_positive_int(name, getattr(self, name))
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0:
            raise InvalidParameterError(f"learning_rate must be positive, got {lr!r}")
        if not isinstance(self.orders_from_carts, bool):
            raise InvalidParameterError(
                f"orders_from_carts must be a bool, got {self.orders_from_carts!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidParameterError(f"seed must be an integer, got {self.seed!r}")

    def _lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "lambdarank",
            "metric": "map",
            "eval_at": [20],
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": int(self.min_data_in_leaf),
            "feature_fraction": 0.9,
            "seed": int(self.seed),
            "deterministic": True,
            "num_threads": int(self.n_threads),
            "verbosity": -1,
        }

    def fit(self, events: pa.Table | EventFiles, items: pa.Table | None = None) -> Self:
        """Learn from a session log and, optionally, the item catalogue.

        Parameters
        ----------
        events
            As in :meth:`SessionRecommender.fit`, shape ``(n_events, n_columns)``.
        items
            Optional catalogue (``item_id``, ``category``, optional ``brand``, ``price``),
            shape ``(n_items, n_columns)``: adds :data:`CATALOG_FEATURES`. Logs without one
            (click logs) are ranked on the session and co-visitation features alone.

        Returns
        -------
        Self

        Raises
        ------
        SchemaError
            As for ``events``; ``items`` without ``item_id`` or ``category``.
        """
        self._catalog_in = None if items is None else item_catalog(items)
        try:
            return super().fit(events)
        finally:
            del self._catalog_in

    def feature_names(self) -> list[str]:
        """Columns of the LightGBM models, in order (the rules score last)."""
        catalog = self.__dict__.get("catalog_")
        extra = CATALOG_FEATURES if catalog is not None else ()
        return [*FEATURES, *SESSION_FEATURES, *extra, "rules"]

    def training_data(self, events: pa.Table | EventFiles) -> tuple[TrainingSplit, pa.Table | None]:
        """The split and the training candidates (features from pre-cutoff events only).

        Parameters
        ----------
        events
            A validated log (as given to :meth:`fit`).

        Returns
        -------
        split, candidates
            ``candidates`` has ``session_id``, ``item_id`` and the features (those of
            :meth:`candidates`, built from pre-cutoff events and each history), one row per
            (truncated label-period session, candidate); ``None`` when the split leaves no
            feature events or no labelled session.
        """
        catalog = self.__dict__.get("_catalog_in", self.__dict__.get("catalog_"))
        split = training_split(
            events,
            label_fraction=float(self.label_fraction),
            seed=int(self.seed),
            max_sessions=int(self.max_train_sessions),
            cuts_per_session=int(self.cuts_per_session),
        )
        if not (split.n_feature_events and split.history.num_rows and split.labels):
            return split, None
        train_index = CovisitIndex.build(
            split.events, self.index_params(), before_us=split.cutoff_us
        )
        cands = train_index.candidates(
            split.history, n_expand=self.n_expand, n_popular=self.n_popular
        )
        if catalog is not None:
            cands = catalog_features(cands, split.history, catalog)
        return split, cands

    def _fit(self, events: pa.Table | EventFiles) -> None:
        self._learn(events)
        # After the training candidates (GBs at OTTO's size) are freed with _learn's frame,
        # before the engine takes its memory for the index of the whole log.
        self.index_ = CovisitIndex.build(events, self.index_params())

    def _learn(self, events: pa.Table | EventFiles) -> None:
        """Train the boosters (``boosters_``, ``catalog_``, ``fit_report_``) on a split."""
        lgb: Any = require("lightgbm", "ml")
        self.catalog_: pa.Table | None = self.__dict__.get("_catalog_in")
        split, cands = self.training_data(events)
        self.boosters_: dict[str, Any] = {}
        report: dict[str, Any] = {
            "cutoff": str(split.cutoff.as_py()),
            "feature_events": split.n_feature_events,
            "label_sessions": len(split.labels),
            "targets": {},
        }
        if cands is not None:
            # Candidate recall on the training labels: the ceiling of any re-ranking.
            lists = ranked_candidates(cands, self.targets_)
            report["candidate_recall"] = {
                f"@{k}" if k < 10**6 else "all": {
                    t: round(v, 4) for t, v in capped_recall(lists, split.labels, k).items()
                }
                for k in (20, 50, 100, 10**6)
            }
            sessions = np.asarray(cands.column("session_id").to_pylist(), dtype=object)
            # Over each session's whole candidate set (ranks, shares of the best), as at
            # prediction, before the rows are capped below.
            derived = session_features(cands)
            for target in self.targets_:
                y = label_vector(cands, split.labels, target)
                pooled = target == "orders" and self.orders_from_carts and "carts" in self.targets_
                if pooled:
                    y = np.maximum(y, label_vector(cands, split.labels, "carts"))
                # Lambdarank learns only from sessions with a positive among the candidates.
                # The cap applies to positives too: keeping positives beyond it (and no
                # negatives there) would teach "a low rules score means relevant".
                rank = _rank_within(sessions, rules_score(cands, target))
                capped = rank < self.max_train_candidates
                pos_sessions = set(sessions[(y == 1) & capped].tolist())
                in_pos = np.fromiter((s in pos_sessions for s in sessions), bool, sessions.size)
                keep = capped & in_pos
                info: dict[str, Any] = {
                    "rows": int(keep.sum()),
                    "sessions": len(pos_sessions),
                    "labels": "carts or orders" if pooled else target,
                }
                report["targets"][target] = info
                if len(pos_sessions) < 2 or not (y[keep] == 0).any():
                    info["model"] = "rules (too few positives)"
                    continue
                x = self._features(cands.filter(pa.array(keep)), target, derived[keep])
                counts = _run_lengths(sessions[keep])
                data = lgb.Dataset(
                    x,
                    label=y[keep],
                    group=counts,
                    feature_name=self.feature_names(),
                    free_raw_data=True,
                )
                booster = lgb.train(self._lgb_params(), data, num_boost_round=self.n_estimators)
                self.boosters_[target] = booster
                info["model"] = "lightgbm"
        self.fit_report_ = report

    def first_stage(self) -> CovisitationRecommender:
        """The co-visitation rules this ranker re-ranks, sharing its fitted index (no copy).

        Equal to ``CovisitationRecommender(**same params).fit(events)`` on the events this
        ranker was fitted on, without building the index a second time.
        """
        self._check_fitted()
        names = CovisitationRecommender().get_params()
        rules = CovisitationRecommender(**{p: getattr(self, p) for p in names})
        rules.targets_ = self.targets_
        rules.index_ = self.index_
        return rules

    def candidates(self, events: pa.Table) -> pa.Table:
        """Candidate rows with the pipeline's (and the catalogue) features (validated input)."""
        cands = super().candidates(events)
        catalog = self.__dict__.get("catalog_")
        return cands if catalog is None else catalog_features(cands, events, catalog)

    def _online(self) -> OnlineCandidates:
        catalog = self.__dict__.get("catalog_")
        if catalog is None:
            return super()._online()
        # As the rules' (built once, dropped with the index), with the catalogue features.
        online = self.__dict__.get("_online_")
        if online is None or online[0] is not self.index_:
            with _ONLINE_LOCK:
                online = self.__dict__.get("_online_")
                if online is None or online[0] is not self.index_:
                    built = _CatalogOnline(
                        self.index_.neighbours,
                        self.index_.item_pop,
                        n_expand=int(self.n_expand),
                        n_popular=int(self.n_popular),
                        catalog=catalog,
                    )
                    online = (self.index_, built)
                    self._online_ = online
        built_online: OnlineCandidates = online[1]
        return built_online

    def _features(
        self, candidates: pa.Table, target: str, derived: np.ndarray | None = None
    ) -> np.ndarray:
        # ``derived``: session_features of these rows computed over their whole sessions
        # (training keeps only some rows of each session).
        x = feature_matrix(candidates)
        if derived is None:
            derived = session_features(candidates)
        extra = self.feature_names()[len(FEATURES) + len(SESSION_FEATURES) : -1]
        missing = [f for f in extra if f not in candidates.column_names]
        if missing:
            raise SchemaError(
                f"candidates lack the catalogue features {missing[:3]}...: this ranker was "
                "fitted with items; build its candidates with its own candidates() method"
            )
        cols = [np.asarray(candidates.column(f).to_numpy(), dtype=np.float32) for f in extra]
        rules = rules_score(candidates, target).astype(np.float32)[:, None]
        return np.hstack([x, derived, *(c[:, None] for c in cols), rules])

    def score(self, candidates: pa.Table, target: str) -> np.ndarray:
        """LightGBM score per candidate row (rules score where no model was trained).

        Only each session's best ``max_train_candidates`` by rules score are re-ranked; the
        others keep their rules order below them.
        """
        booster = self.boosters_.get(target)
        rules = rules_score(candidates, target)
        if booster is None:
            return rules
        # Explicit threads: a loaded booster would otherwise spin up every core's OpenMP
        # thread per call, which costs milliseconds on the few rows of one live session.
        raw = booster.predict(self._features(candidates, target), num_threads=int(self.n_threads))
        learned = np.asarray(raw, dtype=np.float64)
        # The model re-ranks what it was trained on (each session's best candidates by rules);
        # the rest follow in rules order, below every re-ranked candidate.
        sessions = np.asarray(candidates.column("session_id").to_pylist(), dtype=object)
        inside = _rank_within(sessions, rules) < self.max_train_candidates
        return np.where(inside, learned, -1e12 + rules)

    def _save(self, directory: Path) -> None:
        super()._save(directory)
        # Fitted state set by hand (no fit) has no catalogue: the features of a click log.
        catalog = self.__dict__.get("catalog_")
        if catalog is not None:
            pq.write_table(catalog, directory / CATALOG_FILE)
        for target, booster in self.boosters_.items():
            booster.save_model(str(directory / f"lgbm_{target}.txt"))

    def _load(self, artifact: Artifact) -> None:
        lgb: Any = require("lightgbm", "ml")
        super()._load(artifact)
        self.catalog_ = None
        if CATALOG_FILE in artifact.files:
            try:
                self.catalog_ = pq.read_table(artifact.file(CATALOG_FILE))
            except (OSError, pa.ArrowInvalid) as exc:
                raise ArtifactError(
                    f"{artifact.path}: cannot read the item catalogue: {exc}"
                ) from None
        self.boosters_ = {}
        for target in self.targets_:
            name = f"lgbm_{target}.txt"
            if name in artifact.files:
                try:
                    self.boosters_[target] = lgb.Booster(model_file=str(artifact.file(name)))
                except Exception as exc:  # LightGBM raises its own error type on bad files
                    raise ArtifactError(
                        f"{artifact.path}/{name}: not a LightGBM model: {exc}"
                    ) from None
        n = len(self.feature_names())
        for target, booster in self.boosters_.items():
            if booster.num_feature() != n:
                raise ArtifactError(
                    f"{artifact.path}: model for {target} has {booster.num_feature()} features, "
                    f"expected {n} (saved by another version of the ranker's features: refit it)"
                )
