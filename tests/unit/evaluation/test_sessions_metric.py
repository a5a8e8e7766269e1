"""The OTTO metric and its labelling, against hand-computed values (KAGGLE.md definition)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reclift.datasets.otto import load as load_otto
from reclift.evaluation.sessions import (
    MetricError,
    hit_rate_mrr,
    labels_after,
    next_item_targets,
    otto_score,
    read_submission,
    recall_at_k,
    truncate_sessions,
)
from reclift.schema.tables import TIMESTAMP

T0 = dt.datetime(2022, 8, 1, tzinfo=dt.UTC)

# The labelled session of KAGGLE.md: (aid, type) in time order and the documented labels of
# each event (what follows it).
KAGGLE_EVENTS = [
    ("0", "click"), ("1", "click"), ("2", "click"), ("2", "cart"), ("3", "click"),
    ("3", "cart"), ("4", "click"), ("2", "order"), ("3", "order"),
]  # fmt: skip
KAGGLE_LABELS = [
    {"clicks": ["1"], "carts": ["2", "3"], "orders": ["2", "3"]},
    {"clicks": ["2"], "carts": ["2", "3"], "orders": ["2", "3"]},
    {"clicks": ["3"], "carts": ["2", "3"], "orders": ["2", "3"]},
    {"clicks": ["3"], "carts": ["3"], "orders": ["2", "3"]},
    {"clicks": ["4"], "carts": ["3"], "orders": ["2", "3"]},
    {"clicks": ["4"], "orders": ["2", "3"]},
    {"orders": ["2", "3"]},
    {"orders": ["3"]},
]


@pytest.mark.parametrize("position", range(len(KAGGLE_LABELS)))
def test_labels_match_the_documented_example(position: int) -> None:
    after = KAGGLE_EVENTS[position + 1 :]
    got = labels_after([a for a, _ in after], [t for _, t in after])
    assert got == KAGGLE_LABELS[position]


def test_weighted_recall_hand_computed() -> None:
    labels = {
        "s1": {"clicks": ["a"], "carts": ["b", "c"], "orders": ["b"]},
        "s2": {"clicks": ["d"], "orders": ["e", "f", "g"]},
        "s3": {"carts": ["h"]},
    }
    preds = {
        "s1": {"clicks": ["x", "a"], "carts": ["b", "b", "y"], "orders": []},
        # 'd' is the 21st prediction: truncated away.
        "s2": {"clicks": [f"p{i}" for i in range(20)] + ["d"], "orders": ["e", "g", "z"]},
    }
    result = otto_score(preds, labels)
    # clicks (1 + 0) / (1 + 1); carts (1 + 0) / (2 + 1), the duplicate 'b' counts once;
    # orders (0 + 2) / (1 + 3); 0.1 * 0.5 + 0.3 / 3 + 0.6 * 0.5 = 0.45.
    assert result.hits == {"clicks": 1, "carts": 1, "orders": 2}
    assert result.denominators == {"clicks": 2, "carts": 3, "orders": 4}
    assert result.recall == pytest.approx({"clicks": 0.5, "carts": 1 / 3, "orders": 0.5})
    assert result.score == pytest.approx(0.45)
    assert result.sessions == {"clicks": 2, "carts": 2, "orders": 2}


def test_denominator_is_capped_at_20() -> None:
    truth = [f"i{i}" for i in range(25)]
    labels = {"s": {"orders": truth}}
    full = otto_score({"s": {"orders": truth}}, labels)
    assert full.denominators["orders"] == 20 and full.recall["orders"] == 1.0
    assert full.score == pytest.approx(0.6)
    half = otto_score({"s": {"orders": truth[:10]}}, labels)
    assert half.recall["orders"] == pytest.approx(0.5)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(MetricError, match="k must be a positive integer"):
        otto_score({}, {}, k=0)
    with pytest.raises(MetricError, match="unknown target 'views'"):
        otto_score({}, {"s": {"views": ["a"]}})
    with pytest.raises(MetricError, match="shape"):
        hit_rate_mrr(np.array([["a"]], dtype=object), ["a", "b"])
    with pytest.raises(MetricError, match="row 1"):
        read_submission(pa.table({"session_type": ["1_clicks", "2_views"], "labels": ["a", "b"]}))


def _fixture(data_dir: Path) -> pa.Table:
    folder = data_dir / "otto_recsys"
    if not (folder / "train_sample.jsonl").is_file():
        pytest.skip(f"OTTO fixture not found in {folder}")
    return load_otto(folder).tables["events"]


@pytest.mark.data
def test_fixture_labels_and_scores_by_hand(data_dir: Path) -> None:
    events = _fixture(data_dir)
    assert events.num_rows == 862
    rows = events.filter(pa.compute.equal(events.column("session_id"), "0"))
    items = rows.column("item_id").to_pylist()
    types = rows.column("event_type").to_pylist()
    # Session 0 cut after its first 6 clicks: read off the file by hand.
    truth = labels_after(items[6:], types[6:])
    assert truth["clicks"] == ["362233"]
    assert truth["carts"][:2] == ["1649869", "461689"] and len(truth["carts"]) == 13
    assert truth["orders"] == ["305831", "461689", "1199474", "543308"]
    labels = {"0": truth}
    preds = {"0": {"clicks": ["362233"], "carts": ["461689", "x"], "orders": ["543308"]}}
    result = otto_score(preds, labels)
    # clicks 1/1, carts 1/13, orders 1/4 -> 0.1 + 0.3/13 + 0.15.
    assert result.score == pytest.approx(0.1 + 0.3 / 13 + 0.15)


@pytest.mark.data
def test_fixture_truncation_protocol(data_dir: Path) -> None:
    events = _fixture(data_dir)
    history, labels = truncate_sessions(events, seed=42)
    sizes = dict(
        zip(*np.unique(events.column("session_id").to_pylist(), return_counts=True), strict=True)
    )
    kept = dict(
        zip(*np.unique(history.column("session_id").to_pylist(), return_counts=True), strict=True)
    )
    assert len(sizes) == 20 and set(kept) == set(sizes)
    assert all(1 <= kept[s] < sizes[s] for s in sizes)
    # Same seed, same cuts; labels are exactly what follows each cut.
    again, labels2 = truncate_sessions(events, seed=42)
    assert again.equals(history) and labels2 == labels
    assert otto_score(labels, labels).score == pytest.approx(1.0)
    sub = pa.table(
        {
            "session_type": [f"{s}_{t}" for s, v in labels.items() for t in v],
            "labels": [" ".join(x) for v in labels.values() for x in v.values()],
        }
    )
    assert read_submission(sub) == labels
    ceiling = recall_at_k(labels, labels, ks=(1, 20))
    assert ceiling["clicks"] == {1: 1.0, 20: 1.0}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=8), min_size=1, max_size=6), st.integers(0, 9))
def test_truncation_splits_every_session(lengths: list[int], seed: int) -> None:
    rows = []
    for s, n in enumerate(lengths):
        for i in range(n):
            kind = ["click", "cart", "order"][(s + i) % 3]
            rows.append((f"s{s}", f"i{(s * 3 + i) % 5}", kind, T0 + dt.timedelta(seconds=i)))
    events = pa.table(
        {
            "session_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "ts": pa.array([r[3] for r in rows], TIMESTAMP),
        }
    )
    history, labels = truncate_sessions(events, seed=seed)
    kept = history.column("session_id").to_pylist()
    for s, n in enumerate(lengths):
        c = kept.count(f"s{s}")
        assert c == n if n == 1 else 1 <= c <= n - 1
        sess = [r for r in rows if r[0] == f"s{s}"]
        expected = labels_after([r[1] for r in sess[c:]], [r[2] for r in sess[c:]])
        assert labels.get(f"s{s}", {}) == expected


def test_hit_rate_and_mrr_hand_computed() -> None:
    pred = np.array([["a", "b", "c"], ["x", "y", "z"], ["q", "t", None]], dtype=object)
    hr, mrr = hit_rate_mrr(pred, ["b", "w", "t"], k=3)
    assert hr == pytest.approx(2 / 3)
    assert mrr == pytest.approx((1 / 2 + 0 + 1 / 2) / 3)
    hr1, mrr1 = hit_rate_mrr(pred, ["b", "w", "t"], k=1)
    assert hr1 == 0.0 and mrr1 == 0.0


def test_next_item_targets_enumerates_prefixes() -> None:
    events = pa.table(
        {
            "session_id": ["a", "a", "a", "b", "c", "c"],
            "item_id": ["1", "2", "3", "9", "5", "5"],
            "event_type": ["click"] * 6,
            "ts": pa.array([T0 + dt.timedelta(seconds=i) for i in range(6)], TIMESTAMP),
        }
    )
    prefixes, ids, targets = next_item_targets(events)
    assert ids == ["a#1", "a#2", "c#1"]
    assert targets == ["2", "3", "5"]
    assert prefixes.column("session_id").to_pylist() == ["a#1", "a#2", "a#2", "c#1"]
    assert prefixes.column("item_id").to_pylist() == ["1", "1", "2", "5"]
