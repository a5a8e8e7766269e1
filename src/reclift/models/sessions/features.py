"""What session models share: the co-visitation index, candidates, rules scores, top-k.

The index holds the three co-visitation matrices (top-K neighbours per item) and item
popularity per event type, built by the Ibis pipelines of :mod:`reclift.pipelines` on an
engine: an in-process DuckDB by default, or any :class:`~reclift.engines.Engine` (Spark reads
the log's Parquet files itself, see :class:`EventFiles`).
Candidates and their features come from :func:`reclift.pipelines.candidates.session_candidates`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reclift.engines import DuckDBEngine, Engine
from reclift.errors import ArtifactError
from reclift.pipelines._common import event_type_rank, null_safe_keys
from reclift.pipelines.candidates import FEATURES, POP_TYPES, session_candidates
from reclift.pipelines.covisitation import (
    MATRICES,
    CovisitationInputs,
    covisitation_inputs,
    matrices_of,
)
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
        item_parts: int | None = None,
        before_us: int | None = None,
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
        item_parts
            Build the matrices in this many runs, each over a range of ``item_a`` ids
            (same rows, less memory and spill per run); ``None``: one run per
            :data:`EVENTS_PER_PART` events.
        before_us
            Use only the events less than this many microseconds after the first event
            with a session (the ranker's feature period), filtered by the engine: the
            caller keeps one copy of the log.

        Returns
        -------
        CovisitIndex
            Neighbours ordered by kind (:data:`MATRICES` order), ``item_a`` and ``rank``;
            popularity ordered by ``item_id``.
        """
        if engine is None:
            with DuckDBEngine() as own:
                return cls._build_on(own, events, params, item_parts, before_us)
        return cls._build_on(engine, events, params, item_parts, before_us)

    @classmethod
    def _build_on(
        cls,
        engine: Engine,
        events: pa.Table | EventFiles,
        params: IndexParams,
        item_parts: int | None,
        before_us: int | None,
    ) -> CovisitIndex:
        if item_parts is not None and (isinstance(item_parts, bool) or item_parts < 1):
            raise ValueError(f"item_parts must be a positive integer or None, got {item_parts!r}")
        parts = item_parts or _parts_for(events)
        if isinstance(events, EventFiles):
            raw = engine.read_parquet(list(events.paths), "reclift_session_events")
            log = _session_log(raw, events.last_days, before_us)
        else:
            raw = engine.read_arrow(events, "reclift_session_events")
            log = _session_log(raw, 0.0, before_us)
        inputs = covisitation_inputs(
            log,
            kinds=MATRICES,
            tail=params.tail,
            window=timedelta(hours=params.window_hours),
            buy_window=timedelta(days=params.buy_window_days),
            parts=parts,
        )
        # Split logs are prepared once (codes, tails, per-item rows) and paired a range of
        # items at a time; each range is one query for the three matrices (clicks and
        # carts/orders share their pairs). Ranges follow ids, so each kind's rows
        # concatenate in order.
        inputs = inputs.cache() if parts > 1 else inputs
        by_kind: dict[str, list[pa.Table]] = {kind: [] for kind in MATRICES}
        try:
            for part in range(parts):
                result = engine.to_arrow(_matrices(inputs, params, part))
                kinds = result.column("kind").cast(pa.string())
                for kind, tables in by_kind.items():
                    tables.append(result.filter(pc.equal(kinds, kind)))
                del result, kinds
        finally:
            inputs.release()
        result = pa.concat_tables([t for tables in by_kind.values() for t in tables])
        neighbours = pa.table(
            {
                "kind": result.column("kind").cast(pa.string()),
                "item_a": result.column("item_a"),
                "item_b": result.column("item_b"),
                "score": result.column("score").cast(pa.int64()),
                "rank": result.column("rank").cast(pa.int64()),
            }
        )
        return cls(neighbours, engine.to_arrow(_popularity(log)))

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


#: Events per range of items in :meth:`CovisitIndex.build`. The pairs of one range are
#: aggregated and cut to their top-K in one query. All ranges at once spilled over 30 GB
#: to disk at 219M simulated events; in 6 ranges the spill stayed near 5 GB. At 46M events
#: 4 ranges over cached inputs cost 123 CPU-s against 134 in one query, at the same peak.
EVENTS_PER_PART = 40_000_000


