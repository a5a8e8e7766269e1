"""A tiny product-search index (hashed n-gram vectors, exact faiss) for the search routes."""

from __future__ import annotations

from pathlib import Path

from tests.serving.tiny.recs import ITEMS

from reclift.models.search.product_search import ProductSearch


def fit_tiny() -> ProductSearch:
    """Index the tiny catalog's titles and categories."""
    return ProductSearch(
        text_columns=("title", "category"), encoder="hashing", index="faiss", index_kind="exact"
    ).fit(ITEMS)


def publish_tiny(store: Path) -> None:
    """Publish the index as ``product_search`` into ``store``."""
    fit_tiny().save(store)
