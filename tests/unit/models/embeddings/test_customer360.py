"""Customer-360 vectors: planted co-purchase groups end up close; store round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reclift.errors import SchemaError
from reclift.models.embeddings.customer360 import (
    build_customer_vectors,
    load_vectors,
    save_vectors,
)


def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users 0-14 buy from items a0-a4 (category A), users 15-29 from b0-b4 (B)."""
    rng = np.random.default_rng(0)
    rows = []
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    for u in range(30):
        grp = "a" if u < 15 else "b"
        for s in range(3):
            for h in range(4):
                item = f"{grp}{rng.integers(5)}"
                rows.append((f"u{u:02d}", f"u{u}-{s}", item, t0 + pd.Timedelta(hours=10 * s + h)))
    events = pd.DataFrame(rows, columns=["user_id", "session_id", "item_id", "ts"])
    items = pd.DataFrame(
        {"item_id": [f"{g}{i}" for g in "ab" for i in range(5)], "category": ["A"] * 5 + ["B"] * 5}
    )
    return events, items


def test_same_group_users_are_nearest_and_store_round_trips(tmp_path: Path) -> None:
    events, items = shop()
    cv = build_customer_vectors(events, items, item_dim=8, profile_dim=4)
    assert cv.vectors.shape == (30, 12)
    assert cv.blocks == {"item2vec": (0, 8), "profile": (8, 12)}
    sims = cv.vectors @ cv.vectors.T
    np.fill_diagonal(sims, -np.inf)
    nearest = sims.argmax(axis=1)
    group = np.arange(30) < 15
    assert (group[nearest] == group).mean() == 1.0
    art = save_vectors(cv, tmp_path / "store")
    again = load_vectors(art)
    np.testing.assert_array_equal(again.vectors, cv.vectors)
    assert list(again.user_ids) == list(cv.user_ids)


def test_bad_inputs() -> None:
    events, _ = shop()
    with pytest.raises(SchemaError, match=r"events: missing column\(s\) \['ts'\]"):
        build_customer_vectors(events.drop(columns="ts"))
    with pytest.raises(SchemaError, match="events is empty"):
        build_customer_vectors(events.iloc[:0])
