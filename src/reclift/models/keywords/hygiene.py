"""Keyword hygiene: normalise free-text seller keywords, find spelling variants and merge
near-duplicates into one canonical keyword per cluster, with a report of every merge.

Three stages, each catching what the previous one cannot:

1. :func:`normalize_keyword` (deterministic): Unicode NFKC, accents stripped, case folded,
   punctuation to spaces, whitespace collapsed, and each token reduced to a light singular
   stem (``shoes -> shoe``, ``boxes -> box``, ``batteries -> battery``). Two keywords with the
   same normal form are the same keyword.
2. Spelling variants: normal forms within a ``rapidfuzz`` similarity of ``spelling_threshold``
   (``oxfoord shirt`` vs ``oxford shirt``) are linked.
3. Near-duplicates: keyword embeddings clustered with agglomerative clustering (average link,
   cosine distance under ``1 - embedding_threshold``) link paraphrases the edit distance misses
   (``t shirt`` vs ``tee shirt``).

Links form a graph; each connected component is one cluster whose canonical keyword is its
most frequent raw spelling's normal form (ties: the form made of the most common words
across the vocabulary, then alphabetical).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Self

import numpy as np
import pyarrow as pa

from reclift.models.keywords.errors import KeywordInputError

_PUNCT = re.compile(r"[^\w\s]|_", re.UNICODE)
_SPACE = re.compile(r"\s+")
# words that end in "s" but are not plurals, and short words whose "s" is part of the stem
_KEEP_S = frozenset(
    {"glass", "dress", "grass", "boss", "bus", "gas", "lens", "news", "series", "species",
     "jeans", "pants", "shorts", "leggings", "tights", "scissors", "trousers", "glasses",
     "sunglasses", "headphones", "earphones", "earbuds", "goggles", "pliers", "tongs",
     "always", "this", "his", "was", "is", "its", "us", "yes", "plus", "canvas", "chaos",
     "bias", "atlas", "iris", "tennis", "physics", "mathematics", "electronics", "ps"}
)  # fmt: skip
_ES_ENDINGS = ("sses", "shes", "ches", "xes", "zes")
# "-oes" is usually "-oe" + s (shoes, toes); these few are "-o" + es
_OES = frozenset({"potatoes", "tomatoes", "heroes", "echoes", "mangoes", "volcanoes"})


def singular(token: str) -> str:
    """A light English singular stem of one lower-case token (no dictionary needed).

    Pair words (``jeans``, ``scissors``) and words ending in ``ss``/``us``/``is`` stay as they
    are: merging ``glass`` and ``glasses`` would change the product.
    """
    if len(token) <= 2 or token in _KEEP_S or not token.isalpha():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith("ves") and len(token) > 4:
        # knives -> knife, shelves -> shelf
        stem = token[:-3]
        return stem + ("fe" if stem.endswith(("kni", "wi", "li")) else "f")
    if token.endswith(_ES_ENDINGS) or token in _OES:
        return token[:-2]
    if token.endswith(("ss", "us", "is")):
        return token
    if token.endswith("s"):
        return token[:-1]
    return token


def normalize_keyword(text: str) -> str:
    """The normal form of a keyword (see the module docstring); ``""`` for blank input.

    Examples
    --------
    >>> normalize_keyword("  Men's RUNNING-Shoes!! ")
    'men running shoe'
    >>> normalize_keyword("Café  Crème")
    'cafe creme'
    """
    s = unicodedata.normalize("NFKC", text)
    s = "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))
    s = s.casefold()
    # possessive 's goes before punctuation turns it into a separate token
    s = re.sub(r"['’]s\b", "", s)
    s = _PUNCT.sub(" ", s)
    tokens = _SPACE.split(s.strip())
    return " ".join(singular(t) for t in tokens if t)


Embedder = Callable[[Sequence[str]], np.ndarray]


class KeywordCleaner:
    """Map raw keywords to canonical keywords.

    Parameters
    ----------
    spelling_threshold
        ``rapidfuzz.fuzz.ratio`` (0-100) at or above which two normal forms are spelling
        variants; ``None`` turns the stage off.
    min_length_for_fuzzy
        Normal forms shorter than this are never fuzzy-matched (``tv`` vs ``tc``).
    embedding_threshold
        Cosine similarity at or above which embeddings are merged; ``None`` turns the stage
        off.
    embedder
        ``texts -> (n, d)`` L2-normalised vectors (e.g. :func:`reclift.models.keywords.embed.
        encode_texts`); required when ``embedding_threshold`` is set.

    Attributes
    ----------
    canonical_
        Raw keyword -> canonical keyword.
    report_
        One row per raw keyword that changed: ``keyword, normalized, canonical, reason,
        similarity, cluster_size``.
    """

    def __init__(
        self,
        *,
        spelling_threshold: float | None = 90.0,
        min_length_for_fuzzy: int = 6,
        embedding_threshold: float | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.spelling_threshold = spelling_threshold
        self.min_length_for_fuzzy = min_length_for_fuzzy
        self.embedding_threshold = embedding_threshold
        self.embedder = embedder

    def fit(self, keywords: Sequence[str], counts: Sequence[int] | None = None) -> Self:
        """Cluster ``keywords`` (shape ``(n,)``; ``counts`` weight the choice of canonical)."""
        from rapidfuzz import fuzz, process
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        raw = list(keywords)
        if not raw:
            raise KeywordInputError("keywords: the list is empty; nothing to clean")
        for i, kw in enumerate(raw):
            if not isinstance(kw, str):
                raise KeywordInputError(f"keywords[{i}] is {kw!r}; keywords are strings")
        if counts is not None and len(counts) != len(raw):
            raise KeywordInputError("counts must have one entry per keyword")
        if self.embedding_threshold is not None and self.embedder is None:
            raise KeywordInputError("embedding_threshold is set but no embedder was given")
        weight = np.ones(len(raw)) if counts is None else np.asarray(counts, dtype=np.float64)
        norm = [normalize_keyword(k) for k in raw]
        forms = sorted({n for n in norm if n})
        index = {f: i for i, f in enumerate(forms)}
        edges: list[tuple[int, int]] = []
        reason: dict[tuple[int, int], tuple[str, float]] = {}
        if self.spelling_threshold is not None and len(forms) > 1:
            long = [i for i, f in enumerate(forms) if len(f) >= self.min_length_for_fuzzy]
            texts = [forms[i] for i in long]
            sims = process.cdist(
                texts, texts, scorer=fuzz.ratio, score_cutoff=self.spelling_threshold, workers=1
            )
            a, b = np.nonzero(np.triu(sims, k=1))
            for x, y in zip(a.tolist(), b.tolist(), strict=True):
                i, j = long[x], long[y]
                if _digits(forms[i]) != _digits(forms[j]):
                    continue  # "iphone 12" and "iphone 13" are different products
                if not _typo_of(forms[i], forms[j]):
                    continue  # "red toy car" vs "black toy car": a different attribute
                edges.append((i, j))
                reason[(i, j)] = ("spelling", float(sims[x, y]) / 100.0)
        if self.embedding_threshold is not None and self.embedder is not None and len(forms) > 1:
            from sklearn.cluster import AgglomerativeClustering

            vecs = np.asarray(self.embedder(forms), dtype=np.float64)
            labels = AgglomerativeClustering(
                n_clusters=None,
                metric="cosine",
                linkage="average",
                distance_threshold=1.0 - self.embedding_threshold,
            ).fit_predict(vecs)
            for lab in np.unique(labels):
                members = np.flatnonzero(labels == lab)
                if members.size < 2:
                    continue
                anchor = int(members[0])
                for m in members[1:].tolist():
                    if _digits(forms[anchor]) != _digits(forms[m]):
                        continue
                    edges.append((anchor, m))
                    reason.setdefault((anchor, m), ("embedding", float(vecs[anchor] @ vecs[m])))
        n = len(forms)
        if edges:
            e = np.asarray(edges, dtype=np.int64)
            graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
            _, comp = connected_components(graph, directed=False)
        else:
            comp = np.arange(n)
        form_weight = np.zeros(n)
        for f, w in zip(norm, weight, strict=True):
            if f:
                form_weight[index[f]] += w
        # among equally frequent spellings prefer the one made of common words: a typo's
        # misspelt token is rare across the vocabulary ("kithen" vs "kitchen")
        token_df = Counter(t for f in forms for t in set(f.split()))
        typicality = [float(np.mean([np.log(token_df[t]) for t in f.split()])) for f in forms]
        canonical_of_comp: dict[int, str] = {}
        for c in np.unique(comp).tolist():
            member_list: list[int] = np.flatnonzero(comp == c).tolist()
            best = min(member_list, key=lambda m: (-form_weight[m], -typicality[m], forms[m]))
            canonical_of_comp[c] = forms[best]
        size = np.bincount(comp, minlength=n)
        why: dict[int, tuple[str, float]] = {}
        for (i, j), r in reason.items():
            why.setdefault(i, r)
            why.setdefault(j, r)
        self.canonical_: dict[str, str] = {}
        rows: list[dict[str, object]] = []
        for kw, f in zip(raw, norm, strict=True):
            if not f:
                self.canonical_[kw] = ""
                rows.append(_row(kw, f, "", "blank after normalisation", 0.0, 0))
                continue
            fi = index[f]
            canon = canonical_of_comp[int(comp[fi])]
            self.canonical_[kw] = canon
            if canon == kw:
                continue
            # a raw spelling of the canonical only needed normalising; anything else was
            # merged by the link (spelling or embedding) that put it in the cluster
            kind, sim = ("normalised", 1.0) if canon == f else why[fi]
            rows.append(_row(kw, f, canon, kind, sim, int(size[comp[fi]])))
        self.report_ = pa.Table.from_pylist(
            rows,
            schema=pa.schema(
                [
                    ("keyword", pa.string()),
                    ("normalized", pa.string()),
                    ("canonical", pa.string()),
                    ("reason", pa.string()),
                    ("similarity", pa.float64()),
                    ("cluster_size", pa.int64()),
                ]
            ),
        )
        self.n_canonical_ = len(canonical_of_comp)
        return self

    def transform(self, keywords: Sequence[str]) -> list[str]:
        """Canonical form of each keyword; unseen keywords get their normal form."""
        if not hasattr(self, "canonical_"):
            from reclift.models.errors import NotFittedError

            raise NotFittedError("KeywordCleaner is not fitted; call fit(keywords) first")
        return [self.canonical_.get(k, normalize_keyword(k)) for k in keywords]


def _typo_of(a: str, b: str) -> bool:
    """Whether two similar normal forms differ by misspelt words rather than different words:
    same words after removing spaces, or word by word each differing pair is close."""
    from rapidfuzz import fuzz

    ta, tb = a.split(), b.split()
    if len(ta) != len(tb):
        return a.replace(" ", "") == b.replace(" ", "")
    return all(x == y or fuzz.ratio(x, y) >= 75.0 for x, y in zip(ta, tb, strict=True))


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def _row(kw: str, norm: str, canon: str, reason: str, sim: float, size: int) -> dict[str, object]:
    return {
        "keyword": kw,
        "normalized": norm,
        "canonical": canon,
        "reason": reason,
        "similarity": sim,
        "cluster_size": size,
    }
