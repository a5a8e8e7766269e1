"""Co-visitation rules: history first, then co-visitation neighbours, then popular items."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Self

import numpy as np
import pyarrow as pa

from reclift.engines import Engine
from reclift.errors import SchemaError
from reclift.models.errors import InvalidParameterError
from reclift.models.recs.base import check_k
from reclift.models.sessions.base import (
    SessionRecommendations,
    SessionRecommender,
    check_events,
)
from reclift.models.sessions.features import (
    CovisitIndex,
    EventFiles,
    IndexParams,
    rules_score,
    top_k_per_session,
)
from reclift.models.sessions.online import OnlineCandidates
from reclift.schema.tables import EVENT_TYPES
from reclift.workspace.artifacts import Artifact

_ONLINE_LOCK = threading.Lock()


def _check_positive_int(name: str, value: object, *, allow_zero: bool = False) -> None:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "non-negative" if allow_zero else "positive"
        raise InvalidParameterError(f"{name} must be a {kind} integer, got {value!r}")


class CovisitationRecommender(SessionRecommender):
    """Hand-set rules over co-visitation candidates (the strong OTTO baseline).

    Per target, each candidate scores ``1000 * history score`` + weighted co-visitation
    sums + a popularity tie-break (:func:`~reclift.models.sessions.features.rules_score`).

    Parameters
    ----------
    top_k_neighbours
        Neighbours kept per item in each co-visitation matrix.
    tail
        Last events per session that form co-visitation pairs.
    window_hours, buy_window_days
        Maximum time between the events of a pair (clicks / carts_orders; buy2buy).
    n_expand
        Neighbours taken per history item at recommendation time.
    n_popular
        Popular items added as candidates per type.
    """

    name: ClassVar[str] = "covisitation"

    def __init__(
        self,
        *,
        top_k_neighbours: int = 20,
        tail: int = 30,
        window_hours: float = 24.0,
        buy_window_days: float = 14.0,
        n_expand: int = 20,
        n_popular: int = 20,
    ) -> None:
        self.top_k_neighbours = top_k_neighbours
        self.tail = tail
        self.window_hours = window_hours
        self.buy_window_days = buy_window_days
        self.n_expand = n_expand
        self.n_popular = n_popular

    def _check_params(self) -> None:
        _check_positive_int("top_k_neighbours", self.top_k_neighbours)
        _check_positive_int("tail", self.tail)
        _check_positive_int("n_expand", self.n_expand, allow_zero=True)
        _check_positive_int("n_popular", self.n_popular, allow_zero=True)
        for name in ("window_hours", "buy_window_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise InvalidParameterError(f"{name} must be a positive number, got {value!r}")

    def index_params(self) -> IndexParams:
        """The co-visitation parameters as one object."""
        return IndexParams(
            top_k_neighbours=self.top_k_neighbours,
            tail=self.tail,
            window_hours=float(self.window_hours),
            buy_window_days=float(self.buy_window_days),
        )

    def _fit(self, events: pa.Table | EventFiles) -> None:
        self.index_ = CovisitIndex.build(events, self.index_params())

    def refresh(self, events: pa.Table | EventFiles, *, engine: Engine | None = None) -> Self:
        """Rebuild the co-visitation index on ``events``, keeping whatever else was learned.

        For the rules this equals :meth:`fit` on the same events (the targets stay those of
        the fit); a ranker keeps its boosters: a cheap update with recent events (the features
        keep their meaning, their statistics move on).

        Parameters
        ----------
        events
            A session log, shape ``(n_events, 4+)``, or :class:`EventFiles` for the engine to
            read itself (how a scaled-out engine gets a large log).
        engine
            Where the index is built (run configuration, not learned state; default: an
            in-process DuckDB). Every engine builds the same index.

        Raises
        ------
        NotFittedError, SchemaError
            Not fitted; an invalid or empty log.
        """
        self._check_fitted()
        if isinstance(events, EventFiles):
            index = CovisitIndex.build(events, self.index_params(), engine=engine)
            if index.item_pop.num_rows == 0:
                raise SchemaError(
                    "events files hold no event with a session_id: nothing to rebuild the "
                    "index from"
                )
        else:
            table = check_events(events)
            if table.num_rows == 0:
                raise SchemaError("events is empty: nothing to rebuild the index from")
            index = CovisitIndex.build(table, self.index_params(), engine=engine)
        self.index_ = index
        return self

    def candidates(self, events: pa.Table) -> pa.Table:
        """Candidate rows with features for the sessions of ``events`` (validated input)."""
        return self.index_.candidates(events, n_expand=self.n_expand, n_popular=self.n_popular)

    def score(self, candidates: pa.Table, target: str) -> np.ndarray:
        """Score of every candidate row for ``target``, shape ``(n_candidates,)``."""
        return rules_score(candidates, target)

    def _recommend(self, events: pa.Table, k: int, sessions: list[str]) -> SessionRecommendations:
        cands = self.candidates(events) if events.num_rows else None
        return self.rank(cands, k, sessions, self.targets_)

    def rank(
        self,
        cands: pa.Table | None,
        k: int,
        sessions: list[str],
        targets: Sequence[str],
    ) -> SessionRecommendations:
        """Top-``k`` per session and target from candidates already built.

        Parameters
        ----------
        cands
            Rows of :meth:`candidates` (``None`` or empty: popular items only), from this
            model's index or an identical one (a ranker and its :meth:`first_stage` share it).
        k
            Items per session and target (validated by the caller).
        sessions
            Session ids to answer, length ``n_sessions``.
        targets
            Targets to answer, a subset of :attr:`targets_`.

        Returns
        -------
        SessionRecommendations
        """
        items: dict[str, np.ndarray] = {}
        scores: dict[str, np.ndarray] = {}
        if cands is None or cands.num_rows == 0:
            cs = ci = np.empty(0, dtype=object)
        else:
            cs = np.asarray(cands.column("session_id").to_pylist(), dtype=object)
            ci = np.asarray(cands.column("item_id").to_pylist(), dtype=object)
        for target in targets:
            if cands is None or cands.num_rows == 0:
                sc = np.empty(0, dtype=np.float64)
            else:
                sc = self.score(cands, target)
            ids, out = top_k_per_session(
                sessions, cs, ci, sc, k, self.index_.popular[target][: k + 50]
            )
            items[target], scores[target] = ids, out
        return SessionRecommendations(np.asarray(sessions, dtype=object), items, scores)

    def _online(self) -> OnlineCandidates:
        # Built on first use (seconds on millions of pairs), once, even under concurrent
        # requests; fit() and load() drop it with the index it came from.
        online = self.__dict__.get("_online_")
        if online is None or online[0] is not self.index_:
            with _ONLINE_LOCK:
                online = self.__dict__.get("_online_")
                if online is None or online[0] is not self.index_:
                    built = OnlineCandidates(
                        self.index_.neighbours,
                        self.index_.item_pop,
                        n_expand=int(self.n_expand),
                        n_popular=int(self.n_popular),
                    )
                    online = (self.index_, built)
                    self._online_ = online
        return online[1]

    def warm_up(self) -> None:
        """Build the in-memory structures of :meth:`recommend_session` and :meth:`related`."""
        self._check_fitted()
        self._online()
        self.related([], 1)

    def known_items(self, item_ids: Sequence[str]) -> list[bool]:
        """Whether the fitting log had each item, length ``len(item_ids)``."""
        self._check_fitted()
        online = self._online()
        return [online.is_known(str(i)) for i in item_ids]

    def recommend_session(
        self,
        item_ids: Sequence[str],
        event_types: Sequence[str],
        ts_us: Sequence[int],
        k: int = 20,
        *,
        targets: Sequence[str] | None = None,
        session_id: str = "session",
    ) -> SessionRecommendations:
        """Top-``k`` items per target for **one** session, without a query engine.

        The same answer as :meth:`recommend` on a table holding these events (up to
        floating-point summation order), in about a millisecond: the service's hot path.

        Parameters
        ----------
        item_ids, event_types, ts_us
            The session's events: item ids, canonical event types (view, click, cart,
            order) and times in microseconds since the epoch, length ``n_events`` each, in
            any order. No events: the popular fallback.
        k
            Items per target.
        targets
            Subset of :attr:`targets_` to answer (default: all of them).
        session_id
            Id of the single row of the result.

        Returns
        -------
        SessionRecommendations
            One session (``n_sessions = 1``).

        Raises
        ------
        NotFittedError, InvalidParameterError
            Bad ``k``, unequal lengths, unknown event type or target.
        """
        self._check_fitted()
        k = check_k(k)
        n = len(item_ids)
        if len(event_types) != n or len(ts_us) != n:
            raise InvalidParameterError(
                f"item_ids, event_types and ts_us must have equal lengths, got "
                f"{n}, {len(event_types)}, {len(ts_us)}"
            )
        for i, t in enumerate(event_types):
            if t not in EVENT_TYPES:
                raise InvalidParameterError(
                    f"event_types[{i}] is {t!r}; expected one of {list(EVENT_TYPES)}"
                )
        chosen = list(self.targets_) if targets is None else list(targets)
        for t in chosen:
            if t not in self.targets_:
                raise InvalidParameterError(
                    f"target {t!r} is not predicted by this model; it predicts "
                    f"{list(self.targets_)}"
                )
        cands = None
        if n:
            cands = self._online().candidates(
                session_id, [str(i) for i in item_ids], list(event_types), [int(t) for t in ts_us]
            )
        return self.rank(cands, k, [session_id], [t for t in self.targets_ if t in chosen])

    def related(self, item_ids: Sequence[str], k: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`SessionRecommender.related`."""
        self._check_fitted()
        return self.index_.related([str(i) for i in item_ids], check_k(k))

    def _save(self, directory: Path) -> None:
        self.index_.save(directory)

    def _load(self, artifact: Artifact) -> None:
        self.index_ = CovisitIndex.load(artifact)
