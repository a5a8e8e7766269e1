"""Product search: BM25, dense (MiniLM) vectors in a vector index, and hybrid fusion.

:class:`ProductSearch` indexes a catalog's text (chosen columns joined), answers queries in
three modes: ``"bm25"``, ``"dense"`` (cosine of sentence vectors through the vector index) and
``"hybrid"`` (the two top-``depth`` lists fused: by default a convex blend of min-max
normalised scores, or reciprocal rank fusion; see :mod:`reclift.models.search.fusion`),
reranks given candidates per query (the same three modes restricted to them), finds similar
items by the same vectors (which also works for items without any interaction: content cold
start), and applies the recommenders' filters
(:class:`~reclift.models.recs.base.RecFilters`: category, price range, allow/deny lists).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.errors import ArtifactError, SchemaError
from reclift.models.errors import InvalidParameterError, NotFittedError
from reclift.models.persist import as_store, resolve_artifact
from reclift.models.recs.base import IdMap, RecFilters, catalog_arrays, filter_mask
from reclift.models.recs.scored import topk_rows
from reclift.models.search.base import FAMILY, check_texts
from reclift.models.search.bm25 import BM25Retriever
from reclift.models.search.fusion import FUSIONS, convex_fusion, rrf
from reclift.models.search.registry import get_encoder, get_index
from reclift.workspace.artifacts import Artifact, ArtifactStore

MODES = ("hybrid", "bm25", "dense")
# dense share of the fusion when nothing was tuned: equal shares. The best share depends on
# the encoder (MiniLM on CrowdFlower titles: 0.9, chosen on half of the queries, see
# benchmarks/results/search_crowdflower.md; the hashed n-gram encoder is weaker)
DENSE_WEIGHT = 0.5
NAME = "product_search"


def _ranks(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """0-based rank of each value (descending, ties by code)."""
    order = np.lexsort((codes, -values))
    out = np.empty(values.size)
    out[order] = np.arange(values.size)
    return out


class ProductSearch:
    """Lexical + semantic product search over one catalog.

    Parameters
    ----------
    text_columns
        Items columns joined (``". "``) into each product's text.
    encoder
        Registered encoder name (``"minilm"``, ``"hashing"``).
    index
        Registered index backend (``"faiss"``, ``"usearch"``).
    index_kind
        ``"exact"`` or ``"hnsw"``.
    fusion
        ``"convex"``: ``dense_weight * minmax(cosine) + (1 - dense_weight) * minmax(BM25)``
        over the union of the two lists (both scores computed exactly for every member);
        ``"rrf"``: reciprocal rank fusion with the same weight.
    rrf_k
        Rank offset of reciprocal rank fusion (60 in Cormack et al., 2009).
    dense_weight
        Share of the dense list in the fusion, in ``[0, 1]`` (0.5 with ``"rrf"`` = plain
        RRF). Fit it on judged queries that are not the evaluation queries, as
        ``benchmarks/search_crowdflower.py`` does (0.9 for MiniLM on CrowdFlower titles).
    depth
        Results taken from each retriever before fusion.
    k1, b
        BM25 parameters.
    """

    def __init__(
        self,
        *,
        text_columns: Sequence[str] = ("title",),
        encoder: str = "minilm",
        index: str = "faiss",
        index_kind: str = "hnsw",
        fusion: str = "convex",
        rrf_k: float = 60.0,
        dense_weight: float = DENSE_WEIGHT,
        depth: int = 100,
        k1: float = 1.5,
        b: float = 0.75,
    ) -> None:
        self.text_columns = text_columns
        self.encoder = encoder
        self.index = index
        self.index_kind = index_kind
        self.fusion = fusion
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.depth = depth
        self.k1 = k1
        self.b = b

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (JSON-serialisable)."""
        return {
            "text_columns": list(self.text_columns),
            "encoder": self.encoder,
            "index": self.index,
            "index_kind": self.index_kind,
            "fusion": self.fusion,
            "rrf_k": self.rrf_k,
            "dense_weight": self.dense_weight,
            "depth": self.depth,
            "k1": self.k1,
            "b": self.b,
        }

    # ------------------------------------------------------------------ fit
    def fit(self, items: pa.Table) -> ProductSearch:
        """Index a catalog.

        Parameters
        ----------
        items
            Table with ``item_id`` (unique strings) and every column of ``text_columns``;
            optional ``category`` and ``price`` feed the filters.

        Raises
        ------
        SchemaError
            Not a table, missing columns, null/duplicate ids, non-string text columns.
        InvalidParameterError
            Unknown encoder/index/kind, bad ``rrf_k``/``depth``.
        """
        if isinstance(self.text_columns, str) or not self.text_columns:
            raise InvalidParameterError(
                f"text_columns must be a non-empty list of column names, got {self.text_columns!r}"
            )
        if not isinstance(self.depth, int) or isinstance(self.depth, bool) or self.depth < 1:
            raise InvalidParameterError(f"depth must be a positive integer, got {self.depth!r}")
        if (
            isinstance(self.rrf_k, bool)
            or not isinstance(self.rrf_k, (int, float))
            or (self.rrf_k < 0)
        ):
            raise InvalidParameterError(f"rrf_k must be a number >= 0, got {self.rrf_k!r}")
        if self.fusion not in FUSIONS:
            raise InvalidParameterError(
                f"fusion must be one of {list(FUSIONS)}, got {self.fusion!r}"
            )
        w = self.dense_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w <= 1:
            raise InvalidParameterError(f"dense_weight must be in [0, 1], got {w!r}")
        encoder = get_encoder(self.encoder)
        index_cls: Any = get_index(self.index)
        index = index_cls(kind=self.index_kind)
        if not isinstance(items, pa.Table):
            raise SchemaError(f"items must be a pyarrow.Table, got {type(items).__name__}")
        missing = [c for c in ("item_id", *self.text_columns) if c not in items.column_names]
        if missing:
            raise SchemaError(f"items: missing column(s) {missing}; it has {items.column_names}")
        if items.num_rows == 0:
            raise SchemaError("items is empty: nothing to index")
        ids = items.column("item_id")
        if not pa.types.is_string(ids.type) and not pa.types.is_large_string(ids.type):
            raise SchemaError(f"items: column 'item_id' has type {ids.type}; expected string")
        if ids.null_count:
            row = int(
                np.flatnonzero(~np.asarray(pc.is_valid(ids).to_numpy(zero_copy_only=False)))[0]
            )
            raise SchemaError(f"items: column 'item_id' is null at row {row}")
        if pc.count_distinct(ids).as_py() != items.num_rows:
            raise SchemaError("items: column 'item_id' has duplicate ids")
        for c in self.text_columns:
            t = items.column(c).type
            if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)):
                raise SchemaError(f"items: text column {c!r} has type {t}; expected string")
        item_map, codes = IdMap.fit(ids)
        order = np.argsort(codes)
        columns = [items.column(c).to_pylist() for c in self.text_columns]
        texts = [". ".join(str(col[r]) for col in columns if col[r]) for r in order.tolist()]
        self.item_map_ = item_map
        self.texts_ = texts
        self.item_categories_, self.categories_, self.item_prices_ = catalog_arrays(item_map, items)
        self.encoder_ = encoder().fit(texts)
        self.index_ = index.build(self.encoder_.encode(texts))
        self.bm25_ = BM25Retriever(k1=self.k1, b=self.b).fit(texts)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "item_map_"):
            raise NotFittedError("ProductSearch is not fitted; call fit() or load()")

    def _mask(self, filters: RecFilters | Mapping[str, object] | None) -> np.ndarray | None:
        return filter_mask(
            RecFilters.coerce(filters),
            self.item_map_,
            self.item_categories_,
            self.categories_,
            self.item_prices_,
        )

    @staticmethod
    def _check_mode(mode: object) -> str:
        if mode not in MODES:
            raise InvalidParameterError(f"mode must be one of {list(MODES)}, got {mode!r}")
        return str(mode)

    # ------------------------------------------------------------------ search
    def search(
        self,
        queries: Sequence[str],
        k: int,
        *,
        mode: str = "hybrid",
        filters: RecFilters | Mapping[str, object] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` items per query.

        Returns
        -------
        ids : numpy.ndarray
            Shape ``(n_queries, k)`` object, ``None`` padding.
        scores : numpy.ndarray
            Shape ``(n_queries, k)`` float32 (BM25 score, cosine, or the fused score).
        """
        self._check_fitted()
        mode = self._check_mode(mode)
        qs = check_texts(queries, "queries")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
        mask = self._mask(filters)
        n = len(self.item_map_)
        depth = max(k, int(self.depth)) if mode == "hybrid" else k
        out_ids = np.full((len(qs), k), None, dtype=object)
        out_scores = np.full((len(qs), k), np.nan, dtype=np.float32)
        if not qs:
            return out_ids, out_scores
        dense_pos = bm_pos = qvec = None
        if mode in ("dense", "hybrid"):
            qvec = self.encoder_.encode(qs)
            dense_pos, dense_sc = self.index_.search(qvec, depth, mask=mask)
        if mode in ("bm25", "hybrid"):
            bm = self.bm25_.scores(qs)
            # a document without any query term is not a lexical match
            bm[bm <= 0] = -np.inf
            if mask is not None:
                bm[:, ~mask] = -np.inf
            bm_pos, bm_sc = topk_rows(bm, depth)
        for r in range(len(qs)):
            if mode == "dense":
                assert dense_pos is not None
                pos, sc = dense_pos[r], dense_sc[r]
            elif mode == "bm25":
                assert bm_pos is not None
                pos, sc = bm_pos[r], bm_sc[r]
            elif self.fusion == "rrf":
                assert dense_pos is not None and bm_pos is not None
                w = 2.0 * float(self.dense_weight)
                fused = rrf([dense_pos[r], bm_pos[r]], n, float(self.rrf_k), (w, 2.0 - w))
                s = np.where(fused > 0, fused, -np.inf).astype(np.float32)
                top, vals = topk_rows(s[None, :], k)
                pos, sc = top[0], vals[0]
            else:
                assert dense_pos is not None and bm_pos is not None and qvec is not None
                pos, sc = self._convex_top(qvec[r], bm[r], dense_pos[r], bm_pos[r], k)
            ok = pos[:k] >= 0
            m = int(ok.sum())
            out_ids[r, :m] = self.item_map_.ids[pos[:k][ok]]
            out_scores[r, :m] = sc[:k][ok]
        return out_ids, out_scores

    def _convex_top(
        self,
        qvec: np.ndarray,
        lexical: np.ndarray,
        dense_pos: np.ndarray,
        bm_pos: np.ndarray,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` positions and fused scores of one query over the union of both lists.

        Both scores are computed for every member of the union (an item one retriever did
        not list still has a cosine and a BM25 score), so the fusion sees no holes.
        """
        union = np.union1d(dense_pos[dense_pos >= 0], bm_pos[bm_pos >= 0])
        if not union.size:
            return np.full(k, -1, np.int64), np.full(k, np.nan, np.float32)
        dense = self.index_.vectors_[union] @ qvec
        lex = lexical[union]
        # -inf marked "no query term": raw BM25 is 0 there, as in rerank
        fused = convex_fusion(dense, np.where(np.isfinite(lex), lex, 0.0), self.dense_weight)
        # union ascends, so topk_rows' column tie-break is the catalog position order
        top, vals = topk_rows(fused.astype(np.float32)[None, :], k)
        ok = top[0] >= 0
        pos = np.full(k, -1, np.int64)
        pos[ok] = union[top[0][ok]]
        return pos, vals[0]

    def rerank(
        self,
        queries: Sequence[str],
        candidates: Sequence[Sequence[str]],
        *,
        mode: str = "hybrid",
    ) -> tuple[list[list[str]], list[np.ndarray]]:
        """Order each query's candidate items (unknown candidate ids go last, unscored).

        Returns
        -------
        ids : list[list[str]]
            Per query, its candidates best first.
        scores : list[numpy.ndarray]
            Per query, float32 scores aligned with ``ids`` (``NaN`` for unknown items).
        """
        self._check_fitted()
        mode = self._check_mode(mode)
        qs = check_texts(queries, "queries")
        if len(candidates) != len(qs):
            raise InvalidParameterError(
                f"candidates has {len(candidates)} lists for {len(qs)} queries"
            )
        out_ids: list[list[str]] = []
        out_scores: list[np.ndarray] = []
        qvec = self.encoder_.encode(qs) if mode != "bm25" else None
        bm = self.bm25_.scores(qs) if mode != "dense" else None
        for r, cands in enumerate(candidates):
            cand = check_texts(cands, f"candidates[{r}]")
            codes = self.item_map_.encode(cand) if cand else np.zeros(0, np.int32)
            known = codes >= 0
            kc = codes[known]
            dense = self.index_.vectors_[kc] @ qvec[r] if qvec is not None else np.zeros(kc.size)
            lex = bm[r, kc] if bm is not None else np.zeros(kc.size)
            if mode == "dense":
                score = dense
            elif mode == "bm25":
                score = lex
            elif self.fusion == "convex":
                score = convex_fusion(dense, lex, self.dense_weight)
            else:
                # ranks within the candidate list, ties by position in the catalog
                w = 2.0 * float(self.dense_weight)
                score = w / (self.rrf_k + 1.0 + _ranks(dense, kc)) + (2.0 - w) / (
                    self.rrf_k + 1.0 + _ranks(lex, kc)
                )
            order = np.lexsort((kc, -score))
            known_ids = [cand[i] for i in np.flatnonzero(known)[order]]
            unknown_ids = [c for c, ok in zip(cand, known.tolist(), strict=True) if not ok]
            out_ids.append(known_ids + unknown_ids)
            out_scores.append(
                np.concatenate([score[order], np.full(len(unknown_ids), np.nan)]).astype(np.float32)
            )
        return out_ids, out_scores

    def similar_items(
        self,
        items: Sequence[str],
        k: int,
        *,
        filters: RecFilters | Mapping[str, object] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest items by text vector (never the item itself); unknown ids get an empty row."""
        self._check_fitted()
        ids = check_texts(items, "items")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
        codes = self.item_map_.encode(ids) if ids else np.zeros(0, np.int32)
        base = self._mask(filters)
        out_ids = np.full((len(ids), k), None, dtype=object)
        out_scores = np.full((len(ids), k), np.nan, dtype=np.float32)
        for r, code in enumerate(codes.tolist()):
            if code < 0:
                continue
            mask = np.ones(len(self.item_map_), bool) if base is None else base.copy()
            mask[code] = False
            pos, sc = self.index_.search(self.index_.vectors_[code : code + 1], k, mask=mask)
            ok = pos[0] >= 0
            m = int(ok.sum())
            out_ids[r, :m] = self.item_map_.ids[pos[0][ok]]
            out_scores[r, :m] = sc[0][ok]
        return out_ids, out_scores

    def encode_items(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors of new product texts (content cold start), shape ``(n, dim)``."""
        self._check_fitted()
        return self.encoder_.encode(texts)

    # ------------------------------------------------------------------ persistence
    def save(
        self,
        target: ArtifactStore | str | os.PathLike[str],
        name: str = NAME,
        meta: Mapping[str, Any] | None = None,
    ) -> Artifact:
        """Publish the index (texts and catalog as Parquet, vectors ``.npz``, index file)."""
        self._check_fitted()
        import pyarrow.parquet as pq

        store = as_store(target)
        full = {
            "family": FAMILY,
            "model": NAME,
            "params": self.get_params(),
            "encoder_params": self.encoder_.get_params(),
            "index_params": self.index_.get_params(),
            **(meta or {}),
        }
        with store.publish(name, full) as tmp:
            d = Path(tmp)
            pq.write_table(
                pa.table(
                    {
                        "item_id": pa.array(self.item_map_.ids.tolist(), pa.string()),
                        "text": pa.array(self.texts_, pa.string()),
                        "category": pa.array(self.item_categories_.tolist(), pa.string()),
                        "price": pa.array(self.item_prices_, pa.float64()),
                    }
                ),
                d / "items.parquet",
            )
            pq.write_table(
                pa.table({"category": pa.array(sorted(self.categories_), pa.string())}),
                d / "categories.parquet",
            )
            self.encoder_.save(d)
            self.index_.save(d)
        return store.load(name)

    @classmethod
    def load(
        cls, source: Artifact | ArtifactStore | str | os.PathLike[str], name: str | None = None
    ) -> ProductSearch:
        """Rebuild a saved search model (checksums verified)."""
        import pyarrow.parquet as pq

        artifact = resolve_artifact(source, name)
        meta = artifact.meta
        if meta.get("family") != FAMILY or meta.get("model") != NAME:
            raise ArtifactError(
                f"artifact {artifact.path} holds {meta.get('family')}/{meta.get('model')}, "
                f"not {FAMILY}/{NAME}"
            )
        try:
            params = dict(meta["params"])
            # artifacts published before the fusion choice existed were fused by RRF: keep
            # serving them as they were evaluated
            params.setdefault("fusion", "rrf")
            model = cls(**params)
            items = pq.read_table(artifact.file("items.parquet"))
            model.item_map_ = IdMap.from_arrow(items, "item_id")
            model.texts_ = [str(t) for t in items.column("text").to_pylist()]
            model.item_categories_ = np.asarray(items.column("category").to_pylist(), object)
            model.item_prices_ = np.asarray(items.column("price").to_numpy(), np.float64)
            cats = pq.read_table(artifact.file("categories.parquet"))
            model.categories_ = frozenset(cats.column("category").to_pylist())
            model.encoder_ = get_encoder(model.encoder)(**meta["encoder_params"])
            model.encoder_.load_state(artifact.path)
            index_cls: Any = get_index(model.index)
            model.index_ = index_cls(**meta["index_params"])
            model.index_.load_state(artifact.path)
            model.bm25_ = BM25Retriever(k1=model.k1, b=model.b).fit(model.texts_)
        except (pa.ArrowException, KeyError, ValueError, OSError, TypeError) as exc:
            raise ArtifactError(f"artifact {artifact.path} is damaged: {exc}") from None
        if model.index_.size != len(model.item_map_):
            raise ArtifactError(f"artifact {artifact.path}: vectors do not match items")
        return model
