"""Train the ``keywords`` family on a workspace: a
:class:`~reclift.models.keywords.suggest.KeywordSuggester` that learns from the query log
which search queries lead shoppers to which products, and suggests those queries as
advertising keywords for any product (catalog or new).

Evidence is each query -> product click (weight 1) or order (weight 4); impressions are not
evidence (shown is not chosen). Products are described by their title, category path and
brand.

Offline metrics come from a time-based holdout: a suggester fitted on the log before the
last ``holdout_fraction`` of its time span suggests keywords for the products clicked after
it; the truth of a product is the set of queries that led to its clicks then. Recall and
nDCG at 10 (and a recall@k curve) are compared with a "most popular queries" baseline. The
published model is then refitted on the whole log.

Options (``TrainContext.options``): ``keywords_encoder`` (``hashing``, the default, or
``minilm``: better on real text but slower), ``keywords_ranker`` (``xgb``, ``lr``, ``nn`` or
``none``), ``keywords_holdout_fraction`` (0.2).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reclift.evaluation.ranking import ranking_scores
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.models.keywords.base import product_texts
from reclift.models.keywords.suggest import KeywordSuggester

NAME = "keywords"
ACTION_WEIGHTS: Mapping[str, float] = {"click": 1.0, "order": 4.0}
TEXT_COLUMNS = ("title", "category", "brand")
EVAL_K = 10
CURVE_K = 20
MAX_EVAL_PRODUCTS = 300
RANKER_PRODUCTS = 600
"""Products whose candidates train the ranker: enough for a stable ranker, few enough that
XGBoost trains in seconds on a million-event shop."""
N_CANDIDATES = 20


def evidence_table(queries: pa.Table) -> pa.Table:
    """``(keyword, item_id, weight, ts)`` rows of the query log that are evidence: a click or
    an order on a named product with a non-blank query."""
    action = queries.column("action")
    keep = pc.and_(
        pc.and_(pc.is_valid(queries.column("item_id")), pc.is_valid(queries.column("query"))),
        pc.is_in(action, pa.array(list(ACTION_WEIGHTS))),
    )
    rows = queries.filter(pc.fill_null(keep, False))
    blank = pc.equal(pc.utf8_trim_whitespace(rows.column("query")), "")
    rows = rows.filter(pc.invert(blank))
    weights = [ACTION_WEIGHTS[a] for a in rows.column("action").to_pylist()]
    return pa.table(
        {
            "keyword": rows.column("query"),
            "item_id": rows.column("item_id"),
            "weight": pa.array(weights, pa.float64()),
            "ts": rows.column("ts"),
        }
    )


def catalog_texts(items: pa.Table) -> pa.Table:
    """``(item_id, text)`` of every item with some text (title, category levels, brand)."""
    cols = [c for c in TEXT_COLUMNS if c in items.column_names]
    joined = [
        " ".join(str(v).replace(">", " ").replace("/", " ") for v in row if v is not None).strip()
        for row in zip(*(items.column(c).to_pylist() for c in cols), strict=True)
    ]
    has_text = pa.array([bool(t) for t in joined])
    kept = items.filter(pc.and_(has_text, pc.is_valid(items.column("item_id"))))
    if kept.num_rows == 0:
        raise SkipFamily(
            f"no item has text ({', '.join(cols)} are empty): keywords are suggested from "
            "a product's text; ingest items with titles"
        )
    return product_texts(kept, text_cols=cols, source="items")


def _suggester(ctx: TrainContext, n_evidence_products: int) -> KeywordSuggester:
    ranker = str(ctx.options.get("keywords_ranker", "xgb"))
    fraction = min(0.3, max(0.05, RANKER_PRODUCTS / max(1, n_evidence_products)))
    return KeywordSuggester(
        ("dense", "bm25", "collaborative"),
        encoder=str(ctx.options.get("keywords_encoder", "hashing")),
        n_candidates=N_CANDIDATES,
        ranker=None if ranker == "none" else ranker,
        validation_fraction=fraction,
    )


def _n_products(evidence: pa.Table) -> int:
    return int(pc.count_distinct(evidence.column("item_id")).as_py())


def holdout_metrics(
    ctx: TrainContext, prods: pa.Table, evidence: pa.Table, fraction: float
) -> dict[str, Any]:
    """Fit on the log before the cut, score the suggestions for products clicked after it.

    Returns the ``metrics``, ``curves`` and ``holdout`` entries of the artifact's meta (empty
    metrics with a note when the log is too short to split).
    """
    ts = evidence.column("ts")
    lo, hi = pc.min(ts).as_py(), pc.max(ts).as_py()
    if lo is None or lo == hi:
        return {"metrics": {}, "curves": {}, "holdout": {"note": "single timestamp: no split"}}
    cut = hi - (hi - lo) * fraction
    before = evidence.filter(pc.less(ts, pa.scalar(cut, ts.type)))
    after = evidence.filter(pc.greater_equal(ts, pa.scalar(cut, ts.type)))
    if before.num_rows == 0 or after.num_rows == 0:
        return {"metrics": {}, "curves": {}, "holdout": {"note": "one side of the cut is empty"}}
    train = before.drop_columns(["ts"])
    model = _suggester(ctx, _n_products(train)).fit(prods, None, train)
    assert model.cleaner_ is not None or not model.clean
    known = set(prods.column("item_id").to_pylist())
    after_kw = after.column("keyword").to_pylist()
    cleaned = model.cleaner_.transform(after_kw) if model.cleaner_ is not None else after_kw
    truth: dict[str, set[str]] = {}
    for kw, item in zip(cleaned, after.column("item_id").to_pylist(), strict=True):
        if kw and item in known:
            truth.setdefault(item, set()).add(kw)
    rng = np.random.default_rng(0)
    ids = sorted(truth)
    if len(ids) > MAX_EVAL_PRODUCTS:
        ids = sorted(rng.choice(np.asarray(ids, dtype=object), MAX_EVAL_PRODUCTS, replace=False))
    truth = {i: truth[i] for i in ids}
    pos = {p: i for i, p in enumerate(prods.column("item_id").to_pylist())}
    eval_prods = prods.take(pa.array([pos[i] for i in ids], pa.int64()))
    out = model.suggest(eval_prods, CURVE_K, explain=False)
    recs: dict[str, list[str]] = {i: [] for i in ids}
    for item, kw in zip(
        out.column("item_id").to_pylist(), out.column("keyword").to_pylist(), strict=True
    ):
        recs[item].append(kw)
    popular_order = np.argsort(-model.prior_, kind="stable")[:CURVE_K]
    popular = [str(k) for k in model.keywords_[popular_order].tolist()]
    base = {i: popular for i in ids}
    vocab = set(model.keywords_.tolist())
    pairs = sum(len(t) for t in truth.values())
    covered = sum(len(t & vocab) for t in truth.values())
    at = {k: ranking_scores(recs, truth, k) for k in range(1, CURVE_K + 1)}
    base_at = {k: ranking_scores(base, truth, k) for k in (EVAL_K,)}
    # products without evidence before the cut show how well text alone transfers
    seen = set(train.column("item_id").to_pylist())
    cold = {i: truth[i] for i in ids if i not in seen}
    metrics = {
        f"recall@{EVAL_K}": at[EVAL_K].recall,
        f"ndcg@{EVAL_K}": at[EVAL_K].ndcg,
        f"hit_rate@{EVAL_K}": at[EVAL_K].hit_rate,
        f"popular_recall@{EVAL_K}": base_at[EVAL_K].recall,
        f"popular_ndcg@{EVAL_K}": base_at[EVAL_K].ndcg,
        "vocabulary_coverage": covered / pairs if pairs else 0.0,
    }
    if cold:
        cold_scores = ranking_scores(recs, cold, EVAL_K)
        metrics[f"cold_recall@{EVAL_K}"] = cold_scores.recall
        metrics[f"cold_ndcg@{EVAL_K}"] = cold_scores.ndcg
    curves = {
        "recall_at_k": {
            "x": list(range(1, CURVE_K + 1)),
            "y": [at[k].recall for k in range(1, CURVE_K + 1)],
            "x_label": "keywords suggested per product (k)",
            "y_label": "recall of held-out clicked queries",
        }
    }
    holdout = {
        "cut": cut.isoformat(),
        "fraction": fraction,
        "train_rows": before.num_rows,
        "test_products": len(ids),
        "test_pairs": pairs,
        "cold_products": len(cold),
    }
    return {"metrics": metrics, "curves": curves, "holdout": holdout}


def train(ctx: TrainContext) -> dict[str, str]:
    """Fit and publish the ``keywords`` suggester; returns artifact name -> version.

    Raises
    ------
    SkipFamily
        No query log, no click or order in it, or no item with text.
    """
    ws = ctx.ws
    t0 = time.perf_counter()
    queries = ws.read_table("queries", ["query", "ts", "item_id", "action"])
    if queries.num_rows == 0:
        raise SkipFamily(
            "no query log: ingest a 'queries' table (query, ts, item_id, action) so the "
            "suggester can learn which searches lead to which products"
        )
    evidence = evidence_table(queries)
    if evidence.num_rows == 0:
        raise SkipFamily(
            f"the query log ({queries.num_rows:,} rows) has no click or order on a product: "
            "impressions alone do not show which keywords lead to a product"
        )
    prods = catalog_texts(ws.read_table("items", ["item_id", *TEXT_COLUMNS]))
    # clicks on products missing from the catalog (or without text) teach nothing
    evidence = evidence.filter(pc.is_in(evidence.column("item_id"), prods.column("item_id")))
    if evidence.num_rows == 0:
        raise SkipFamily(
            "no query click or order is on a catalog item with text: check that the query "
            "log's item_id values are the items table's ids"
        )
    fraction = float(ctx.options.get("keywords_holdout_fraction", 0.2))
    if not 0.0 < fraction < 1.0:
        raise SkipFamily(f"keywords_holdout_fraction must be in (0, 1), got {fraction}")
    ctx.say(f"keywords: {evidence.num_rows:,} query clicks/orders on {prods.num_rows:,} items")
    evaluation = holdout_metrics(ctx, prods, evidence, fraction)
    metrics = evaluation["metrics"]
    if metrics:
        ctx.say(
            f"keywords: holdout recall@{EVAL_K} {metrics[f'recall@{EVAL_K}']:.3f} "
            f"(popular queries {metrics[f'popular_recall@{EVAL_K}']:.3f}), "
            f"nDCG@{EVAL_K} {metrics[f'ndcg@{EVAL_K}']:.3f}"
        )
    everything = evidence.drop_columns(["ts"])
    model = _suggester(ctx, _n_products(everything)).fit(prods, None, everything)
    artifact = model.save(
        ws.artifacts,
        NAME,
        meta={
            "trained_from": "workspace",
            "engine": ctx.engine,
            "n_queries": queries.num_rows,
            "n_evidence": evidence.num_rows,
            "n_items": prods.num_rows,
            "text_columns": list(TEXT_COLUMNS),
            # `reclift keywords suggest --model-dir <version dir>` reads products files the
            # same way
            "file_mode": {"id_col": "item_id", "text_cols": list(TEXT_COLUMNS)},
            "train_seconds": round(time.perf_counter() - t0, 3),
            **evaluation,
            "primary_metric": f"ndcg@{EVAL_K}",
        },
    )
    ctx.say(f"keywords: published version {artifact.version}")
    return {NAME: artifact.version}
