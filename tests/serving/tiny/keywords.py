"""A tiny keyword suggester (hashing encoder, XGBoost ranker) for API tests and fuzzing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from reclift.models.keywords.suggest import KeywordSuggester

NAME = "keywords"

TITLES = {
    "p01": "red running shoe for men",
    "p02": "blue running shoe for women",
    "p03": "leather wallet with coin pocket",
    "p04": "slim leather wallet for cards",
    "p05": "garden hose fifty feet",
    "p06": "garden hose reel with nozzle",
    "p07": "burr coffee grinder electric",
    "p08": "manual coffee grinder ceramic",
    "p09": "non slip yoga mat",
    "p10": "thick yoga mat with strap",
    "p11": "trail running shoe waterproof",
    "p12": "travel wallet passport holder",
}
QUERIES = {
    "p01": ["running shoe", "red shoe"],
    "p02": ["running shoe", "women shoe"],
    "p03": ["leather wallet"],
    "p04": ["leather wallet", "card wallet"],
    "p05": ["garden hose"],
    "p06": ["garden hose", "hose reel"],
    "p07": ["coffee grinder"],
    "p08": ["coffee grinder", "manual grinder"],
    "p09": ["yoga mat"],
    "p10": ["yoga mat", "thick mat"],
    "p11": ["running shoe", "trail shoe"],
    "p12": ["travel wallet", "leather wallet"],
}


def products() -> pa.Table:
    """``(item_id, text)`` of the tiny catalog."""
    return pa.table({"item_id": list(TITLES), "text": list(TITLES.values())})


def interactions() -> pa.Table:
    """One click per (query, product) pair of :data:`QUERIES`."""
    pairs = [(q, p) for p, qs in QUERIES.items() for q in qs]
    return pa.table(
        {
            "keyword": [q for q, _ in pairs],
            "item_id": [p for _, p in pairs],
            "weight": [1.0] * len(pairs),
        }
    )


def fit_tiny() -> KeywordSuggester:
    """The tiny suggester, fitted (well under a second)."""
    return KeywordSuggester(
        ("dense", "bm25", "collaborative"),
        encoder="hashing",
        n_candidates=10,
        ranker="xgb",
        validation_fraction=0.5,
    ).fit(products(), None, interactions())


def publish_tiny(store: Path) -> None:
    """Publish the tiny suggester into the artifact store ``store``."""
    fit_tiny().save(store, NAME, meta={"trained_from": "tests.serving.tiny"})
