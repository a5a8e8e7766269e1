"""The contract of the search family: every encoder, every index backend and kind, and the
product search built on them (save, load, same output; bad input -> clear error)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from reclift.errors import ArtifactError, ReclifError, SchemaError
from reclift.models.errors import InvalidParameterError, NotFittedError
from reclift.models.search import ENCODERS, INDEXES, ProductSearch, exact_search
from reclift.models.search.base import TextEncoder, VectorIndex

TEXTS = ["red running shoes", "blue leather bag", "trail running shoe", "coffee mug", ""]
ITEMS = pa.table(
    {
        "item_id": ["a", "b", "c", "d", "e", "f"],
        "title": ["red running shoes", "blue leather bag", "trail running shoe", "coffee mug",
                  "espresso cup", None],
        "category": ["shoes>road", "bags", "shoes>trail", "home", "home", None],
        "price": [50.0, 80.0, 70.0, 5.0, 7.0, 1.0],
    }
)  # fmt: skip
# MiniLM takes seconds to load: the default run checks the light encoder everywhere and
# MiniLM once (tests/unit/models/search/test_search_models.py).
FAST_ENCODERS = sorted(set(ENCODERS) - {"minilm"})


@pytest.fixture(params=FAST_ENCODERS)
def encoder(request: pytest.FixtureRequest) -> TextEncoder:
    return ENCODERS[request.param]()


@pytest.fixture(params=[(n, k) for n in sorted(INDEXES) for k in ("exact", "hnsw")])
def index(request: pytest.FixtureRequest) -> VectorIndex:
    name, kind = request.param
    return INDEXES[name](kind=kind)  # type: ignore[call-arg]


def test_encoder_contract(encoder: TextEncoder) -> None:
    assert encoder.fit(TEXTS) is encoder
    v = encoder.encode(TEXTS)
    assert v.shape == (5, encoder.dim) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v[:4], axis=1), 1.0, rtol=1e-5)
    assert encoder.encode([]).shape == (0, encoder.dim)
    # deterministic, batch-independent
    np.testing.assert_allclose(encoder.encode(TEXTS[:2]), v[:2], rtol=1e-5, atol=1e-6)
    # related texts are closer than unrelated ones
    assert v[0] @ v[2] > v[0] @ v[3]
    for bad, message in [("shoe", "not a single string"), ([1], r"texts\[0\] is 1")]:
        with pytest.raises(InvalidParameterError, match=message):
            encoder.encode(bad)  # type: ignore[arg-type]


def test_index_contract(index: VectorIndex, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 16)).astype(np.float32)
    q = rng.normal(size=(5, 16)).astype(np.float32)
    assert index.build(x) is index and index.size == 300
    pos, sc = index.search(q, 10)
    ref_pos, ref_sc = exact_search(x, q, 10)
    assert pos.shape == sc.shape == (5, 10)
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(pos, ref_pos, strict=True)]) >= 0.9
    np.testing.assert_allclose(sc[:, 0], ref_sc[:, 0], rtol=1e-4)
    mask = np.zeros(300, bool)
    mask[::7] = True
    mpos, _ = index.search(q, 10, mask=mask)
    assert mask[mpos[mpos >= 0]].all()
    tiny = np.zeros(300, bool)
    tiny[[3, 4]] = True
    tpos, tsc = index.search(q, 5, mask=tiny)
    assert (np.sort(tpos[:, :2], axis=1) == [3, 4]).all() and (tpos[:, 2:] == -1).all()
    assert np.isnan(tsc[:, 2:]).all()
    # more than n asked: padding
    big, _ = index.search(q[:1], 400)
    assert (big[0][:300] >= 0).all() and (big[0][300:] == -1).all()
    index.save(tmp_path)
    again = type(index)(**index.get_params())
    again.load_state(tmp_path)
    np.testing.assert_array_equal(again.search(q, 10)[0], pos)
    with pytest.raises(InvalidParameterError, match="queries have dimension 3; the index has 16"):
        index.search(np.zeros((1, 3)), 2)
    with pytest.raises(InvalidParameterError, match="k must be a positive integer"):
        index.search(q, 0)
    with pytest.raises(InvalidParameterError, match=r"mask must have shape \(300,\)"):
        index.search(q, 2, mask=np.ones(5, bool))
    with pytest.raises(InvalidParameterError, match="vectors row 1 is not finite"):
        type(index)().build(np.array([[0.0, 1.0], [np.nan, 0.0]]))
    with pytest.raises(NotFittedError):
        type(index)().search(q, 1)


@pytest.fixture(params=sorted(INDEXES))
def fitted(request: pytest.FixtureRequest, encoder: TextEncoder) -> ProductSearch:
    return ProductSearch(encoder=encoder.name, index=request.param).fit(ITEMS)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_product_search_save_load_same_output(
    fitted: ProductSearch, tmp_path: Path, mode: str
) -> None:
    artifact = fitted.save(tmp_path)
    loaded = ProductSearch.load(tmp_path)
    assert loaded.get_params() == fitted.get_params()
    queries = ["running shoes", "cup of coffee", "", "zzz"]
    for kwargs in ({}, {"filters": {"category": "shoes"}}, {"filters": {"max_price": 10}}):
        a = fitted.search(queries, 3, mode=mode, **kwargs)  # type: ignore[arg-type]
        b = loaded.search(queries, 3, mode=mode, **kwargs)  # type: ignore[arg-type]
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_allclose(a[1], b[1], rtol=1e-5)
    np.testing.assert_array_equal(
        fitted.similar_items(["a", "d"], 2)[0], loaded.similar_items(["a", "d"], 2)[0]
    )
    assert not any(name.endswith((".pkl", ".joblib", ".pickle")) for name in artifact.files)


def test_product_search_filters_and_shapes(fitted: ProductSearch) -> None:
    for mode in ("bm25", "dense", "hybrid"):
        ids, scores = fitted.search(["running shoes", "mug"], 4, mode=mode)
        assert ids.shape == scores.shape == (2, 4)
        assert ids[0][0] in {"a", "c"}
        ids, _ = fitted.search(["running shoes"], 4, mode=mode, filters={"category": "home"})
        assert {i for i in ids[0] if i is not None} <= {"d", "e"}
        ids, _ = fitted.search(["running shoes"], 4, mode=mode, filters={"min_price": 60})
        assert {i for i in ids[0] if i is not None} <= {"b", "c"}
    sim, _ = fitted.similar_items(["a", "unknown"], 3, filters={"exclude_items": ["c"]})
    assert "a" not in sim[0] and "c" not in sim[0]
    assert all(i is None for i in sim[1])


_BAD_ITEMS: list[tuple[object, str]] = [
    (ITEMS.to_pandas(), "items must be a pyarrow.Table"),
    (ITEMS.drop_columns(["title"]), r"items: missing column\(s\) \['title'\]"),
    (ITEMS.slice(0, 0), "items is empty"),
    (ITEMS.set_column(0, "item_id", pa.array(list(range(6)))), "'item_id' has type int64"),
    (ITEMS.set_column(0, "item_id", pa.array(["a", "b", None, "d", "e", "f"])),
     "'item_id' is null at row 2"),
    (ITEMS.set_column(0, "item_id", pa.array(["a", "a", "c", "d", "e", "f"])), "duplicate ids"),
    (ITEMS.set_column(1, "title", pa.array(range(6))), "text column 'title' has type int64"),
]  # fmt: skip


@pytest.mark.parametrize(("items", "message"), _BAD_ITEMS, ids=[m for _, m in _BAD_ITEMS])
def test_bad_items_raise_clear_errors(items: object, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        ProductSearch(encoder="hashing").fit(items)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "call", "message"),
    [
        ({"encoder": "word2vec"}, None, "unknown encoder 'word2vec'"),
        ({"encoder": "hashing", "index": "annoy"}, None, "unknown index 'annoy'"),
        ({"encoder": "hashing", "index_kind": "ivf"}, None, "kind must be one of"),
        ({"encoder": "hashing", "text_columns": "title"}, None, "text_columns must be"),
        ({"encoder": "hashing"}, ("search", {"mode": "magic"}), "mode must be one of"),
        ({"encoder": "hashing"}, ("search", {"k": 0}), "k must be a positive integer"),
        ({"encoder": "hashing"}, ("search", {"filters": {"colour": 1}}), "unknown field"),
    ],
)
def test_bad_parameters(params: dict, call: tuple | None, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        model = ProductSearch(**params).fit(ITEMS)
        assert call is not None
        kwargs = {"k": 3, **call[1]}
        model.search(["shoes"], **kwargs)


def test_not_fitted_and_wrong_artifact(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        ProductSearch().search(["x"], 3)
    from reclift.models.recs import PopularRecommender

    PopularRecommender().fit(pa.table({"item_id": ["a"]})).save(tmp_path)
    with pytest.raises(ArtifactError, match="not search/product_search"):
        ProductSearch.load(tmp_path)
    assert issubclass(ArtifactError, ReclifError)


def test_corrupted_artifact_is_refused(tmp_path: Path) -> None:
    artifact = ProductSearch(encoder="hashing").fit(ITEMS).save(tmp_path)
    with (artifact.path / "items.parquet").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactError, match="sha256"):
        ProductSearch.load(tmp_path)
