"""The recommendation family: :class:`Recommender` and its implementations."""

from __future__ import annotations

from reclift.models.recs.base import Recommender
from reclift.models.recs.popular import PopularRecommender
from reclift.models.recs.registry import RECOMMENDERS, get_recommender, load_recommender

__all__ = [
    "RECOMMENDERS",
    "PopularRecommender",
    "Recommender",
    "get_recommender",
    "load_recommender",
]
