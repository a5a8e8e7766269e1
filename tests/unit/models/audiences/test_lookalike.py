"""Lookalike expansion on planted clusters: recall of the hidden half vs random/popularity."""

from __future__ import annotations

import numpy as np
import pytest

from reclift.errors import ReclifError
from reclift.models.audiences.lookalike import expand, hidden_half_recall, lookalike_scores
from reclift.models.errors import InvalidParameterError


def clusters() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """300 users in 3 well separated clusters; the audience is cluster 0 (100 users)."""
    rng = np.random.default_rng(0)
    centers = np.eye(3, 8) * 4
    labels = np.repeat(np.arange(3), 100)
    x = centers[labels] + rng.normal(size=(300, 8))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.array([f"u{i:03d}" for i in range(300)], dtype=object)
    return ids, x.astype(np.float32), [str(u) for u in ids[labels == 0]]


def test_hidden_half_is_found_and_baselines_are_not() -> None:
    ids, x, audience = clusters()
    activity = np.arange(300)[::-1].astype(float)  # the most active users are cluster 0...
    activity[:100] = 0  # ...no: make them the least active, so popularity fails
    rec = hidden_half_recall(ids, x, audience, ks=[50], activity=activity)
    assert rec["ann"][50] > 0.95
    assert rec["pu"][50] > 0.95
    assert rec["random"][50] < 0.4  # expected 50/250 = 0.2
    assert rec["popularity"][50] == 0.0


def test_expand_excludes_seed_and_orders_by_score() -> None:
    ids, x, audience = clusters()
    top, scores = expand(ids, x, audience[:20], k=30)
    assert not set(top) & set(audience[:20])
    assert set(top) <= set(audience)
    assert (np.diff(scores) <= 0).all()


def test_bad_inputs() -> None:
    ids, x, _ = clusters()
    with pytest.raises(ReclifError, match="none of its users has a customer vector"):
        expand(ids, x, ["ghost"], k=5)
    with pytest.raises(InvalidParameterError, match="k must be a positive integer"):
        expand(ids, x, ["u000"], k=0)
    with pytest.raises(InvalidParameterError, match="needs the users' activity"):
        lookalike_scores(x, np.array([0]), "popularity")
    with pytest.raises(ReclifError, match="need at least 4"):
        hidden_half_recall(ids, x, ["u000", "u001"], ks=[5])


def test_cli_embeddings_build_then_lookalike(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow.csv as pacsv

    from reclift.cli.main import main

    lines = ["cust,sku,when"]
    for u in range(20):
        grp = "a" if u < 10 else "b"
        for h in range(6):
            lines.append(f"c{u:02d},{grp}{(u + h) % 4},2026-01-01T{h:02d}:00:00Z")
    (tmp_path / "ev.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "seed.csv").write_text("user_id\nc00\nc01\nc02\n")
    store = tmp_path / "vec"
    with pytest.raises(SystemExit) as info:
        main(["embeddings", "build", "--events", str(tmp_path / "ev.csv"), "--out", str(store),
              "--user-col", "cust", "--item-col", "sku", "--time-col", "when",
              "--item-dim", "8", "--profile-dim", "2"])  # fmt: skip
    assert info.value.code == 0
    out = tmp_path / "look.csv"
    with pytest.raises(SystemExit) as info:
        main(["lookalike", "--vectors", str(store), "--seed", str(tmp_path / "seed.csv"),
              "--k", "5", "--out", str(out)])  # fmt: skip
    assert info.value.code == 0
    got = [str(u) for u in pacsv.read_csv(out).column("user_id").to_pylist()]
    assert len(got) == 5 and not {"c00", "c01", "c02"} & set(got)
