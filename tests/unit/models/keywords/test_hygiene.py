"""Keyword hygiene: a table of normalisation cases, spelling variants, embedding clusters and
the merge report."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reclift.models.errors import NotFittedError
from reclift.models.keywords.embed import encode_texts
from reclift.models.keywords.errors import KeywordInputError
from reclift.models.keywords.hygiene import KeywordCleaner, normalize_keyword, singular

NORMALISATION_CASES = [
    ("Running Shoes", "running shoe"),  # case + plural
    ("  RUNNING   SHOES  ", "running shoe"),  # whitespace
    ("running-shoes!!", "running shoe"),  # punctuation
    ("Men's shoes", "men shoe"),  # possessive
    ("Men’s shoes", "men shoe"),  # typographic apostrophe
    ("Café Crème", "cafe creme"),  # accents
    ("ＲＥＤ　ｄｒｅｓｓ", "red dress"),  # full-width (NFKC)
    ("t_shirt", "t shirt"),  # underscore is punctuation
    ("boxes", "box"),
    ("dresses", "dress"),
    ("watches", "watch"),
    ("batteries", "battery"),
    ("knives", "knife"),
    ("shelves", "shelf"),
    ("tomatoes", "tomato"),
    ("shoes", "shoe"),
    ("jeans", "jeans"),  # pair words stay plural
    ("glasses", "glasses"),
    ("bus", "bus"),
    ("dress", "dress"),
    ("iphone 12 cases", "iphone 12 case"),
    ("4k tvs", "4k tv"),
    ("", ""),
    ("!!!", ""),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALISATION_CASES)
def test_normalisation_table(raw: str, expected: str) -> None:
    assert normalize_keyword(raw) == expected


@given(st.text(max_size=40))
def test_normalisation_is_idempotent(text: str) -> None:
    once = normalize_keyword(text)
    assert normalize_keyword(once) == once
    assert once == once.strip() and "  " not in once


def test_singular_keeps_short_and_non_alpha_tokens() -> None:
    assert singular("gas") == "gas"
    assert singular("ps4s") == "ps4s"


def test_spelling_variants_merge_to_the_most_frequent_spelling() -> None:
    raw = ["Oxford Shirt", "oxford shirts", "oxfoord shirt", "red shoe", "Red Shoes!"]
    c = KeywordCleaner().fit(raw, counts=[5, 1, 1, 3, 1])
    assert c.transform(raw) == ["oxford shirt"] * 3 + ["red shoe"] * 2
    rep = {r["keyword"]: r for r in c.report_.to_pylist()}
    assert rep["oxfoord shirt"]["reason"] == "spelling"
    assert rep["oxfoord shirt"]["similarity"] == pytest.approx(0.96)
    assert rep["Red Shoes!"]["reason"] == "normalised"
    assert "red shoe" not in rep  # unchanged keywords are not reported
    assert c.n_canonical_ == 2


def test_numbers_and_short_keywords_are_never_fuzzy_merged() -> None:
    c = KeywordCleaner().fit(["iphone 12 case", "iphone 13 case", "tv", "tc"])
    assert c.transform(["iphone 12 case", "iphone 13 case", "tv", "tc"]) == [
        "iphone 12 case", "iphone 13 case", "tv", "tc",
    ]  # fmt: skip
    assert c.report_.num_rows == 0


def test_embedding_clusters_merge_paraphrases() -> None:
    # a toy embedder: synonyms share a vector; the edit distance cannot link them
    table = {"sofa": [1.0, 0.0], "couch": [0.99, 0.14], "lamp": [0.0, 1.0]}

    def embed(texts: object) -> np.ndarray:
        v = np.asarray([table[t] for t in texts])  # type: ignore[attr-defined]
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    c = KeywordCleaner(embedding_threshold=0.95, embedder=embed).fit(
        ["sofa", "sofas", "couch", "lamp"], counts=[3, 1, 1, 2]
    )
    assert c.transform(["couch", "sofas", "lamp"]) == ["sofa", "sofa", "lamp"]
    rep = {r["keyword"]: r for r in c.report_.to_pylist()}
    assert rep["couch"]["reason"] == "embedding" and rep["couch"]["cluster_size"] == 2


def test_hashing_embedder_clusters_near_duplicates() -> None:
    def embed(texts: object) -> np.ndarray:
        return encode_texts(list(texts), encoder="hashing")  # type: ignore[call-overload]

    c = KeywordCleaner(spelling_threshold=None, embedding_threshold=0.8, embedder=embed).fit(
        ["wireless mouse", "mouse wireless", "garden hose"]
    )
    out = c.transform(["wireless mouse", "mouse wireless", "garden hose"])
    assert out[0] == out[1] and out[2] == "garden hose"


BAD = [
    (lambda: KeywordCleaner().fit([]), "the list is empty"),
    (lambda: KeywordCleaner().fit(["a", 3]), "keywords[1] is 3"),  # type: ignore[list-item]
    (lambda: KeywordCleaner().fit(["a"], counts=[1, 2]), "one entry per keyword"),
    (lambda: KeywordCleaner(embedding_threshold=0.9).fit(["a"]), "no embedder"),
]


@pytest.mark.parametrize(("call", "message"), BAD)
def test_bad_inputs(call: object, message: str) -> None:
    with pytest.raises(KeywordInputError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)


def test_transform_before_fit() -> None:
    with pytest.raises(NotFittedError):
        KeywordCleaner().transform(["x"])


def test_attribute_variants_are_not_spelling_variants() -> None:
    kws = ["black remote control car", "white remote control car", "remote controol car",
           "remote control car", "t shirt", "tshirt"]  # fmt: skip
    c = KeywordCleaner().fit(kws, counts=[1, 1, 1, 5, 3, 1])
    out = dict(zip(kws, c.transform(kws), strict=True))
    assert out["black remote control car"] == "black remote control car"
    assert out["white remote control car"] == "white remote control car"
    assert out["remote controol car"] == "remote control car"
    assert out["tshirt"] == "t shirt"
    # equal counts: the spelling made of common words wins, not the shorter typo
    c2 = KeywordCleaner().fit(["kitchen towel", "kithen towel", "kitchen knife"])
    assert c2.transform(["kithen towel"]) == ["kitchen towel"]
