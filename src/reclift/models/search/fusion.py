"""Fusion of a lexical and a dense score list into one hybrid ranking.

Two rules, both per query over one candidate set (the union of the retrievers' top lists,
or the candidates being reranked):

* :func:`rrf`: reciprocal rank fusion, ``sum_l w_l / (rrf_k + 1 + rank_l)``; uses ranks only.
* :func:`convex_fusion`: each retriever's scores min-max normalised over the candidate set,
  then ``dense_weight * dense + (1 - dense_weight) * lexical``. Unlike RRF it keeps how far
  apart the scores are: a BM25 list where one product matches every query term and the rest
  match one stays decisive, a list of near-equal cosines does not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FUSIONS = ("convex", "rrf")


def rrf(
    rank_lists: Sequence[np.ndarray],
    n_items: int,
    rrf_k: float,
    weights: Sequence[float] | None = None,
) -> np.ndarray:
    """Reciprocal-rank-fusion scores, shape ``(n_items,)``, from lists of positions (best first).

    ``-1`` entries (padding) are skipped; an item absent from a list gets nothing from it.
    ``weights`` (default all 1) scale each list's contribution (a weighted blend).
    """
    out = np.zeros(n_items, dtype=np.float64)
    for n, ranks in enumerate(rank_lists):
        valid = ranks >= 0
        pos = ranks[valid]
        w = 1.0 if weights is None else float(weights[n])
        out[pos] += w / (rrf_k + 1.0 + np.flatnonzero(valid))
    return out


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scores scaled to ``[0, 1]`` over their finite values, shape as ``scores``.

    Non-finite entries (no lexical match, filtered out) become 0, the worst; a set whose
    finite scores are all equal carries no ordering and becomes all 0, so it does not move
    the fused order.
    """
    x = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(x)
    out = np.zeros(x.shape, dtype=np.float64)
    if not finite.any():
        return out
    lo = float(x[finite].min())
    span = float(x[finite].max()) - lo
    if span > 0:
        out[finite] = (x[finite] - lo) / span
    return out


def convex_fusion(dense: np.ndarray, lexical: np.ndarray, dense_weight: float) -> np.ndarray:
    """Convex blend of min-max normalised scores, shape ``(n,)`` float64.

    Parameters
    ----------
    dense
        Shape ``(n,)``: cosine similarities of the ``n`` candidates.
    lexical
        Shape ``(n,)``: BM25 scores of the same candidates (``-inf`` or 0 = no match).
    dense_weight
        In ``[0, 1]``: 1 ranks by the dense scores alone, 0 by the lexical scores alone.
    """
    w = float(dense_weight)
    return w * minmax(dense) + (1.0 - w) * minmax(lexical)
