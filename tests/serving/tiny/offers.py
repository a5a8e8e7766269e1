"""A tiny universal offer model (three users, four items) for the API fuzzing test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ATTRIBUTES = ["item_id", "category", "price"]


def tiny_data() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Events (``user_id, item_id, ts, event_type``) and items with the offer attributes."""
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "category": ["shoes", "shoes", "bags", "bags"],
            "price": [10.0, 60.0, 25.0, 90.0],
        }
    )
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    rows = [
        (user, item, t0 + pd.Timedelta(hours=h), kind)
        for user, seq in {"u1": "abab", "u2": "cdcd", "u3": "acbd"}.items()
        for h, (item, kind) in enumerate(zip(seq, ["view", "view", "order", "order"], strict=True))
    ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "ts", "event_type"])
    return events, items


def publish_tiny(store: Path) -> None:
    """Fit the tiny model and publish it as ``offers`` into the artifact store ``store``."""
    from reclift.models.offers.universal import UniversalOfferModel

    events, items = tiny_data()
    model = UniversalOfferModel(
        ATTRIBUTES, dim=4, n_user_meta=2, n_offer_meta=2, hidden=8, epochs=1, n_threads=1
    )
    model.fit(events, items).save(store, name="offers")
