"""Keyword suggestions end to end: clean the vocabulary, retrieve candidates with every
retriever, merge them and rank them.

Merging: candidates are the union of each retriever's top ``n_candidates``. Without evidence
(no interactions) they are ordered by reciprocal-rank fusion. With evidence a
:class:`~reclift.models.keywords.ranker.KeywordRanker` learns to order them: the products
with evidence are split; retrievers fitted on one part produce candidates for the other,
whose evidence gives the labels; the retrievers are then refitted on everything.

Pair features: each retriever's score and reciprocal rank, the keyword's prior (log evidence),
its length in words, and the share of its words found in the product text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reclift.models.errors import NotFittedError
from reclift.models.keywords.base import (
    KeywordRetriever,
    check_interactions,
    check_keywords,
    check_products,
)
from reclift.models.keywords.errors import KeywordInputError
from reclift.models.keywords.hygiene import KeywordCleaner
from reclift.models.keywords.ranker import KeywordRanker
from reclift.models.keywords.retrieval import RETRIEVERS, get_retriever, tokens
from reclift.workspace.artifacts import Artifact, ArtifactStore

RRF_K = 60.0
OUTPUT_COLUMNS = ("item_id", "keyword", "rank", "score", "reasons")


def _rank_matrix(scores: np.ndarray) -> np.ndarray:
    """0-based rank of every column within its row (best = 0; ties by position)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    rows = np.arange(scores.shape[0])[:, None]
    ranks[rows, order] = np.arange(scores.shape[1])[None, :]
    return ranks


