"""Ranking metrics with binary relevance, batch-first.

Definitions (stated because published tables differ): ``recall_at_k`` divides the hits in
the top k by ``min(k, |relevant|)`` when ``capped=True`` (the OTTO definition) and by
``|relevant|`` otherwise; ``ndcg_at_k`` uses binary gains and log2 discounts; users with no
relevant items are skipped and counted.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from reclift.errors import ReclifError


@dataclass(frozen=True)
class RankingScores:
    """Mean metrics over the users that have at least one relevant item.

    Attributes
    ----------
    k
        Cut-off.
    users
        Users evaluated.
    skipped
        Users without relevant items (not averaged).
    recall, precision, ndcg, hit_rate
        Means over evaluated users.
    """

    k: int
    users: int
    skipped: int
    recall: float
    precision: float
    ndcg: float
    hit_rate: float


def ranking_scores(
    recommended: Mapping[str, Sequence[str | None]],
    relevant: Mapping[str, Collection[str]],
    k: int,
    *,
    capped: bool = False,
) -> RankingScores:
    """Score ranked lists against sets of relevant items.

    Parameters
    ----------
    recommended
        user -> ranked item ids (None entries are padding and never hit).
    relevant
        user -> relevant item ids (the ground truth); users absent from ``recommended``
        count as empty recommendations.
    k
        Cut-off, >= 1.
    capped
        Divide recall by ``min(k, |relevant|)`` instead of ``|relevant|``.
    """
    if k < 1:
        raise ReclifError(f"k must be >= 1, got {k}")
    n = skipped = 0
    sum_recall = sum_precision = sum_ndcg = sum_hit = 0.0
    for user, truth in relevant.items():
        truth_set = set(truth)
        if not truth_set:
            skipped += 1
            continue
        ranked = list(recommended.get(user, ()))[:k]
        hits = [i for i, item in enumerate(ranked) if item is not None and item in truth_set]
        n_hits = len(set(ranked[i] for i in hits))
        denom = min(k, len(truth_set)) if capped else len(truth_set)
        sum_recall += n_hits / denom
        sum_precision += n_hits / k
        dcg = sum(1.0 / math.log2(i + 2) for i in hits)
        idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(truth_set))))
        sum_ndcg += dcg / idcg
        sum_hit += 1.0 if hits else 0.0
        n += 1
    if n == 0:
        return RankingScores(k, 0, skipped, math.nan, math.nan, math.nan, math.nan)
    return RankingScores(
        k=k,
        users=n,
        skipped=skipped,
        recall=sum_recall / n,
        precision=sum_precision / n,
        ndcg=sum_ndcg / n,
        hit_rate=sum_hit / n,
    )
