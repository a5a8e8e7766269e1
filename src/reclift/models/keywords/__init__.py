"""Seller keyword recommender: hygiene, product -> keyword retrieval, merging and ranking.

Public API: :class:`KeywordCleaner` / :func:`normalize_keyword` (hygiene), the retrievers
(:class:`DenseRetriever`, :class:`BM25ReverseRetriever`, :class:`CollaborativeRetriever`,
``twotower.TwoTowerRetriever``), :class:`KeywordRanker` (LR / XGBoost+SHAP / NN) and
:class:`KeywordSuggester` (all of it end to end, saved as one artifact).
"""

from reclift.models.keywords.base import KeywordRetriever, product_texts
from reclift.models.keywords.errors import KeywordInputError
from reclift.models.keywords.hygiene import KeywordCleaner, normalize_keyword
from reclift.models.keywords.ranker import KeywordRanker
from reclift.models.keywords.retrieval import (
    RETRIEVERS,
    BM25ReverseRetriever,
    CollaborativeRetriever,
    DenseRetriever,
)
from reclift.models.keywords.suggest import KeywordSuggester

__all__ = [
    "RETRIEVERS",
    "BM25ReverseRetriever",
    "CollaborativeRetriever",
    "DenseRetriever",
    "KeywordCleaner",
    "KeywordInputError",
    "KeywordRanker",
    "KeywordRetriever",
    "KeywordSuggester",
    "normalize_keyword",
    "product_texts",
]
