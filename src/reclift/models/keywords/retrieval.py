"""Product -> keyword retrievers: dense (embeddings + vector index), BM25 in reverse (the
product's text is the query, keywords are the documents) and collaborative evidence
(keywords that led to similar products).

Each retriever also exposes :meth:`score_all` (``(n_products, n_keywords)``), the exact score
of every keyword, which the merger uses as features for keywords another retriever found.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa

from reclift.models.keywords.base import (
    KeywordRetriever,
    check_interactions,
    check_keywords,
    check_products,
    top_k,
)
from reclift.models.keywords.embed import encode_texts
from reclift.models.keywords.errors import KeywordInputError
from reclift.models.keywords.hygiene import normalize_keyword
from reclift.models.keywords.index import VectorIndex
from reclift.models.persist import load_npz, save_npz


class DenseRetriever(KeywordRetriever):
    """Embed keywords and products in one space and search the keyword index.

    Parameters
    ----------
    encoder
        ``"minilm"`` or ``"hashing"`` (see :func:`reclift.models.keywords.embed.encode_texts`).
    """

    name: ClassVar[str] = "dense"

    def __init__(self, encoder: str = "minilm") -> None:
        self.encoder = encoder

    def fit(
        self,
        products: pa.Table,
        keywords: Sequence[str],
        interactions: pa.Table | None = None,
    ) -> Self:
        check_products(products)
        kws = check_keywords(keywords)
        self.keywords_ = np.asarray(kws, dtype=object)
        self.vectors_ = encode_texts(kws, encoder=self.encoder)
        self.index_ = VectorIndex(self.vectors_)
        return self

    def encode_products(self, products: pa.Table) -> np.ndarray:
        """``(n, d)`` unit vectors of the products' text."""
        return encode_texts(products.column("text").to_pylist(), encoder=self.encoder)

    def _scores(self, products: pa.Table, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index_.search(self.encode_products(products), k)

    def score_all(self, products: pa.Table) -> np.ndarray:
        """Cosine of every product with every keyword, ``(n, n_keywords)``."""
        self._check_fitted()
        q = self.encode_products(check_products(products))
        return np.asarray(q @ self.vectors_.T, dtype=np.float32)

    def score_texts(self, products: pa.Table, keywords: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        pos = {k: i for i, k in enumerate(self.keywords_.tolist())}
        new = sorted({k for k in keywords if k not in pos})
        vecs = self.vectors_
        if new:
            vecs = np.vstack([vecs, encode_texts(new, encoder=self.encoder)])
            pos.update({k: len(self.keywords_) + i for i, k in enumerate(new)})
        q = self.encode_products(check_products(products))
        cols = np.asarray([pos[k] for k in keywords], dtype=np.int64)
        return np.asarray(q @ vecs[cols].T, dtype=np.float32)

    def _save_state(self, directory: Path) -> None:
        save_npz(directory / "vectors.npz", {"vectors": self.vectors_})
        self.index_.save(directory / "keywords.faiss")

    def _load_state(self, directory: Path) -> None:
        self.vectors_ = load_npz(directory / "vectors.npz")["vectors"]
        self.index_ = VectorIndex.load(directory / "keywords.faiss")


def tokens(text: str) -> list[str]:
    """Normalised, singularised tokens (the same normalisation as keyword hygiene)."""
    return normalize_keyword(text).split()


class BM25ReverseRetriever(KeywordRetriever):
    """BM25 with the product's text as the query over keywords as documents (``bm25s``).

    Parameters
    ----------
    k1, b
        BM25 parameters; keywords are short, so length normalisation ``b`` matters little.
    """

    name: ClassVar[str] = "bm25"

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b

    def fit(
        self,
        products: pa.Table,
        keywords: Sequence[str],
        interactions: pa.Table | None = None,
    ) -> Self:
        check_products(products)
        self.keywords_ = np.asarray(check_keywords(keywords), dtype=object)
        self._build()
        return self

    def _build(self) -> None:
        import bm25s

        corpus = [tokens(k) or ["__empty__"] for k in self.keywords_.tolist()]
        self.bm25_ = bm25s.BM25(k1=self.k1, b=self.b)
        self.bm25_.index(corpus, show_progress=False)
        self.vocab_: dict[str, int] = dict(self.bm25_.vocab_dict)

    def score_all(self, products: pa.Table) -> np.ndarray:
        """BM25 score of every keyword for each product's text, ``(n, n_keywords)``."""
        self._check_fitted()
        texts = check_products(products).column("text").to_pylist()
        out = np.zeros((len(texts), self.keywords_.size), dtype=np.float32)
        for i, text in enumerate(texts):
            # a repeated word in a long description should not count twice
            q = [t for t in dict.fromkeys(tokens(text)) if t in self.vocab_ and t]
            if q:
                out[i] = self.bm25_.get_scores(q)
        return out

    def score_texts(self, products: pa.Table, keywords: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        known = set(self.keywords_.tolist())
        if all(k in known for k in keywords):
            return super().score_texts(products, keywords)
        # IDF depends on the whole collection: score against vocabulary + the new keywords
        vocab = list(dict.fromkeys([*self.keywords_.tolist(), *keywords]))
        tmp = BM25ReverseRetriever(self.k1, self.b).fit(products, vocab)
        return tmp.score_texts(products, keywords)

    def _scores(self, products: pa.Table, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.score_all(products)
        s[s <= 0] = -np.inf  # no shared word: not a candidate
        return top_k(s, k)

    def _save_state(self, directory: Path) -> None:
        pass  # the index is rebuilt from the keywords (deterministic, milliseconds)

    def _load_state(self, directory: Path) -> None:
        self._build()


class CollaborativeRetriever(KeywordRetriever):
    """Keywords with evidence (clicks, orders, relevance) for the most similar known products.

    ``score(p, kw) = sum over the n_neighbors products q most similar to p of
    max(cos(p, q), 0) ** sharpness * w(kw, q) / sum_kw' w(kw', q)``.

    Parameters
    ----------
    encoder
        Product text encoder.
    n_neighbors
        Similar products consulted.
    sharpness
        Exponent on the similarity; higher trusts the closest products more.
    """

    name: ClassVar[str] = "collaborative"
    needs_interactions: ClassVar[bool] = True

    def __init__(self, encoder: str = "minilm", n_neighbors: int = 30, sharpness: float = 3.0):
        self.encoder = encoder
        self.n_neighbors = n_neighbors
        self.sharpness = sharpness

    def fit(
        self,
        products: pa.Table,
        keywords: Sequence[str],
        interactions: pa.Table | None = None,
    ) -> Self:
        kws = check_keywords(keywords)
        if interactions is None:
            raise KeywordInputError(
                "collaborative retrieval needs interactions (a query log or converting "
                "keywords): none given"
            )
        inter = check_interactions(interactions)
        prods = check_products(products)
        kw_pos = {k: i for i, k in enumerate(kws)}
        item_pos = {p: i for i, p in enumerate(prods.column("item_id").to_pylist())}
        rows, cols, vals = [], [], []
        for kw, item, w in zip(
            inter.column("keyword").to_pylist(),
            inter.column("item_id").to_pylist(),
            inter.column("weight").to_pylist(),
            strict=True,
        ):
            if kw in kw_pos and item in item_pos and w > 0:
                rows.append(item_pos[item])
                cols.append(kw_pos[kw])
                vals.append(float(w))
        if not rows:
            raise KeywordInputError(
                "interactions: no row links a known keyword to a known product (check the "
                "keyword and item_id columns)"
            )
        known = np.unique(np.asarray(rows))
        remap = {int(old): new for new, old in enumerate(known.tolist())}
        evidence = np.zeros((known.size, len(kws)), dtype=np.float32)
        for r, c, v in zip(rows, cols, vals, strict=True):
            evidence[remap[r], c] += v
        evidence /= evidence.sum(axis=1, keepdims=True)
        texts = prods.column("text").to_pylist()
        self.keywords_ = np.asarray(kws, dtype=object)
        self.evidence_ = evidence
        self.product_vectors_ = encode_texts([texts[i] for i in known], encoder=self.encoder)
        self.index_ = VectorIndex(self.product_vectors_)
        return self

    def score_all(self, products: pa.Table) -> np.ndarray:
        """Evidence-weighted score of every keyword, ``(n, n_keywords)``."""
        self._check_fitted()
        q = encode_texts(check_products(products).column("text").to_pylist(), encoder=self.encoder)
        nn, sims = self.index_.search(q, self.n_neighbors)
        w = np.where(nn >= 0, np.maximum(sims, 0.0), 0.0) ** self.sharpness
        out = np.zeros((q.shape[0], self.keywords_.size), dtype=np.float32)
        for j in range(nn.shape[1]):
            ok = nn[:, j] >= 0
            out[ok] += w[ok, j, None] * self.evidence_[nn[ok, j]]
        return out

    def _scores(self, products: pa.Table, k: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.score_all(products)
        s[s <= 0] = -np.inf
        return top_k(s, k)

    def _save_state(self, directory: Path) -> None:
        save_npz(
            directory / "state.npz",
            {"evidence": self.evidence_, "product_vectors": self.product_vectors_},
        )

    def _load_state(self, directory: Path) -> None:
        state = load_npz(directory / "state.npz")
        self.evidence_ = state["evidence"]
        self.product_vectors_ = state["product_vectors"]
        self.index_ = VectorIndex(self.product_vectors_)


RETRIEVERS: dict[str, type[KeywordRetriever]] = {
    DenseRetriever.name: DenseRetriever,
    BM25ReverseRetriever.name: BM25ReverseRetriever,
    CollaborativeRetriever.name: CollaborativeRetriever,
}


def get_retriever(name: str, **params: Any) -> KeywordRetriever:
    """A retriever by registry name."""
    if name not in RETRIEVERS:
        raise KeywordInputError(f"unknown retriever {name!r}; choose from {sorted(RETRIEVERS)}")
    return RETRIEVERS[name](**params)
