"""Every offer model: planted preferences recovered, save/load round trip, bad inputs pinned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reclift.errors import ReclifError, SchemaError
from reclift.evaluation.offers import auc
from reclift.models.errors import InvalidParameterError, NotFittedError
from reclift.models.offers.base import OfferModel, split_user_history
from reclift.models.offers.language import OfferSyntaxError
from reclift.models.offers.mono import MonoOfferModel
from reclift.models.offers.universal import UniversalOfferModel

ATTRS = ["item_id", "category", "tags"]


def planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Users 0-19 only buy category "a" items, users 20-39 only "b" (ground truth)."""
    rng = np.random.default_rng(0)
    items = pd.DataFrame(
        {
            "item_id": [f"i{k:02d}" for k in range(20)],
            "category": ["a"] * 10 + ["b"] * 10,
            "tags": [["x", "y"] if k % 2 else ["y"] for k in range(20)],
        }
    )
    rows = []
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    for u in range(40):
        pool = range(10) if u < 20 else range(10, 20)
        for step in range(12):
            rows.append(
                (f"u{u:02d}", f"i{rng.choice(list(pool)):02d}", t0 + pd.Timedelta(hours=step))
            )
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "ts"])
    return events, items


MODELS = {
    "universal": lambda: UniversalOfferModel(ATTRS, epochs=15, batch_size=64, n_threads=1, seed=1),
    "no_aug": lambda: UniversalOfferModel(
        ATTRS, variant="no_aug", epochs=15, batch_size=64, n_threads=1
    ),
    "two_tower": lambda: UniversalOfferModel(
        ATTRS, variant="two_tower", epochs=15, batch_size=64, n_threads=1
    ),
    "mono_category": lambda: MonoOfferModel(ATTRS, target="category"),
    "mono_item": lambda: MonoOfferModel(ATTRS, target="item_id"),
}


@pytest.fixture(scope="module")
def fitted() -> dict[str, OfferModel]:
    events, items = planted()
    return {k: make().fit(events, items) for k, make in MODELS.items()}


@pytest.mark.parametrize("name", [m for m in MODELS if m != "mono_category"])
def test_planted_preference_is_recovered(fitted: dict[str, OfferModel], name: str) -> None:
    ids, scores = fitted[name].score('item_id = "i03"')
    truth = np.array([int(u[1:]) < 20 for u in ids])
    assert auc(scores, truth) > 0.95


@pytest.mark.parametrize("name", ["universal", "two_tower", "mono_category", "mono_item"])
def test_planted_preference_on_a_coarse_offer(fitted: dict[str, OfferModel], name: str) -> None:
    ids, scores = fitted[name].score('category = "a"')
    truth = np.array([int(u[1:]) < 20 for u in ids])
    assert auc(scores, truth) > 0.95


@pytest.mark.parametrize("name", list(MODELS))
def test_save_load_gives_the_same_scores(
    fitted: dict[str, OfferModel], name: str, tmp_path: Path
) -> None:
    model = fitted[name]
    art = model.save(tmp_path / "store")
    again = type(model).load(tmp_path / "store")
    # MONO-category only scores offers over its own attribute
    expr = 'category IN ("b")' if name == "mono_category" else 'category = "b" OR item_id = "i03"'
    ids1, s1 = model.score(expr, users=["u01", "u39", "nobody"])
    ids2, s2 = again.score(expr, users=["u01", "u39", "nobody"])
    assert list(ids1) == list(ids2) == ["u01", "u39", "nobody"]
    np.testing.assert_allclose(s1, s2, rtol=1e-5)
    assert not any(f.endswith((".pkl", ".pickle", ".joblib")) for f in art.files)


def test_cold_start_item_offer_inherits_its_attributes(fitted: dict[str, OfferModel]) -> None:
    # i19 ("b") is scored through its attributes even though the model ranks by them
    ids, scores = fitted["universal"].score('item_id = "i19"')
    truth = np.array([int(u[1:]) >= 20 for u in ids])
    assert auc(scores, truth) > 0.9


def test_score_with_external_history(fitted: dict[str, OfferModel]) -> None:
    hist = pd.DataFrame({"user_id": ["new1", "new2"], "item_id": ["i01", "i15"]})
    for model in fitted.values():
        ids, scores = model.score('category = "a"', history=hist)
        assert list(ids) == ["new1", "new2"]
        assert scores[0] > scores[1]


BAD_FIT = [
    (lambda e, i: (e.drop(columns="ts"), i), SchemaError, "events: missing column(s) ['ts']"),
    (lambda e, i: (e.iloc[:0], i), SchemaError, "events is empty"),
    (lambda e, i: (e, i.drop(columns="tags")), SchemaError, "items: missing column(s) ['tags']"),
    (
        lambda e, i: (e.assign(item_id=["zz", *list(e["item_id"][1:])]), i),
        SchemaError,
        "events: item_id 'zz' at row 0 is not in items",
    ),
    (
        lambda e, i: (e.assign(user_id=[None, *list(e["user_id"][1:])]), i),
        SchemaError,
        "events: column 'user_id' is null at row 0",
    ),
    (
        lambda e, i: (e, pd.concat([i, i.iloc[:1]])),
        SchemaError,
        "items: duplicate item_id 'i00'",
    ),
]


@pytest.mark.parametrize(("mutate", "error", "message"), BAD_FIT)
@pytest.mark.parametrize("name", ["universal", "mono_item"])
def test_bad_fit_inputs_are_pinned(mutate, error, message, name) -> None:  # type: ignore[no-untyped-def]
    events, items = mutate(*planted())
    with pytest.raises(error) as info:
        MODELS[name]().fit(events, items)
    assert message in str(info.value)


def test_bad_params_and_offers(fitted: dict[str, OfferModel]) -> None:
    events, items = planted()
    with pytest.raises(InvalidParameterError, match="variant must be one of"):
        UniversalOfferModel(ATTRS, variant="big").fit(events, items)
    with pytest.raises(InvalidParameterError, match="epochs must be a positive integer"):
        UniversalOfferModel(ATTRS, epochs=0).fit(events, items)
    with pytest.raises(InvalidParameterError, match="target 'brand' is not one of"):
        MonoOfferModel(ATTRS, target="brand").fit(events, items)
    with pytest.raises(NotFittedError):
        UniversalOfferModel(ATTRS).score('category = "a"')
    with pytest.raises(OfferSyntaxError, match="unknown value 'c' of attribute 'category'"):
        fitted["universal"].score('category = "c"')
    with pytest.raises(ReclifError, match="covers no item"):
        fitted["universal"].score('category = "a" AND category = "b"')
    with pytest.raises(ReclifError, match="MONO-category cannot score this offer"):
        fitted["mono_category"].score('tags = "x"')


def test_history_split_is_per_user_and_in_time() -> None:
    events, _ = planted()
    events = events.assign(event_type=np.where(np.arange(len(events)) % 3, "order", "view"))
    hist, tgt = split_user_history(events, 0.5)
    assert (hist.groupby("user_id").size() == 6).all()
    last_hist = hist.groupby("user_id")["ts"].max()
    first_tgt = tgt.groupby("user_id")["ts"].min()
    assert (first_tgt > last_hist.loc[first_tgt.index]).all()
    assert set(tgt["event_type"]) == {"order"}
