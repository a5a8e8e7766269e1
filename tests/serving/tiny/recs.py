"""Tiny recommenders (popular, item-kNN, co-purchase, category) for the recs routes.

Item ids include a ``/`` and non-ASCII characters so the item routes are exercised with
ids that need percent-encoding.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from reclift.models.recs import (
    CategoryRecommender,
    CoPurchaseRecommender,
    ItemKNNRecommender,
    PopularRecommender,
)

ITEMS = pa.table(
    {
        "item_id": ["a", "b", "c/1", "d", "é€", "f"],
        "title": ["red shoe", "blue shoe", "trail bag", "sun hat", "rain coat", "wool sock"],
        "category": ["shoes>running", "shoes>trail", "bags", "hats", "coats", "shoes>socks"],
        "price": [10.0, 20.0, 30.0, 5.0, 50.0, None],
    }
)
_BASKETS = [
    ("u1", "s1", ["a", "b", "f"]),
    ("u1", "s2", ["c/1"]),
    ("u2", "s3", ["a", "b"]),
    ("u2", "s4", ["d", "é€"]),
    ("u3", "s5", ["b", "c/1", "f"]),
    ("u4", "s6", ["a", "f", "d"]),
    ("u5", "s7", ["é€", "d"]),
]


def tiny_events() -> pa.Table:
    """Views and orders of five users over seven sessions."""
    users, sessions, items, types = [], [], [], []
    for user, session, basket in _BASKETS:
        for n, item in enumerate(basket):
            users.append(user)
            sessions.append(session)
            items.append(item)
            types.append("order" if n == 0 else "view")
    return pa.table(
        {"user_id": users, "session_id": sessions, "item_id": items, "event_type": types}
    )


def publish_tiny(store: Path) -> None:
    """Publish ``popular``, ``itemknn``, ``copurchase`` and ``category`` into ``store``."""
    events = tiny_events()
    for model in (
        PopularRecommender(),
        ItemKNNRecommender(),
        CoPurchaseRecommender(),
        CategoryRecommender(half_life_days=None),
    ):
        model.fit(events, ITEMS).save(store)
