"""What session models share: the co-visitation index, candidates, rules scores, top-k.

The index holds the three co-visitation matrices (top-K neighbours per item) and item
popularity per event type, built by the Ibis pipelines of :mod:`reclift.pipelines` on an
engine: an in-process DuckDB by default, or any :class:`~reclift.engines.Engine` (Spark reads
the log's Parquet files itself, see :class:`EventFiles`).
Candidates and their features come from :func:`reclift.pipelines.candidates.session_candidates`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reclift.engines import DuckDBEngine, Engine
from reclift.errors import ArtifactError
from reclift.pipelines._common import null_safe_keys
from reclift.pipelines.candidates import FEATURES, POP_TYPES, session_candidates
from reclift.pipelines.covisitation import MATRICES, covisitation_matrices
from reclift.pipelines.run import run_pipeline
from reclift.workspace.artifacts import Artifact

if TYPE_CHECKING:
    import ibis.expr.types as ir

NEIGHBOURS_FILE = "neighbours.parquet"
POPULARITY_FILE = "item_pop.parquet"
_POP_TYPE: Mapping[str, str] = {"clicks": "click", "carts": "cart", "orders": "order"}
_LOG_COLUMNS: tuple[str, ...] = ("session_id", "item_id", "event_type", "ts")


@dataclass(frozen=True)
class IndexParams:
    """Parameters of :class:`CovisitIndex` (see :func:`reclift.pipelines.covisitation`)."""

    top_k_neighbours: int = 20
    tail: int = 30
    window_hours: float = 24.0
    buy_window_days: float = 14.0


@dataclass(frozen=True)
class EventFiles:
    """A session log left on disk, for the engine to read (e.g. a workspace's event parts).

    Attributes
    ----------
    paths
        Parquet files of one events table with at least ``session_id``, ``item_id``,
        ``event_type`` (canonical) and ``ts``.
    last_days
        Keep only the events at most this many days before the latest one (``0``: all),
        as :func:`reclift.jobs.training.sessions.recent` does in memory. Events without a
        session id are ignored either way.
    """

    paths: tuple[Path, ...]
    last_days: float = 0.0


class CovisitIndex:
    """Co-visitation neighbours and item popularity learned from one session log.

    Parameters
    ----------
    neighbours
        ``kind``, ``item_a``, ``item_b``, ``score`` (int64), ``rank`` (int64), shape
        ``(n_pairs, 5)``.
    item_pop
        ``item_id``, ``n_click``, ``n_cart``, ``n_order`` (int64), shape ``(n_items, 4)``.
    """

    def __init__(self, neighbours: pa.Table, item_pop: pa.Table) -> None:
        self.neighbours = neighbours
        self.item_pop = item_pop
        self.popular: dict[str, list[str]] = {}
        ids = np.asarray(item_pop.column("item_id").to_pylist(), dtype=object)
        for target, t in _POP_TYPE.items():
            counts = np.asarray(item_pop.column(f"n_{t}").to_numpy(), dtype=np.int64)
            # Most popular first, ties by id ascending (ids are sorted in item_pop).
            order = np.lexsort((np.arange(ids.size), -counts))
            self.popular[target] = [str(v) for v in ids[order][:1000]]

    @classmethod
    def build(
        cls,
        events: pa.Table | EventFiles,
        params: IndexParams = IndexParams(),
        *,
        engine: Engine | None = None,
    ) -> CovisitIndex:
        """Run the co-visitation and popularity pipelines over ``events``.

        Parameters
        ----------
        events
            A validated session log in memory, shape ``(n_events, 4+)``, or
            :class:`EventFiles` for the engine to read from disk (a scaled-out engine then
            reads the files itself instead of receiving the rows from this process).
        params
            The co-visitation parameters.
        engine
            Where the pipelines run; ``None`` starts an in-process DuckDB for this call. A
            given engine is left open (its owner closes it). Every engine builds the same
            index: the pipelines have exact DuckDB/Spark parity.

        Returns
        -------
        CovisitIndex
            Neighbours ordered by kind (:data:`MATRICES` order), ``item_a`` and ``rank``;
            popularity ordered by ``item_id``.
        """
        if engine is None:
            with DuckDBEngine() as own:
                return cls._build_on(own, events, params)
        return cls._build_on(engine, events, params)

    @classmethod
    def _build_on(
        cls, engine: Engine, events: pa.Table | EventFiles, params: IndexParams
    ) -> CovisitIndex:
        run: Callable[..., pa.Table]
        if isinstance(events, EventFiles):
            files = events

            def run(fn: Callable[..., ir.Table], **kw: Any) -> pa.Table:
                return run_pipeline(
                    engine, fn, {"events": list(files.paths)}, last_days=files.last_days, **kw
                )

        else:
            table = engine.read_arrow(events, "reclift_session_events")

            def run(fn: Callable[..., ir.Table], **kw: Any) -> pa.Table:
                return engine.to_arrow(fn(table, last_days=0.0, **kw))

        # One query for the three matrices: clicks and carts/orders share their pairs.
        result = run(_matrices, params=params)
        neighbours = pa.table(
            {
                "kind": result.column("kind").cast(pa.string()),
                "item_a": result.column("item_a"),
                "item_b": result.column("item_b"),
                "score": result.column("score").cast(pa.int64()),
                "rank": result.column("rank").cast(pa.int64()),
            }
        )
        return cls(neighbours, run(_popularity))

    def candidates(self, events: pa.Table, *, n_expand: int, n_popular: int) -> pa.Table:
        """Candidates with :data:`~reclift.pipelines.candidates.FEATURES` for ``events``."""
        with DuckDBEngine() as engine:
            expr = session_candidates(
                engine.read_arrow(events, "reclift_session_history"),
                engine.read_arrow(self.neighbours, "reclift_neighbours"),
                engine.read_arrow(self.item_pop, "reclift_item_pop"),
                n_expand=n_expand,
                n_popular=n_popular,
            )
            return engine.to_arrow(expr)

    def related(self, item_ids: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbours ranked by the sum of ``1 / rank`` over the three matrices.

        Returns ``(ids, scores)`` of shape ``(n_items, k)``; unknown items get popular items
        (score 0).
        """
        lookup = self.__dict__.get("_related_lookup")
        if lookup is None:
            nb = self.neighbours.sort_by([("item_a", "ascending")])
            # One attribute set at once: concurrent first calls (service threads) never see
            # a half-built lookup.
            lookup = (
                np.asarray(nb.column("item_a").to_pylist(), dtype=str),
                np.asarray(nb.column("item_b").to_pylist(), dtype=object),
                1.0 / np.asarray(nb.column("rank").to_numpy(), dtype=np.float64),
            )
            self._related_lookup = lookup
        by_a, nb_b, nb_w = lookup
        ids = np.full((len(item_ids), k), None, dtype=object)
        scores = np.full((len(item_ids), k), np.nan, dtype=np.float32)
        for i, item in enumerate(item_ids):
            lo = int(np.searchsorted(by_a, item, side="left"))
            hi = int(np.searchsorted(by_a, item, side="right"))
            found: dict[str, float] = {}
            for bid, w in zip(nb_b[lo:hi].tolist(), nb_w[lo:hi].tolist(), strict=True):
                found[bid] = found.get(bid, 0.0) + w
            if found:
                ranked = sorted(found.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
            else:
                ranked = [(p, 0.0) for p in self.popular["clicks"] if p != item][:k]
            for j, (bid, sc) in enumerate(ranked):
                ids[i, j] = bid
                scores[i, j] = sc
        return ids, scores

    def save(self, directory: Path) -> None:
        """Write Parquet files into ``directory``."""
        pq.write_table(self.neighbours, directory / NEIGHBOURS_FILE)
        pq.write_table(self.item_pop, directory / POPULARITY_FILE)

    @classmethod
    def load(cls, artifact: Artifact) -> CovisitIndex:
        """Read what :meth:`save` wrote (checksummed by the artifact)."""
        try:
            return cls(
                pq.read_table(artifact.file(NEIGHBOURS_FILE)),
                pq.read_table(artifact.file(POPULARITY_FILE)),
            )
        except (OSError, pa.ArrowInvalid) as exc:
            raise ArtifactError(
                f"{artifact.path}: cannot read the co-visitation index: {exc}"
            ) from None


def _types(t: str) -> list[str]:
    return ["click", "view"] if t == "click" else [t]


def _session_log(events: ir.Table, last_days: float) -> ir.Table:
    # The trainer's view of the log (events with a session id; with last_days > 0 those
    # at most that long before the latest one), expressed for the engine so it can read
    # the raw files. Through an integer delta: pipelines use no timestamp literals.
    log = events.filter(events.session_id.notnull()).select(*_LOG_COLUMNS)
    if last_days <= 0:
        return log
    window_us = timedelta(days=last_days) // timedelta(microseconds=1)
    latest = log.aggregate(t_latest=log.ts.max())
    dated = log.cross_join(latest)
    age = dated.t_latest.delta(dated.ts, unit="microsecond")
    return dated.filter(age <= window_us).select(*_LOG_COLUMNS)


def _matrices(events: ir.Table, *, params: IndexParams, last_days: float) -> ir.Table:
    matrices = covisitation_matrices(
        _session_log(events, last_days),
        kinds=MATRICES,
        top_k_neighbours=params.top_k_neighbours,
        tail=params.tail,
        window=timedelta(hours=params.window_hours),
        buy_window=timedelta(days=params.buy_window_days),
    )
    parts = [
        table.select(
            kind=ibis.literal(kind), item_a="item_a", item_b="item_b", score="score", rank="rank"
        )
        for kind, table in matrices.items()
    ]
    # Kinds in MATRICES order (their position), then item_a and rank, as the index promises.
    order = {kind: i for i, kind in enumerate(MATRICES)}
    union = ibis.union(*parts)
    position = ibis.cases(*[(union.kind == kind, i) for kind, i in order.items()], else_=len(order))
    return union.order_by([position, *null_safe_keys(union.item_a), union.rank])


def _popularity(events: ir.Table, *, last_days: float) -> ir.Table:
    log = _session_log(events, last_days)
    counts = {
        f"n_{t}": log.count(where=log.event_type.isin(_types(t))).cast("int64") for t in POP_TYPES
    }
    return log.group_by("item_id").aggregate(**counts).order_by("item_id")


def feature_matrix(candidates: pa.Table) -> np.ndarray:
    """The :data:`FEATURES` as a ``float32`` matrix, shape ``(n_candidates, n_features)``."""
    cols = [np.asarray(candidates.column(f).to_numpy(), dtype=np.float32) for f in FEATURES]
    return np.stack(cols, axis=1) if cols else np.empty((0, 0), np.float32)


#: Rules: history dominates (weight 1000), then co-visitation; popularity breaks ties.
RULE_WEIGHTS: Mapping[str, Mapping[str, float]] = {
    "clicks": {"cv_clicks_w": 1.0, "cv_carts_orders_w": 0.3, "cv_buy2buy_w": 0.0},
    "carts": {"cv_clicks_w": 0.5, "cv_carts_orders_w": 1.0, "cv_buy2buy_w": 0.5},
    "orders": {"cv_clicks_w": 0.3, "cv_carts_orders_w": 1.0, "cv_buy2buy_w": 1.0},
}


def rules_score(candidates: pa.Table, target: str) -> np.ndarray:
    """Hand-set score of each candidate for ``target``, shape ``(n_candidates,)`` float64.

    ``1000 * h_score`` (recency- and type-weighted history) + weighted co-visitation sums +
    ``1e-3 / popularity rank`` so sessions without signal fall back to popular items.
    """

    def col(name: str) -> np.ndarray:
        return np.asarray(candidates.column(name).to_numpy(), dtype=np.float64)

    score = 1000.0 * col("h_score")
    for name, weight in RULE_WEIGHTS[target].items():
        if weight:
            score += weight * col(name)
    rank = col(f"pop_rank_{_POP_TYPE[target]}")
    score += np.where(rank > 0, 1e-3 / np.maximum(rank, 1.0), 0.0)
    return score


def top_k_per_session(
    sessions: Sequence[str],
    cand_sessions: np.ndarray,
    cand_items: np.ndarray,
    scores: np.ndarray,
    k: int,
    fallback: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` candidates of each requested session, ties broken by item id.

    Parameters
    ----------
    sessions
        Requested session ids, length ``n``.
    cand_sessions, cand_items, scores
        Candidate rows, shape ``(m,)`` each.
    k
        Items per session.
    fallback
        Items appended (in order, skipping duplicates) when a session has fewer than ``k``.

    Returns
    -------
    ids, out_scores
        Shape ``(n, k)``: object ids (``None`` padding), ``float32`` scores (``NaN`` padding).
        Fallback items score ``min(last candidate score, 0) - 1``, keeping rows
        non-increasing.
    """
    n = len(sessions)
    ids = np.full((n, k), None, dtype=object)
    out = np.full((n, k), np.nan, dtype=np.float32)
    if cand_sessions.size:
        order = np.lexsort((cand_items.astype(str), -scores, cand_sessions.astype(str)))
        s_sorted = cand_sessions[order]
        starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
        ends = np.r_[starts[1:], s_sorted.size]
        where = {str(s_sorted[a]): (int(a), int(b)) for a, b in zip(starts, ends, strict=True)}
    else:
        order = np.empty(0, dtype=np.int64)
        where = {}
    items_sorted = cand_items[order]
    scores_sorted = scores[order]
    for i, session in enumerate(sessions):
        span = where.get(session)
        taken: list[str] = []
        if span is not None:
            a, b = span
            b = min(b, a + k)
            taken = [str(v) for v in items_sorted[a:b].tolist()]
            ids[i, : len(taken)] = taken
            out[i, : len(taken)] = scores_sorted[a:b]
        if len(taken) < k:
            seen = set(taken)
            j = len(taken)
            floor = float(out[i, j - 1]) if j else 0.0
            for item in fallback:
                if j >= k:
                    break
                if item not in seen:
                    ids[i, j] = item
                    out[i, j] = min(floor, 0.0) - 1.0
                    seen.add(item)
                    j += 1
    return ids, out


def ranked_candidates(
    candidates: pa.Table, targets: Sequence[str]
) -> dict[str, dict[str, list[str]]]:
    """Each session's candidates per target in rules order (input of candidate recall@K).

    Returns
    -------
    dict
        session id -> target -> item ids, best rules score first (ties by item id).
    """
    out: dict[str, dict[str, list[str]]] = {}
    sessions = np.asarray(candidates.column("session_id").to_pylist(), dtype=object)
    items = np.asarray(candidates.column("item_id").to_pylist(), dtype=object)
    s_str, i_str = sessions.astype(str), items.astype(str)
    for target in targets:
        score = rules_score(candidates, target)
        order = np.lexsort((i_str, -score, s_str))
        s_sorted = s_str[order]
        ranked = items[order].tolist()
        # One slice per session instead of one append per row (hundreds of thousands).
        if not s_sorted.size:
            continue
        starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
        bounds = np.r_[starts, s_sorted.size].astype(np.int64).tolist()
        for j, a in enumerate(bounds[:-1]):
            out.setdefault(str(s_sorted[a]), {})[target] = ranked[a : bounds[j + 1]]
    return out
