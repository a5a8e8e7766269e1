"""The recommendation family: :class:`Recommender` and its implementations."""

from __future__ import annotations

from reclift.models.recs.base import RecFilters, Recommender
from reclift.models.recs.category import CategoryRecommender
from reclift.models.recs.copurchase import CoPurchaseRecommender
from reclift.models.recs.customer_knn import CustomerKNNRecommender
from reclift.models.recs.ease import EASERecommender
from reclift.models.recs.implicit_mf import ALSRecommender, BPRRecommender
from reclift.models.recs.itemknn import ItemKNNRecommender
from reclift.models.recs.popular import PopularRecommender
from reclift.models.recs.registry import RECOMMENDERS, get_recommender, load_recommender
from reclift.models.recs.scored import ScoredRecommender

__all__ = [
    "RECOMMENDERS",
    "ALSRecommender",
    "BPRRecommender",
    "CategoryRecommender",
    "CoPurchaseRecommender",
    "CustomerKNNRecommender",
    "EASERecommender",
    "ItemKNNRecommender",
    "PopularRecommender",
    "RecFilters",
    "Recommender",
    "ScoredRecommender",
    "get_recommender",
    "load_recommender",
]
