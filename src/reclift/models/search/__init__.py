"""The search family: text encoders, BM25, vector indexes and hybrid product search."""

from __future__ import annotations

from reclift.models.search.base import TextEncoder, VectorIndex, exact_search
from reclift.models.search.bm25 import BM25Retriever
from reclift.models.search.encoders import HashingEncoder, MiniLMEncoder
from reclift.models.search.fusion import FUSIONS, convex_fusion, minmax, rrf
from reclift.models.search.index import FaissIndex, USearchIndex
from reclift.models.search.product_search import ProductSearch
from reclift.models.search.registry import ENCODERS, INDEXES, get_encoder, get_index

__all__ = [
    "ENCODERS",
    "FUSIONS",
    "INDEXES",
    "BM25Retriever",
    "FaissIndex",
    "HashingEncoder",
    "MiniLMEncoder",
    "ProductSearch",
    "TextEncoder",
    "USearchIndex",
    "VectorIndex",
    "convex_fusion",
    "exact_search",
    "get_encoder",
    "get_index",
    "minmax",
    "rrf",
]