class KeywordSuggester:
    """Suggest keywords for products.

    Parameters
    ----------
    retrievers
        Retriever names (``dense``, ``bm25``, ``collaborative``); ``collaborative`` is
        dropped when there is no evidence.
    encoder
        Text encoder of the embedding retrievers.
    n_candidates
        Candidates taken from each retriever before merging.
    ranker
        ``"xgb"``, ``"lr"``, ``"nn"`` or ``None`` (reciprocal-rank fusion only).
    clean
        Normalise keywords and merge spelling variants before anything else.
    validation_fraction
        Share of products with evidence used to train the ranker.
    seed
        Split and model randomness.

    Attributes
    ----------
    retrievers_
        Fitted retrievers by name.
    ranker_
        The fitted ranker or ``None``.
    cleaner_
        The fitted :class:`KeywordCleaner` or ``None``.
    prior_
        ``log1p`` evidence weight per keyword, shape ``(n_keywords,)``.
    catalog_
        The ``(item_id, text)`` products seen at fit (``None`` for models saved without
        them), so a product can later be named by its id alone (:meth:`catalog_texts`).
    """

    def __init__(
        self,
        retrievers: Sequence[str] = ("dense", "bm25", "collaborative"),
        *,
        encoder: str = "minilm",
        n_candidates: int = 50,
        ranker: str | None = "xgb",
        clean: bool = True,
        validation_fraction: float = 0.3,
        seed: int = 0,
    ) -> None:
        self.retrievers = retrievers
        self.encoder = encoder
        self.n_candidates = n_candidates
        self.ranker = ranker
        self.clean = clean
        self.validation_fraction = validation_fraction
        self.seed = seed

    # ------------------------------------------------------------------ fitting
    def _make(self, name: str) -> KeywordRetriever:
        params: dict[str, Any] = {}
        if name in ("dense", "collaborative", "twotower"):
            params["encoder"] = self.encoder
        if name == "twotower":
            from reclift.models.keywords.twotower import TwoTowerRetriever

            return TwoTowerRetriever(**params)
        return get_retriever(name, **params)

    def fit(
        self,
        products: pa.Table,
        keywords: Sequence[str] | None = None,
        interactions: pa.Table | None = None,
    ) -> Self:
        """Fit on products ``(item_id, text)``, a vocabulary and/or evidence.

        Parameters
        ----------
        products
            Every product that may be suggested for or appears in ``interactions``.
        keywords
            The vocabulary; defaults to the keywords of ``interactions``.
        interactions
            ``(keyword, item_id, weight)`` evidence (clicks, orders, judged relevant).
        """
        prods = check_products(products)
        self.catalog_: pa.Table | None
        self._set_catalog(prods)
        inter = check_interactions(interactions) if interactions is not None else None
        if keywords is None:
            if inter is None:
                raise KeywordInputError(
                    "no keywords: give a keyword list or a query log (interactions)"
                )
            keywords = list(dict.fromkeys(inter.column("keyword").to_pylist()))
        raw = list(keywords)
        if not raw:
            raise KeywordInputError("keywords: the vocabulary is empty; nothing to suggest from")
        self.cleaner_: KeywordCleaner | None = None
        if self.clean:
            seen: dict[str, int] = dict.fromkeys(raw, 1)
            if inter is not None:
                for kw in inter.column("keyword").to_pylist():
                    if kw in seen:
                        seen[kw] += 1
            self.cleaner_ = KeywordCleaner().fit(raw, counts=[seen[k] for k in raw])
            raw = [k for k in dict.fromkeys(self.cleaner_.transform(raw)) if k]
            if inter is not None:
                mapped = self.cleaner_.transform(inter.column("keyword").to_pylist())
                inter = inter.set_column(0, "keyword", pa.array(mapped, pa.string()))
        vocab = check_keywords(list(dict.fromkeys(raw)))
        names = [
            n
            for n in self.retrievers
            if inter is not None or n not in ("collaborative", "twotower")
        ]
        unknown = [n for n in names if n not in RETRIEVERS and n != "twotower"]
        if unknown or not names:
            raise KeywordInputError(
                f"retrievers {unknown or list(self.retrievers)} unusable; choose from "
                f"{sorted(RETRIEVERS)} (collaborative needs interactions)"
            )
        self.notes_: list[str] = []
        if inter is None and len(names) != len(list(self.retrievers)):
            self.notes_.append("collaborative dropped: no interactions")
        self.keywords_ = np.asarray(vocab, dtype=object)
        pos = {k: i for i, k in enumerate(vocab)}
        prior = np.zeros(len(vocab), dtype=np.float64)
        if inter is not None:
            for kw, w in zip(
                inter.column("keyword").to_pylist(), inter.column("weight").to_pylist(), strict=True
            ):
                if kw in pos and w > 0:
                    prior[pos[kw]] += w
        self.prior_ = np.log1p(prior)
        self.ranker_: KeywordRanker | None = None
        if self.ranker is not None and inter is not None:
            self.ranker_ = self._fit_ranker(prods, vocab, inter, names)
        self.retriever_names_ = names
        self.retrievers_ = {n: self._make(n).fit(prods, vocab, inter) for n in names}
        return self

    def _fit_ranker(
        self, prods: pa.Table, vocab: list[str], inter: pa.Table, names: list[str]
    ) -> KeywordRanker | None:
        rng = np.random.default_rng(self.seed)
        with_ev = np.unique(np.asarray(inter.column("item_id").to_pylist(), dtype=object))
        if with_ev.size < 10:
            self.notes_.append("ranker skipped: fewer than 10 products with evidence")
            return None
        val = set(rng.permutation(with_ev)[: max(1, int(self.validation_fraction * with_ev.size))])
        ids = np.asarray(inter.column("item_id").to_pylist(), dtype=object)
        in_val = np.fromiter((i in val for i in ids), dtype=bool, count=ids.size)
        train_inter = inter.filter(pa.array(~in_val))
        fitted = {n: self._make(n).fit(prods, vocab, train_inter) for n in names}
        pid = np.asarray(prods.column("item_id").to_pylist(), dtype=object)
        vmask = np.fromiter((p in val for p in pid), dtype=bool, count=pid.size)
        vprods = prods.filter(pa.array(vmask))
        positives: set[tuple[str, str]] = {
            (kw, it)
            for kw, it, w in zip(
                inter.column("keyword").to_pylist(),
                ids.tolist(),
                inter.column("weight").to_pylist(),
                strict=True,
            )
            if w > 0 and it in val
        }
        prior = self.prior_
        # the validation products' own evidence must not leak into their prior
        self.prior_ = self._prior(train_inter, vocab)
        rows, kws, x, names_f, _ = self._candidates(fitted, vprods, vocab, None)
        self.prior_ = prior
        items = vprods.column("item_id").to_pylist()
        y = np.fromiter(((k, items[r]) in positives for r, k in zip(rows, kws, strict=True)), float)
        if y.sum() == 0 or y.sum() == y.size:
            self.notes_.append("ranker skipped: candidates hold a single class")
            return None
        assert self.ranker is not None
        return KeywordRanker(self.ranker, seed=self.seed).fit(x, y, feature_names=names_f)

    @staticmethod
    def _prior(inter: pa.Table, vocab: list[str]) -> np.ndarray:
        pos = {k: i for i, k in enumerate(vocab)}
        out = np.zeros(len(vocab))
        for kw, w in zip(
            inter.column("keyword").to_pylist(), inter.column("weight").to_pylist(), strict=True
        ):
            if kw in pos and w > 0:
                out[pos[kw]] += w
        return np.log1p(out)

    # ------------------------------------------------------------------ features
    def _candidates(
        self,
        fitted: dict[str, KeywordRetriever],
        prods: pa.Table,
        vocab: list[str],
        candidates: dict[str, list[str]] | None,
    ) -> tuple[np.ndarray, list[str], np.ndarray, list[str], np.ndarray]:
        """Candidate pairs and their features: ``rows (m,)``, ``keywords (m,)``, ``X (m, f)``,
        the feature names and the reciprocal-rank-fusion score ``(m,)``.

        Nothing is stored on ``self``: a served model answers concurrent requests.
        """
        items = prods.column("item_id").to_pylist()
        extra: list[str] = []
        if candidates is not None:
            known = set(vocab)
            extra = sorted({k for ks in candidates.values() for k in ks if k not in known})
        ext = vocab + extra
        mats = {n: r.score_texts(prods, ext) for n, r in fitted.items()}
        ranks = {n: _rank_matrix(m) for n, m in mats.items()}
        if candidates is None:
            mask = np.zeros((len(items), len(ext)), dtype=bool)
            for n, m in mats.items():
                top = ranks[n] < self.n_candidates
                mask |= top & (m > 0) if n != "dense" else top
            r_idx, c_idx = np.nonzero(mask)
        else:
            col = {k: i for i, k in enumerate(ext)}
            pairs = [
                (r, col[k])
                for r, it in enumerate(items)
                for k in dict.fromkeys(candidates.get(it, []))
            ]
            r_idx = np.asarray([p[0] for p in pairs], dtype=np.int64)
            c_idx = np.asarray([p[1] for p in pairs], dtype=np.int64)
        feats: list[np.ndarray] = []
        fnames: list[str] = []
        for n in fitted:
            feats.append(mats[n][r_idx, c_idx])
            feats.append(1.0 / (1.0 + ranks[n][r_idx, c_idx]))
            fnames += [f"{n}_score", f"{n}_rrank"]
        prior = np.r_[self.prior_, np.zeros(len(extra))]
        feats.append(prior[c_idx])
        fnames.append("keyword_prior")
        ktoks = [tokens(k) for k in ext]
        ptoks = [set(tokens(t)) for t in prods.column("text").to_pylist()]
        feats.append(np.asarray([len(ktoks[c]) for c in c_idx], dtype=np.float64))
        fnames.append("keyword_words")
        overlap = [
            (sum(t in ptoks[r] for t in ktoks[c]) / len(ktoks[c])) if ktoks[c] else 0.0
            for r, c in zip(r_idx.tolist(), c_idx.tolist(), strict=True)
        ]
        feats.append(np.asarray(overlap))
        fnames.append("word_overlap")
        x = np.column_stack(feats).astype(np.float32) if feats else np.zeros((0, 0), np.float32)
        rrf = sum(1.0 / (RRF_K + 1.0 + ranks[n][r_idx, c_idx]) for n in fitted)
        rrf_scores = np.asarray(rrf, dtype=np.float64).reshape(-1)
        return r_idx, [ext[c] for c in c_idx.tolist()], x, fnames, rrf_scores

    # ------------------------------------------------------------------ suggesting
    def suggest(
        self,
        products: pa.Table,
        k: int = 20,
        *,
        candidates: pa.Table | None = None,
        explain: bool = True,
    ) -> pa.Table:
        """Top-``k`` keywords per product.

        Parameters
        ----------
        products
            ``(item_id, text)``.
        k
            Keywords per product.
        candidates
            Optional ``(item_id, keyword)`` table: rank only these (e.g. a seller's own list).
        explain
            Attach the ranker's top contributions (TreeSHAP for XGBoost) as JSON ``reasons``.

        Returns
        -------
        pyarrow.Table
            ``item_id, keyword, rank, score, reasons`` (rank from 1, best first).
        """
        if not hasattr(self, "retrievers_"):
            raise NotFittedError("KeywordSuggester is not fitted; call fit(...) first")
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise KeywordInputError(f"k must be a positive integer, got {k!r}")
        prods = check_products(products)
        cand: dict[str, list[str]] | None = None
        if candidates is not None:
            for c in ("item_id", "keyword"):
                if c not in candidates.column_names:
                    raise KeywordInputError(f"candidates: missing column {c!r}")
            cand = {}
            kws = candidates.column("keyword").cast(pa.string()).to_pylist()
            if self.cleaner_ is not None:
                kws = self.cleaner_.transform([k or "" for k in kws])
            for it, kw in zip(
                candidates.column("item_id").cast(pa.string()).to_pylist(), kws, strict=True
            ):
                if it is not None and kw:
                    cand.setdefault(it, []).append(kw)
        rows, kws_out, x, _, rrf = self._candidates(
            self.retrievers_, prods, self.keywords_.tolist(), cand
        )
        ranked = self.ranker_ is not None and len(rows) > 0
        score = self.ranker_.predict_proba(x) if self.ranker_ is not None and ranked else rrf
        items = prods.column("item_id").to_pylist()
        order = np.lexsort((np.arange(len(rows)), -score, rows))
        out_rows: list[int] = []
        rank = np.zeros(len(rows), dtype=np.int64)
        last, r = -1, 0
        for i in order.tolist():
            r = r + 1 if rows[i] == last else 1
            last = int(rows[i])
            if r <= k:
                out_rows.append(i)
                rank[i] = r
        sel = np.asarray(out_rows, dtype=np.int64)
        reasons: list[str] = [""] * sel.size
        if explain and self.ranker_ is not None and sel.size:
            reasons = [
                json.dumps({f: round(v, 4) for f, v in rs})
                for rs in self.ranker_.reasons(x[sel], top=3)
            ]
        return pa.table(
            {
                "item_id": pa.array([items[int(rows[i])] for i in sel], pa.string()),
                "keyword": pa.array([kws_out[i] for i in sel], pa.string()),
                "rank": pa.array(rank[sel].astype(np.int32)),
                "score": pa.array(score[sel].astype(np.float32)),
                "reasons": pa.array(reasons, pa.string()),
            }
        )

    def catalog_texts(self, item_ids: Sequence[str]) -> list[str | None]:
        """The fit-time text of each product id, ``None`` for ids not seen at fit."""
        if not hasattr(self, "retrievers_"):
            raise NotFittedError("KeywordSuggester is not fitted; call fit(...) first")
        index = self._catalog_index
        return [index.get(i) for i in item_ids]

    def _set_catalog(self, table: pa.Table | None) -> None:
        self.catalog_ = table
        self._catalog_index: dict[str, str] = (
            {}
            if table is None
            else dict(
                zip(
                    table.column("item_id").to_pylist(),
                    table.column("text").to_pylist(),
                    strict=True,
                )
            )
        )

    # ------------------------------------------------------------------ persistence
    def get_params(self) -> dict[str, Any]:
        return {
            "retrievers": list(self.retrievers),
            "encoder": self.encoder,
            "n_candidates": self.n_candidates,
            "ranker": self.ranker,
            "clean": self.clean,
            "validation_fraction": self.validation_fraction,
            "seed": self.seed,
        }

    def save(
        self,
        store: ArtifactStore | str | Path,
        name: str = "keywords",
        meta: dict[str, Any] | None = None,
    ) -> Artifact:
        """Publish the fitted suggester as one artifact (JSON, Parquet, npz, faiss, XGBoost
        JSON / safetensors)."""
        if not hasattr(self, "retrievers_"):
            raise NotFittedError("KeywordSuggester is not fitted; call fit(...) first")
        st = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
        full = {
            "family": "keywords",
            "class": "KeywordSuggester",
            "params": self.get_params(),
            "retrievers": self.retriever_names_,
            "notes": self.notes_,
            "canonical": self.cleaner_.canonical_ if self.cleaner_ is not None else None,
            "keywords": self.keywords_.tolist(),
            "prior": self.prior_.tolist(),
            **(meta or {}),
        }
        with st.publish(name, full) as tmp:
            for n, r in self.retrievers_.items():
                r.save(tmp / "retrievers" / n)
            if self.ranker_ is not None:
                self.ranker_.save(tmp / "ranker")
            if self.catalog_ is not None:
                pq.write_table(self.catalog_, tmp / "catalog.parquet")
        return st.load(name)

    @classmethod
    def load(cls, source: Artifact | ArtifactStore | str | Path) -> KeywordSuggester:
        """Load what :meth:`save` published (a store root, a version directory or an
        artifact)."""
        from reclift.models.persist import resolve_artifact

        art = resolve_artifact(source)
        meta = art.meta
        if meta.get("family") != "keywords":
            raise KeywordInputError(
                f"{art.path}: not a keywords model (family {meta.get('family')!r})"
            )
        obj = cls(**meta["params"])
        obj.retriever_names_ = list(meta["retrievers"])
        obj.notes_ = list(meta["notes"])
        obj.keywords_ = np.asarray(meta["keywords"], dtype=object)
        obj.prior_ = np.asarray(meta["prior"], dtype=np.float64)
        obj.cleaner_ = None
        if meta["canonical"] is not None:
            cleaner = KeywordCleaner()
            cleaner.canonical_ = dict(meta["canonical"])
            obj.cleaner_ = cleaner
        obj.retrievers_ = {}
        for n in obj.retriever_names_:
            rcls: type[KeywordRetriever]
            if n == "twotower":
                from reclift.models.keywords.twotower import TwoTowerRetriever

                rcls = TwoTowerRetriever
            else:
                rcls = RETRIEVERS[n]
            obj.retrievers_[n] = rcls.load(art.path / "retrievers" / n)
        obj.ranker_ = (
            KeywordRanker.load(art.path / "ranker") if (art.path / "ranker").is_dir() else None
        )
        catalog = art.path / "catalog.parquet"
        obj._set_catalog(pq.read_table(catalog) if catalog.is_file() else None)
        return obj
