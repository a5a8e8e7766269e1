"""Tiny customer vectors (six users) for the API fuzzing test."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def tiny_events() -> pd.DataFrame:
    """Two sessions per user over six items: users 1-3 browse a-c, users 4-6 browse d-f."""
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    rows = []
    for u in range(1, 7):
        pool = "abc" if u <= 3 else "def"
        for s in range(2):
            for h, item in enumerate(pool[s:] + pool[:s]):
                rows.append((f"u{u}", f"u{u}-s{s}", item, t0 + pd.Timedelta(hours=10 * s + h)))
    return pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "ts"])


def publish_tiny(store: Path) -> None:
    """Build the vectors and publish them as ``customer360`` into ``store``."""
    from reclift.models.embeddings.customer360 import build_customer_vectors, save_vectors

    cv = build_customer_vectors(tiny_events(), item_dim=4, profile_dim=2, item2vec_epochs=2)
    save_vectors(cv, store, "customer360")
