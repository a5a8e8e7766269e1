"""Per-offer AUC and its positive-weighted mean (wAUC), the universal offer model's benchmark.

Protocol (seed 000): every attribute value (or expression) with enough test events is an
offer; for each offer, rank the test users by the model's score; positives are users with a
target event the offer covers; negatives are the others, *excluding* any negative that matches
the offer's key (a row whose offer satisfies the key is not a negative of that key).
wAUC over a group of offers is their AUC weighted by their number of positives. Offers are
bucketed into "popular" (more than 200 positive test events) and "cold-start" (10 to 200).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from reclift.errors import ReclifError

POPULAR_MIN = 201
COLD_START_RANGE = (10, 200)


def auc(
    scores: np.ndarray,
    labels: np.ndarray,
    exclude: np.ndarray | None = None,
) -> float:
    """ROC AUC by the Mann-Whitney rank sum, ties counted one half.

    Parameters
    ----------
    scores
        Shape ``(n,)``, higher means more likely positive.
    labels
        Shape ``(n,)``, boolean or 0/1.
    exclude
        Shape ``(n,)`` boolean: rows left out (negatives matching the key).

    Returns
    -------
    float
        NaN when there is no positive or no negative left.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ReclifError(f"auc: scores {s.shape} and labels {y.shape} must be equal 1-d shapes")
    if exclude is not None:
        keep = ~np.asarray(exclude, dtype=bool)
        if keep.shape != s.shape:
            raise ReclifError(f"auc: exclude has shape {keep.shape}, expected {s.shape}")
        # a positive is never excluded: only negatives that match the key are dropped
        keep |= y
        s, y = s[keep], y[keep]
    if not np.isfinite(s).all():
        raise ReclifError("auc: scores contain NaN or infinite values")
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@dataclass(frozen=True)
class OfferScore:
    """One offer's AUC for one model."""

    model: str
    offer_type: str
    offer: str
    n_pos: int
    n_neg: int
    auc: float

    @property
    def bucket(self) -> str:
        """``popular``, ``cold-start`` or ``rare`` by the number of positives."""
        return offer_bucket(self.n_pos)


def offer_bucket(n_pos: int) -> str:
    """Seed 000's buckets: popular (> 200 positives), cold-start (10-200), else rare."""
    if n_pos >= POPULAR_MIN:
        return "popular"
    if COLD_START_RANGE[0] <= n_pos <= COLD_START_RANGE[1]:
        return "cold-start"
    return "rare"


def score_offer(
    model: str,
    offer_type: str,
    offer: str,
    scores: np.ndarray,
    labels: np.ndarray,
    exclude: np.ndarray | None = None,
    *,
    n_pos: int | None = None,
) -> OfferScore:
    """AUC of one offer as an :class:`OfferScore`.

    ``n_pos`` overrides the positive count used for weighting and bucketing (e.g. the number
    of positive *events* when labels are per user); by default the number of positive labels.
    """
    y = np.asarray(labels).astype(bool)
    keep = y | (~np.asarray(exclude, dtype=bool) if exclude is not None else True)
    pos = int(y.sum()) if n_pos is None else int(n_pos)
    return OfferScore(
        model, offer_type, offer, pos, int((keep & ~y).sum()), auc(scores, y, exclude)
    )


def weighted_auc(results: Sequence[OfferScore]) -> float:
    """Mean AUC weighted by positives; offers with an undefined AUC are skipped."""
    num = 0.0
    den = 0
    for r in results:
        if np.isnan(r.auc):
            continue
        num += r.auc * r.n_pos
        den += r.n_pos
    return num / den if den else float("nan")


def summarize(
    results: Sequence[OfferScore], bucket_of: Callable[[int], str] | None = None
) -> pd.DataFrame:
    """wAUC per model, offer type and bucket (``bucket_of(n_pos)``; default the seed's).

    Returns
    -------
    pandas.DataFrame
        Columns ``model, offer_type, bucket, n_offers, n_pos, wauc`` (``rare`` offers are left
        out, as in the seed).
    """
    if not results:
        return pd.DataFrame(columns=["model", "offer_type", "bucket", "n_offers", "n_pos", "wauc"])
    frame = pd.DataFrame(
        [
            asdict(r) | {"bucket": r.bucket if bucket_of is None else bucket_of(r.n_pos)}
            for r in results
        ]
    )
    frame = frame[(frame["bucket"] != "rare") & frame["auc"].notna()]
    rows = []
    for (model, otype, bucket), grp in frame.groupby(["model", "offer_type", "bucket"], sort=True):
        w = grp["n_pos"].to_numpy(dtype=float)
        rows.append(
            {
                "model": model,
                "offer_type": otype,
                "bucket": bucket,
                "n_offers": len(grp),
                "n_pos": int(w.sum()),
                "wauc": float((grp["auc"].to_numpy() * w).sum() / w.sum()),
            }
        )
    return pd.DataFrame(rows)
