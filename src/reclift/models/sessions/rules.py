"""Co-visitation rules: history first, then co-visitation neighbours, then popular items."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow as pa

from reclift.models.errors import InvalidParameterError
from reclift.models.recs.base import check_k
from reclift.models.sessions.base import SessionRecommendations, SessionRecommender
from reclift.models.sessions.features import (
    CovisitIndex,
    IndexParams,
    rules_score,
    top_k_per_session,
)
from reclift.workspace.artifacts import Artifact


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

    def _fit(self, events: pa.Table) -> None:
        self.index_ = CovisitIndex.build(events, self.index_params())

    def candidates(self, events: pa.Table) -> pa.Table:
        """Candidate rows with features for the sessions of ``events`` (validated input)."""
        return self.index_.candidates(events, n_expand=self.n_expand, n_popular=self.n_popular)

    def score(self, candidates: pa.Table, target: str) -> np.ndarray:
        """Score of every candidate row for ``target``, shape ``(n_candidates,)``."""
        return rules_score(candidates, target)

    def _recommend(self, events: pa.Table, k: int, sessions: list[str]) -> SessionRecommendations:
        cands = self.candidates(events) if events.num_rows else None
        items: dict[str, np.ndarray] = {}
        scores: dict[str, np.ndarray] = {}
        for target in self.targets_:
            if cands is None or cands.num_rows == 0:
                empty = np.empty(0, dtype=object)
                cs, ci, sc = empty, empty, np.empty(0, dtype=np.float64)
            else:
                cs = np.asarray(cands.column("session_id").to_pylist(), dtype=object)
                ci = np.asarray(cands.column("item_id").to_pylist(), dtype=object)
                sc = self.score(cands, target)
            ids, out = top_k_per_session(
                sessions, cs, ci, sc, k, self.index_.popular[target][: k + 50]
            )
            items[target], scores[target] = ids, out
        return SessionRecommendations(np.asarray(sessions, dtype=object), items, scores)

    def related(self, item_ids: Sequence[str], k: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`SessionRecommender.related`."""
        self._check_fitted()
        return self.index_.related([str(i) for i in item_ids], check_k(k))

    def _save(self, directory: Path) -> None:
        self.index_.save(directory)

    def _load(self, artifact: Artifact) -> None:
        self.index_ = CovisitIndex.load(artifact)
