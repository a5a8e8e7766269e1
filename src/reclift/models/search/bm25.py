"""BM25 lexical retrieval through ``bm25s`` (Lucene variant, English stop words).

The index is rebuilt from the stored texts on load (``bm25s`` indexes tens of thousands of
product texts in well under a second), so the artifact holds only Parquet text, never a
format that could run code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from reclift.errors import require
from reclift.models.errors import InvalidParameterError, NotFittedError
from reclift.models.search.base import check_texts


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lower-cased word tokens (2+ characters) without English stop words."""
    bm25s: Any = require("bm25s", "search")
    out = bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)
    return [list(t) for t in out]


class BM25Retriever:
    """BM25 over a fixed corpus; scores every document for a query.

    Parameters
    ----------
    k1, b
        BM25 term-frequency saturation and length normalisation.

    Attributes
    ----------
    n_docs_ : int
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b

    def fit(self, texts: Sequence[str]) -> BM25Retriever:
        """Index ``texts`` (document ``i`` = position ``i``)."""
        for name in ("k1", "b"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise InvalidParameterError(f"{name} must be a number >= 0, got {v!r}")
        bm25s: Any = require("bm25s", "search")
        docs = check_texts(texts)
        tokens = tokenize(docs)
        # bm25s cannot index a corpus without any token; a placeholder keeps positions aligned
        safe = [t if t else ["\x00empty"] for t in tokens]
        model = bm25s.BM25(k1=float(self.k1), b=float(self.b), method="lucene")
        model.index(safe, show_progress=False)
        self.model_ = model
        self.n_docs_ = len(docs)
        return self

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for each query, shape ``(n_queries, n_docs)``."""
        if not hasattr(self, "model_"):
            raise NotFittedError("BM25Retriever is not fitted")
        tokens = tokenize(check_texts(queries, "queries"))
        out = np.zeros((len(tokens), self.n_docs_), dtype=np.float32)
        vocab = self.model_.vocab_dict
        for r, toks in enumerate(tokens):
            known = [t for t in toks if t in vocab]
            if known:
                out[r] = np.asarray(self.model_.get_scores(known), dtype=np.float32)
        return out
