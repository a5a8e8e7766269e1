"""The universal model's offer coverage, group-by keys, value heads and share features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from tests.unit.models.offers.test_conformance import ATTRS, planted

from reclift.evaluation.offers import auc
from reclift.models.errors import InvalidParameterError
from reclift.models.offers.base import OfferCatalog
from reclift.models.offers.universal import UniversalOfferModel, _bag_inputs


def _tiny_model() -> UniversalOfferModel:
    """A model with a hand-made catalog: i0 (a; x, y), i1 (a; y), i2 (b; x)."""
    items = pd.DataFrame(
        {
            "item_id": ["i0", "i1", "i2"],
            "category": ["a", "a", "b"],
            "tags": [["x", "y"], ["y"], ["x"]],
        }
    )
    model = UniversalOfferModel(["item_id", "category", "tags"])
    model.catalog_ = OfferCatalog.build(items, ["item_id", "category", "tags"])
    model.item_weight_ = np.array([1.0, 3.0, 2.0])
    return model


def test_coverage_is_worked_out_by_hand() -> None:
    model = _tiny_model()
    covers = np.array([[True], [True], [False]])  # the offer category = "a"
    cov = {a: m.toarray().ravel() for a, m in model.coverage(covers).items()}
    np.testing.assert_allclose(cov["item_id"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(cov["category"], [1.0, 0.0])
    # tag x: i0 holds weight 1 * 1/2, i2 weight 2 * 1, only i0 covered -> 0.5 / 2.5;
    # tag y: i0 (0.5) and i1 (3) both covered -> 1
    np.testing.assert_allclose(cov["tags"], [0.2, 1.0])


def test_coverage_of_a_single_attribute_offer_is_its_value_indicator() -> None:
    model = _tiny_model()
    cat = model.catalog_
    for value in ("a", "b"):
        covers = cat.item_mask(f'category = "{value}"')[:, None]
        got = model.coverage(covers)["category"].toarray().ravel()
        np.testing.assert_array_equal(got, (cat.vocab["category"] == value).astype(float))


def _catalog_model(**params: object) -> UniversalOfferModel:
    """The planted catalog over item id and category: group-by keys are the category."""
    _, items = planted()
    model = UniversalOfferModel(["item_id", "category"], **params)  # type: ignore[arg-type]
    model.catalog_ = OfferCatalog.build(items, ["item_id", "category"])
    model.item_weight_ = np.ones(len(model.catalog_.item_ids))
    return model


def _category_mask(model: UniversalOfferModel, row: int) -> np.ndarray:
    cat = model.catalog_
    return cat.item_mask(f'category = "{cat.frame["category"].iloc[row]}"')


def test_group_keys_cover_every_catalog_item_of_their_key() -> None:
    # the item id never is a key (single items are the plain pass), so the key is category
    model = _catalog_model(key_prob=1.0, merge_prob=0.0)
    rows = np.array([0, 3, 5, 12, 15, 19, 2])
    groups, covers = model._group_keys(rows, np.random.default_rng(0))
    dense = covers.toarray()
    assert dense.shape == (20, 2)
    for r, g in zip(rows, groups, strict=True):
        # the whole catalog's items of the row's category, not only the batch rows
        np.testing.assert_array_equal(dense[:, g], _category_mask(model, r))


def test_merged_groups_cover_the_union_of_their_keys() -> None:
    model = _catalog_model(key_prob=1.0, merge_prob=1.0)
    rows = np.arange(20)
    merged_any = False
    for seed in range(6):
        groups, covers = model._group_keys(rows, np.random.default_rng(seed))
        dense = covers.toarray()
        for g in np.unique(groups):
            union = np.zeros(20, dtype=bool)
            for r in rows[groups == g]:
                union |= _category_mask(model, r)
            np.testing.assert_array_equal(dense[:, g], union)
        merged_any |= len(np.unique(groups)) == 1
    # with two categories, some draw merges both into one OR offer covering everything
    assert merged_any


def test_value_heads_learn_the_planted_next_category() -> None:
    events, items = planted()
    model = UniversalOfferModel(ATTRS, epochs=10, batch_size=64, n_threads=1, seed=0)
    model.fit(events, items)
    users = [f"u{k:02d}" for k in range(40)]
    _, scores = model.score('category = "a"', users=users)
    truth = np.array([k < 20 for k in range(40)])
    assert auc(scores, truth) > 0.95
    # the value head of "category" alone: users 0-19 expect "a" next, users 20-39 "b"
    hist = model.user_hist_
    cat = model.catalog_
    with torch.no_grad():
        ur = model.net_.user_parts([_bag_inputs(hist[a]) for a in cat.attributes])
        x = _bag_inputs(sp.csr_matrix(sp.hstack([hist[a] for a in cat.attributes])))
        logp = model.net_.value_log_probs(ur, x)[cat.attributes.index("category")]
    p_a = logp.exp().numpy()[:, list(cat.vocab["category"]).index("a")]
    order = [list(model.user_ids_).index(u) for u in users]
    assert p_a[order][:20].min() > 0.5 > p_a[order][20:].max()


@pytest.mark.parametrize(
    "params", [{"share_features": False}, {"bilinear": True}], ids=["no_shares", "bilinear"]
)
def test_other_configurations_recover_the_planted_preference(params: dict[str, bool]) -> None:
    events, items = planted()
    model = UniversalOfferModel(ATTRS, epochs=15, batch_size=64, n_threads=1, seed=1, **params)
    model.fit(events, items)
    for expr in ('category = "a"', 'item_id = "i03"'):
        ids, scores = model.score(expr)
        truth = np.array([int(u[1:]) < 20 for u in ids])
        assert auc(scores, truth) > 0.95, expr


def test_bad_value_weight_is_pinned() -> None:
    events, items = planted()
    with pytest.raises(InvalidParameterError, match="value_weight must be a finite number >= 0"):
        UniversalOfferModel(ATTRS, value_weight=-1.0).fit(events, items)