def _parts_for(events: pa.Table | EventFiles) -> int:
    if isinstance(events, EventFiles):
        n = sum(int(pq.ParquetFile(path).metadata.num_rows) for path in events.paths)
    else:
        n = events.num_rows
    return max(1, -(-n // EVENTS_PER_PART))


def read_log(engine: Engine, files: EventFiles, before_us: int | None = None) -> ir.Table:
    """The session log of ``files`` as the trainer sees it, on ``engine`` (lazy)."""
    raw = engine.read_parquet(list(files.paths), "reclift_session_events")
    return _session_log(raw, files.last_days, before_us)


def event_types_in(files: EventFiles) -> set[str]:
    """Distinct event types of the events with a session in ``files`` (an engine scan)."""
    with DuckDBEngine() as engine:
        log = read_log(engine, files)
        types = engine.to_arrow(log.select("event_type").distinct())
    return {str(t) for t in types.column("event_type").to_pylist()}


def session_starts(files: EventFiles) -> tuple[int, int, pa.Table]:
    """First and last event time (microseconds since the epoch) and each session's start.

    Returns
    -------
    t0, t1, firsts
        ``firsts`` has ``session_id`` and ``ts_min`` (timestamp), shape ``(n_sessions, 2)``.
    """
    with DuckDBEngine() as engine:
        log = read_log(engine, files)
        firsts = engine.to_arrow(log.group_by("session_id").aggregate(ts_min=log.ts.min()))
        last = engine.to_arrow(log.aggregate(t1=log.ts.max())).column("t1")
    if firsts.num_rows == 0:
        return 0, 0, firsts
    t0 = pc.min(firsts.column("ts_min").cast(pa.int64())).as_py()
    return int(t0), int(last.cast(pa.int64())[0].as_py()), firsts


def count_before(files: EventFiles, before_us: int) -> int:
    """Events with a session less than ``before_us`` microseconds after the first one."""
    with DuckDBEngine() as engine:
        log = read_log(engine, files, before_us)
        n = engine.to_arrow(log.aggregate(n=log.count())).column("n")
    return int(n[0].as_py())


def events_of_sessions(files: EventFiles, session_ids: pa.Array) -> pa.Table:
    """The events of the given sessions, ordered by session, time, funnel step and item.

    The order is total (rows of the same session, time, type and item are identical), so
    what is cut from them does not depend on how the engine scanned the files.
    """
    with DuckDBEngine() as engine:
        log = read_log(engine, files)
        wanted = engine.read_arrow(pa.table({"session_id": session_ids}), "reclift_sessions")
        chosen = log.semi_join(wanted, "session_id")
        ordered = chosen.order_by(
            [
                chosen.session_id,
                chosen.ts,
                event_type_rank(chosen.event_type),
                chosen.item_id,
            ]
        )
        return engine.to_arrow(ordered)


def _types(t: str) -> list[str]:
    return ["click", "view"] if t == "click" else [t]


def _session_log(events: ir.Table, last_days: float, before_us: int | None = None) -> ir.Table:
    # The trainer's view of the log (events with a session id; with last_days > 0 those
    # at most that long before the latest one; with before_us those before a cutoff),
    # expressed for the engine so it can read the raw files. Through integer deltas:
    # pipelines use no timestamp literals.
    log = events.filter(events.session_id.notnull()).select(*_LOG_COLUMNS)
    if before_us is not None:
        first = log.aggregate(t_first=log.ts.min())
        dated = log.cross_join(first)
        early = dated.ts.delta(dated.t_first, unit="microsecond") < int(before_us)
        log = dated.filter(early).select(*_LOG_COLUMNS)
    if last_days <= 0:
        return log
    window_us = timedelta(days=last_days) // timedelta(microseconds=1)
    latest = log.aggregate(t_latest=log.ts.max())
    dated = log.cross_join(latest)
    age = dated.t_latest.delta(dated.ts, unit="microsecond")
    return dated.filter(age <= window_us).select(*_LOG_COLUMNS)


def _matrices(inputs: CovisitationInputs, params: IndexParams, part: int) -> ir.Table:
    matrices = matrices_of(
        inputs, kinds=MATRICES, top_k_neighbours=params.top_k_neighbours, part=part
    )
    tables = [
        table.select(
            kind=ibis.literal(kind), item_a="item_a", item_b="item_b", score="score", rank="rank"
        )
        for kind, table in matrices.items()
    ]
    # Kinds in MATRICES order (their position), then item_a and rank, as the index promises.
    order = {kind: i for i, kind in enumerate(MATRICES)}
    union = ibis.union(*tables)
    position = ibis.cases(*[(union.kind == kind, i) for kind, i in order.items()], else_=len(order))
    return union.order_by([position, *null_safe_keys(union.item_a), union.rank])


def _popularity(log: ir.Table) -> ir.Table:
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
