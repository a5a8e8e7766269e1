"""Candidates of one live session in memory: the service's path, without a query engine.

:func:`reclift.pipelines.candidates.session_candidates` builds candidates for many sessions
at once on DuckDB; for one session of a few events, starting an engine and compiling the
query costs far more than the work. :class:`OnlineCandidates` holds the co-visitation
neighbours as compressed rows (CSR) per matrix and computes the same candidates and the
same :data:`~reclift.pipelines.candidates.FEATURES` with NumPy (equal up to floating-point
summation order; ``tests/unit/jobs/test_training_sessions.py`` and
``tests/serving/test_sessions_api.py`` check it against the pipeline).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.pipelines.candidates import FEATURES, HISTORY_TYPE_WEIGHTS, NOT_IN_HISTORY, POP_TYPES
from reclift.pipelines.covisitation import MATRICES
from reclift.schema.tables import EVENT_TYPES

#: Funnel position used to order events of the same instant (as ``event_type_rank``).
_TYPE_RANK = {t: i for i, t in enumerate(EVENT_TYPES)}
_CLICK_TYPES = frozenset(("click", "view"))


@dataclass(frozen=True)
class _Matrix:
    """Neighbours of one co-visitation matrix: row ``c`` is ``item_b[indptr[c]:indptr[c+1]]``."""

    indptr: np.ndarray
    item_b: np.ndarray
    norm: np.ndarray


def _history_order(items: Sequence[str], types: Sequence[str], ts: Sequence[int]) -> list[int]:
    # Latest first; at one instant the later funnel step first, then item id descending:
    # the total order of the pipeline's window.
    n = len(items)
    return sorted(
        range(n), key=lambda i: (ts[i], _TYPE_RANK.get(types[i], len(EVENT_TYPES)), items[i])
    )[::-1]


class OnlineCandidates:
    """Candidate rows and features for a single session, computed in memory.

    Parameters
    ----------
    neighbours
        ``kind``, ``item_a``, ``item_b``, ``score``, ``rank``, shape ``(n_pairs, 5)`` (a
        :class:`~reclift.models.sessions.features.CovisitIndex`'s table).
    item_pop
        ``item_id``, ``n_click``, ``n_cart``, ``n_order``, shape ``(n_items, 4)``.
    n_expand, n_popular, half_life
        As in :func:`~reclift.pipelines.candidates.session_candidates`.
    """

    def __init__(
        self,
        neighbours: pa.Table,
        item_pop: pa.Table,
        *,
        n_expand: int,
        n_popular: int,
        half_life: float = 5.0,
    ) -> None:
        self.n_expand = n_expand
        self.n_popular = n_popular
        self.half_life = half_life
        nb = neighbours.filter(pc.less_equal(neighbours.column("rank"), n_expand))
        pop_ids = item_pop.column("item_id").cast(pa.string())
        vocab = pc.unique(
            pa.chunked_array(
                [
                    *pop_ids.chunks,
                    *nb.column("item_a").cast(pa.string()).chunks,
                    *nb.column("item_b").cast(pa.string()).chunks,
                ],
                type=pa.string(),
            )
        )
        vocab = vocab.take(pc.sort_indices(vocab))
        self.vocab: np.ndarray = np.asarray(vocab.to_pylist(), dtype=object)
        self.codes: dict[str, int] = {v: i for i, v in enumerate(self.vocab.tolist())}
        n = self.vocab.size

        # Popularity and its 1-based ranks (descending count, ties by id) per event type;
        # rank 0 for items absent from item_pop, as the pipeline's fill value.
        pop_codes = np.asarray(pc.index_in(pop_ids, value_set=vocab).to_numpy(), dtype=np.int64)
        pop_id_arr = np.asarray(pop_ids.to_pylist(), dtype=object).astype(str)
        self.pop: dict[str, np.ndarray] = {}
        self.pop_rank: dict[str, np.ndarray] = {}
        top = np.zeros(n, dtype=bool)
        for t in POP_TYPES:
            counts = np.asarray(item_pop.column(f"n_{t}").to_numpy(), dtype=np.float64)
            values = np.zeros(n, dtype=np.float64)
            values[pop_codes] = counts
            order = np.lexsort((pop_id_arr, -counts))
            rank = np.zeros(n, dtype=np.float64)
            rank[pop_codes[order]] = np.arange(1, order.size + 1, dtype=np.float64)
            self.pop[t], self.pop_rank[t] = values, rank
            if n_popular > 0:
                top |= (rank >= 1) & (rank <= n_popular)
        self.top_codes: np.ndarray = np.flatnonzero(top)

        self.matrices: dict[str, _Matrix] = {}
        kinds = nb.column("kind").to_numpy(zero_copy_only=False)
        a_all = np.asarray(
            pc.index_in(nb.column("item_a").cast(pa.string()), value_set=vocab).to_numpy(),
            dtype=np.int64,
        )
        b_all = np.asarray(
            pc.index_in(nb.column("item_b").cast(pa.string()), value_set=vocab).to_numpy(),
            dtype=np.int64,
        )
        score_all = np.asarray(nb.column("score").to_numpy(), dtype=np.float64)
        for kind in MATRICES:
            mask = kinds == kind
            a, b, score = a_all[mask], b_all[mask], score_all[mask]
            order = np.argsort(a, kind="stable")
            a, b, score = a[order], b[order], score[order]
            # Scores over each item's best neighbour: matrices on different scales then mix.
            best = np.zeros(n, dtype=np.float64)
            np.maximum.at(best, a, score)
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(a, minlength=n), out=indptr[1:])
            self.matrices[kind] = _Matrix(indptr, b, score / np.where(best[a] > 0, best[a], 1.0))

    def is_known(self, item_id: str) -> bool:
        """Whether the fitting log had the item (it has popularity or neighbours)."""
        return item_id in self.codes

    def candidates(
        self,
        session_id: str,
        items: Sequence[str],
        types: Sequence[str],
        ts_us: Sequence[int],
    ) -> pa.Table:
        """Candidates of one session with the pipeline's features.

        Parameters
        ----------
        session_id
            Written into the ``session_id`` column.
        items, types, ts_us
            The session's events: item ids, canonical event types and times in microseconds
            since the epoch, length ``n_events >= 1`` each, in any order.

        Returns
        -------
        pa.Table
            ``session_id``, ``item_id`` and :data:`FEATURES` (float64), shape
            ``(n_candidates, 2 + len(FEATURES))``, ordered by ``item_id``.
        """
        n_ev = len(items)
        hl = self.half_life
        order = _history_order(items, types, ts_us)
        hist: dict[str, list[float]] = {}
        # per item: click, cart, order, recency, score, last_rev, last_ts, view, click only,
        # last type (the first event met latest-first is the last one)
        for rev0, i in enumerate(order):
            rev = rev0 + 1.0
            w = 0.5 ** (rev / hl)
            kind = types[i]
            row = hist.get(items[i])
            if row is None:
                last_type = float(_TYPE_RANK.get(kind, len(EVENT_TYPES)) + 1)
                row = [0.0, 0.0, 0.0, 0.0, 0.0, rev, float(ts_us[i]), 0.0, 0.0, last_type]
                hist[items[i]] = row
            row[7] += kind == "view"
            row[8] += kind == "click"
            row[0] += kind in _CLICK_TYPES
            row[1] += kind == "cart"
            row[2] += kind == "order"
            row[3] += w
            row[4] += w * HISTORY_TYPE_WEIGHTS.get(kind, 0.0)
            row[5] = min(row[5], rev)
            row[6] = max(row[6], float(ts_us[i]))
        s_end = max(ts_us)
        s_start = min(ts_us)

        # Co-visitation expansion of every known history item.
        n_vocab = self.vocab.size
        cv_codes: dict[str, list[np.ndarray]] = {k: [] for k in MATRICES}
        cv_vals: dict[str, list[np.ndarray]] = {k: [] for k in MATRICES}
        # Neighbours of the session's last item alone (its normalised scores).
        last_codes: dict[str, np.ndarray] = {}
        last_vals: dict[str, np.ndarray] = {}
        for item, row in hist.items():
            code = self.codes.get(item)
            if code is None:
                continue
            hw = 0.5 ** (row[5] / hl)
            buy = row[1] + row[2] > 0
            for kind, m in self.matrices.items():
                if kind == "buy2buy" and not buy:
                    continue
                lo, hi = int(m.indptr[code]), int(m.indptr[code + 1])
                if hi > lo:
                    cv_codes[kind].append(m.item_b[lo:hi])
                    cv_vals[kind].append(hw * m.norm[lo:hi])
                    if row[5] == 1.0:
                        last_codes[kind], last_vals[kind] = m.item_b[lo:hi], m.norm[lo:hi]

        # Candidate universe: vocabulary codes, history items unknown to the index after it.
        hist_ids = list(hist)
        extra = [s for s in hist_ids if s not in self.codes]
        extra_code = {s: n_vocab + j for j, s in enumerate(extra)}
        hist_codes = np.asarray(
            [self.codes.get(s, extra_code.get(s, -1)) for s in hist_ids], dtype=np.int64
        )
        parts = [hist_codes, self.top_codes]
        for kind in MATRICES:
            parts.extend(cv_codes[kind])
        universe = np.unique(np.concatenate(parts))
        m_rows = universe.size
        feats: dict[str, np.ndarray] = {}

        h = np.zeros((m_rows, 10), dtype=np.float64)
        h[:, 5] = float(NOT_IN_HISTORY)
        in_hist = np.zeros(m_rows, dtype=bool)
        pos = np.searchsorted(universe, hist_codes)
        h[pos] = np.asarray([hist[s] for s in hist_ids], dtype=np.float64)
        in_hist[pos] = True
        for j, name in enumerate(("h_click", "h_cart", "h_order", "h_recency", "h_score")):
            feats[name] = h[:, j]
        feats["h_last_rev"] = h[:, 5]
        feats["h_view"], feats["h_click_only"], feats["h_last_type"] = h[:, 7], h[:, 8], h[:, 9]
        for t in ("click", "cart", "order"):
            feats[f"s_n_{t}"] = np.full(m_rows, float(sum(k == t for k in types)))
        last_code = _TYPE_RANK.get(types[order[0]], len(EVENT_TYPES)) + 1
        feats["s_last_type"] = np.full(m_rows, float(last_code))
        # Whole milliseconds crossed (the pipeline's DuckDB millisecond delta), in seconds.
        end_ms = s_end // 1000
        last_ms = np.floor_divide(h[:, 6].astype(np.int64), 1000)
        feats["h_secs"] = np.where(in_hist, (end_ms - last_ms) / 1000.0, -1.0)
        for kind in MATRICES:
            n_col = np.zeros(m_rows, dtype=np.float64)
            w_col = np.zeros(m_rows, dtype=np.float64)
            if cv_codes[kind]:
                codes = np.concatenate(cv_codes[kind])
                vals = np.concatenate(cv_vals[kind])
                at = np.searchsorted(universe, codes)
                n_col += np.bincount(at, minlength=m_rows)
                w_col += np.bincount(at, weights=vals, minlength=m_rows)
            feats[f"cv_{kind}_n"], feats[f"cv_{kind}_w"] = n_col, w_col
            l_col = np.zeros(m_rows, dtype=np.float64)
            if kind in last_codes:
                at = np.searchsorted(universe, last_codes[kind])
                l_col += np.bincount(at, weights=last_vals[kind], minlength=m_rows)
            feats[f"cv_{kind}_last"] = l_col
        known = universe < n_vocab
        safe = np.where(known, universe, 0)
        for t in POP_TYPES:
            feats[f"pop_{t}"] = np.where(known, self.pop[t][safe], 0.0)
            feats[f"pop_rank_{t}"] = np.where(known, self.pop_rank[t][safe], 0.0)
        feats["s_len"] = np.full(m_rows, float(n_ev))
        feats["s_items"] = np.full(m_rows, float(len(hist)))
        feats["s_secs"] = np.full(m_rows, (s_end // 1000 - s_start // 1000) / 1000.0)

        ids = np.concatenate([self.vocab, np.asarray(extra, dtype=object)])[universe]
        by_id = np.argsort(ids.astype(str), kind="stable")
        columns: dict[str, pa.Array] = {
            "session_id": pa.array([session_id] * m_rows, pa.string()),
            "item_id": pa.array(ids[by_id].tolist(), pa.string()),
        }
        for name in FEATURES:
            columns[name] = pa.array(feats[name][by_id], pa.float64())
        return pa.table(columns)
