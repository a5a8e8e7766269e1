"""The interface of the keyword family: product -> keyword retrievers.

A retriever is fitted on the keyword vocabulary, the products' text and (optionally) evidence
that a keyword led to a product (``interactions``: search clicks/orders, relevance
judgments, converting campaigns). It then returns, for a batch of products, the top-``k``
keywords as positions into ``keywords_`` with scores.

Rules (scikit-learn style): ``__init__`` stores parameters only; ``fit`` validates and returns
``self``; learned state ends in ``_``. ``save(directory)`` writes safe files only (JSON,
Parquet, npz, native faiss/safetensors) and ``load(directory)`` restores an equal model.
Every implementation registers in :data:`RETRIEVERS` and passes
``tests/conformance/test_keywords.py``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from reclift.models.errors import NotFittedError
from reclift.models.keywords.errors import KeywordInputError

PRODUCT_COLUMNS = ("item_id", "text")
INTERACTION_COLUMNS = ("keyword", "item_id", "weight")


def product_texts(
    table: pa.Table,
    *,
    id_col: str = "item_id",
    text_cols: Sequence[str] = ("title",),
    source: str = "products",
) -> pa.Table:
    """Build the ``(item_id, text)`` table retrievers take from any product table.

    Text columns are joined with spaces (nulls skipped; category paths ``a>b`` become words).

    Raises
    ------
    KeywordInputError
        A missing column, a null id, or a product whose text is empty (names the row and id).
    """
    missing = [c for c in (id_col, *text_cols) if c not in table.column_names]
    if missing:
        raise KeywordInputError(
            f"{source}: missing column(s) {missing}; it has {table.column_names}"
        )
    if not text_cols:
        raise KeywordInputError(f"{source}: at least one text column is needed")
    ids = table.column(id_col).cast(pa.string())
    if ids.null_count:
        row = int(np.flatnonzero(np.asarray(pc.is_null(ids).to_numpy(zero_copy_only=False)))[0])
        raise KeywordInputError(f"{source}: column {id_col!r} is null at row {row}")
    parts = [
        [
            "" if v is None else str(v).replace(">", " ").replace("/", " ")
            for v in table.column(c).to_pylist()
        ]
        for c in text_cols
    ]
    texts = [" ".join(p for p in row if p.strip()).strip() for row in zip(*parts, strict=True)]
    out = pa.table({"item_id": ids, "text": pa.array(texts, pa.string())})
    return check_products(out, source)


def check_products(table: object, source: str = "products") -> pa.Table:
    """Validate an ``(item_id, text)`` table; every product needs non-empty text."""
    if not isinstance(table, pa.Table):
        raise KeywordInputError(f"{source} must be a pyarrow.Table with columns item_id, text")
    missing = [c for c in PRODUCT_COLUMNS if c not in table.column_names]
    if missing:
        raise KeywordInputError(f"{source}: missing column(s) {missing}")
    if table.num_rows == 0:
        raise KeywordInputError(f"{source} is empty: no products")
    texts = table.column("text").cast(pa.string()).to_pylist()
    ids = table.column("item_id").cast(pa.string()).to_pylist()
    for row, (pid, text) in enumerate(zip(ids, texts, strict=True)):
        if pid is None:
            raise KeywordInputError(f"{source}: item_id is null at row {row}")
        if text is None or not text.strip():
            raise KeywordInputError(
                f"{source}: product {pid!r} (row {row}) has empty text; keywords are "
                "retrieved from the product's text"
            )
    return pa.table({"item_id": pa.array(ids, pa.string()), "text": pa.array(texts, pa.string())})


def check_keywords(keywords: Sequence[str]) -> list[str]:
    """Validate the keyword vocabulary: non-empty, strings, unique, no blanks."""
    kws = list(keywords)
    if not kws:
        raise KeywordInputError("keywords: the vocabulary is empty; nothing to suggest from")
    seen: set[str] = set()
    for i, k in enumerate(kws):
        if not isinstance(k, str) or not k.strip():
            raise KeywordInputError(f"keywords[{i}] is {k!r}; keywords are non-blank strings")
        if k in seen:
            raise KeywordInputError(f"keywords[{i}] {k!r} is duplicated; deduplicate first")
        seen.add(k)
    return kws


def check_interactions(table: object, source: str = "interactions") -> pa.Table:
    """Validate ``(keyword, item_id, weight)`` evidence rows; weight defaults to 1."""
    if not isinstance(table, pa.Table):
        raise KeywordInputError(f"{source} must be a pyarrow.Table (keyword, item_id, weight)")
    missing = [c for c in ("keyword", "item_id") if c not in table.column_names]
    if missing:
        raise KeywordInputError(f"{source}: missing column(s) {missing}")
    if table.num_rows == 0:
        raise KeywordInputError(f"{source} is empty: no keyword -> product evidence")
    weight = (
        table.column("weight").cast(pa.float64())
        if "weight" in table.column_names
        else pa.array(np.ones(table.num_rows))
    )
    out = pa.table(
        {
            "keyword": table.column("keyword").cast(pa.string()),
            "item_id": table.column("item_id").cast(pa.string()),
            "weight": weight,
        }
    )
    for name in INTERACTION_COLUMNS:
        if out.column(name).null_count:
            raise KeywordInputError(f"{source}: column {name!r} has null values")
    return out


class KeywordRetriever(ABC):
    """Product -> keyword candidate generator.

    Attributes
    ----------
    keywords_
        The vocabulary, shape ``(n_keywords,)``; :meth:`retrieve` returns positions into it.
    """

    name: ClassVar[str]
    needs_interactions: ClassVar[bool] = False

    keywords_: np.ndarray

    @abstractmethod
    def fit(
        self,
        products: pa.Table,
        keywords: Sequence[str],
        interactions: pa.Table | None = None,
    ) -> Self:
        """Learn from the vocabulary, products ``(item_id, text)`` and optional evidence."""

    @abstractmethod
    def _scores(self, products: pa.Table, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k positions and scores for validated products."""

    @abstractmethod
    def score_all(self, products: pa.Table) -> np.ndarray:
        """Score of every keyword for every product, ``(n_products, n_keywords)`` float32."""

    def score_texts(self, products: pa.Table, keywords: Sequence[str]) -> np.ndarray:
        """Scores of arbitrary keyword strings, ``(n_products, len(keywords))``.

        Keywords outside the vocabulary score 0 unless a retriever can score free text
        (dense and BM25 override this).
        """
        self._check_fitted()
        full = self.score_all(products)
        pos = {k: i for i, k in enumerate(self.keywords_.tolist())}
        cols = np.asarray([pos.get(k, -1) for k in keywords], dtype=np.int64)
        out = np.zeros((full.shape[0], cols.size), dtype=np.float32)
        known = cols >= 0
        out[:, known] = full[:, cols[known]]
        return out

    def retrieve(self, products: pa.Table, k: int = 20) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` keywords per product.

        Parameters
        ----------
        products
            ``(item_id, text)`` table of ``n`` products.
        k
            Keywords per product.

        Returns
        -------
        positions, scores
            ``(n, k)`` int64 positions into ``keywords_`` (``-1`` pads) and ``(n, k)``
            float32 scores, best first.
        """
        self._check_fitted()
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
            raise KeywordInputError(f"k must be a positive integer, got {k!r}")
        return self._scores(check_products(products), int(k))

    def _check_fitted(self) -> None:
        if not hasattr(self, "keywords_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(...) first")

    def get_params(self) -> dict[str, Any]:
        import inspect

        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def save(self, directory: Path) -> None:
        """Write the fitted retriever into ``directory`` (created)."""
        self._check_fitted()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "params.json").write_text(
            json.dumps({"name": self.name, "params": self.get_params()}, sort_keys=True)
        )
        pq.write_table(
            pa.table({"keyword": pa.array(self.keywords_.tolist(), pa.string())}),
            directory / "keywords.parquet",
        )
        self._save_state(directory)

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Inverse of :meth:`save`."""
        meta = json.loads((directory / "params.json").read_text())
        obj = cls(**meta["params"])
        obj.keywords_ = np.asarray(
            pq.read_table(directory / "keywords.parquet").column("keyword").to_pylist(),
            dtype=object,
        )
        obj._load_state(directory)
        return obj

    @abstractmethod
    def _save_state(self, directory: Path) -> None: ...

    @abstractmethod
    def _load_state(self, directory: Path) -> None: ...


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` columns per row of a dense ``(n, m)`` score matrix, ties by position.

    Returns ``(n, k)`` positions (``-1`` pads) and float32 scores (``-inf`` pads); ``-inf``
    entries are treated as absent.
    """
    n, m = scores.shape
    kk = min(k, m)
    idx = np.full((n, k), -1, dtype=np.int64)
    out = np.full((n, k), -np.inf, dtype=np.float32)
    if kk == 0:
        return idx, out
    # stable sort on the negated scores keeps the lower position first among ties
    order = np.argsort(-scores, axis=1, kind="stable")[:, :kk]
    vals = np.take_along_axis(scores, order, axis=1)
    present = np.isfinite(vals)
    idx[:, :kk] = np.where(present, order, -1)
    out[:, :kk] = np.where(present, vals, -np.inf)
    return idx, out
