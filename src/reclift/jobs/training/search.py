"""Train the ``search`` family on a workspace: :class:`ProductSearch` over the items table.

The product text joins the title, brand and category path (the columns that have values);
category and price feed the filters. The encoder is the offline MiniLM when it can embed
the whole catalog within the time budget (``search_budget_s``, default 10 s, projected from
a timed sample) and the hashed n-gram encoder otherwise; ``search_encoder`` forces
``"minilm"`` or ``"hashing"``. The vector index is exact (faiss ``IndexFlatIP``) up to
:data:`EXACT_MAX_ITEMS` items, HNSW above.

Metrics: the model learns nothing from the query log, so every logged query with clicks or
orders is a fair test. For up to ``search_eval_queries`` distinct queries (default 500), the
clicked/ordered items are the relevant ones; ``ndcg@10``, ``recall@10`` of the served
(hybrid) mode and ``ndcg@10_bm25``/``ndcg@10_dense`` go into ``meta["metrics"]``.
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
from reclift.models.search.product_search import MODES, NAME, ProductSearch

TEXT_COLUMNS = ("title", "brand", "category")
EXACT_MAX_ITEMS = 100_000
DEFAULT_BUDGET_S = 10.0
DEFAULT_EVAL_QUERIES = 500
K = 10
_SAMPLE = 64
NOMINAL_MINILM_RATE = 700
"""Titles per second of MiniLM on two CPU threads, used before loading it."""
SEED = 0


def choose_encoder(texts: list[str], option: str, budget_s: float) -> tuple[str, str]:
    """The encoder name and why it was chosen.

    ``"auto"`` first projects MiniLM's time at :data:`NOMINAL_MINILM_RATE` (no loading when
    even that exceeds the budget), then loads it, times a sample and projects again; it
    falls back to ``"hashing"`` when MiniLM is missing or would exceed the budget.
    """
    if option in ("minilm", "hashing"):
        return option, f"{option} requested (search_encoder)"
    if option != "auto":
        raise SkipFamily(f"search_encoder must be auto, minilm or hashing, got {option!r}")
    nominal = len(texts) / NOMINAL_MINILM_RATE
    if nominal > budget_s:
        return "hashing", (
            f"MiniLM would take about {nominal:.0f} s for {len(texts):,} items at "
            f"{NOMINAL_MINILM_RATE} texts/s > budget {budget_s:g} s"
        )
    try:
        from reclift.models.search.encoders import MiniLMEncoder

        encoder = MiniLMEncoder()
        encoder.encode(texts[:8])  # loads the weights: not part of the per-text rate
        sample = texts[:_SAMPLE]
        t0 = time.perf_counter()
        encoder.encode(sample)
        rate = len(sample) / max(time.perf_counter() - t0, 1e-6)
    except Exception as exc:  # any failure to load the model means: use the fallback
        return "hashing", f"MiniLM unavailable ({type(exc).__name__}: {exc})"
    projected = len(texts) / rate
    if projected > budget_s:
        return "hashing", (
            f"MiniLM would take about {projected:.0f} s for {len(texts):,} items "
            f"({rate:.0f} texts/s measured) > budget {budget_s:g} s"
        )
    return "minilm", f"MiniLM projected at {projected:.1f} s ({rate:.0f} texts/s measured)"


def clicked_queries(
    queries: pa.Table, known_items: set[str], max_queries: int, seed: int = SEED
) -> dict[str, set[str]]:
    """Query text -> items clicked or ordered after it (catalog items only), sampled."""
    acted = queries.filter(
        pc.and_(
            pc.is_in(queries.column("action"), value_set=pa.array(["click", "order"])),
            pc.is_valid(queries.column("item_id")),
        )
    )
    out: dict[str, set[str]] = {}
    for q, item in zip(
        acted.column("query").to_pylist(), acted.column("item_id").to_pylist(), strict=True
    ):
        if q and q.strip() and item in known_items:
            out.setdefault(q, set()).add(item)
    if len(out) > max_queries:
        rng = np.random.default_rng(seed)
        keep = rng.choice(np.array(sorted(out), dtype=object), max_queries, replace=False)
        out = {str(q): out[str(q)] for q in sorted(keep.tolist())}
    return out


def search_metrics(model: ProductSearch, relevant: Mapping[str, set[str]]) -> dict[str, float]:
    """nDCG and recall at :data:`K` per retrieval mode (``hybrid`` without a suffix)."""
    qs = sorted(relevant)
    metrics: dict[str, float] = {"queries": float(len(qs))}
    for mode in MODES:
        ids, _ = model.search(qs, K, mode=mode)
        ranked = {q: list(row) for q, row in zip(qs, ids.tolist(), strict=True)}
        scores = ranking_scores(ranked, relevant, K)
        suffix = "" if mode == "hybrid" else f"_{mode}"
        metrics[f"ndcg@{K}{suffix}"] = scores.ndcg
        metrics[f"recall@{K}{suffix}"] = scores.recall
    return metrics


def train(ctx: TrainContext) -> dict[str, str]:
    """Index the catalog and publish ``product_search``; returns artifact name -> version.

    Raises
    ------
    SkipFamily
        No items, or no text in any of the title/brand/category columns.
    """
    ws = ctx.ws
    items = ws.read_table("items", ["item_id", *TEXT_COLUMNS, "price"])
    if items.num_rows == 0:
        raise SkipFamily("the workspace has no items: reclift ingest DIR --table items ...")
    columns = [c for c in TEXT_COLUMNS if items.column(c).null_count < items.num_rows]
    if not columns:
        raise SkipFamily("the items table has no title, brand or category to search in")
    t0 = time.perf_counter()
    texts = [
        ". ".join(str(v) for v in row if v)
        for row in zip(*(items.column(c).to_pylist() for c in columns), strict=True)
    ]
    encoder, why = choose_encoder(
        texts,
        str(ctx.options.get("search_encoder", "auto")),
        float(ctx.options.get("search_budget_s", DEFAULT_BUDGET_S)),
    )
    ctx.say(f"search: encoder {encoder} ({why})")
    kind = "exact" if items.num_rows <= EXACT_MAX_ITEMS else "hnsw"
    model = ProductSearch(text_columns=columns, encoder=encoder, index="faiss", index_kind=kind)
    model.fit(items)
    meta: dict[str, Any] = {
        "trained_from": "workspace",
        "n_items": items.num_rows,
        "encoder_choice": why,
    }
    queries = ws.read_table("queries", ["query", "item_id", "action"])
    relevant = clicked_queries(
        queries,
        set(items.column("item_id").to_pylist()),
        int(ctx.options.get("search_eval_queries", DEFAULT_EVAL_QUERIES)),
    )
    if relevant:
        meta["metrics"] = search_metrics(model, relevant)
        meta["primary_metric"] = f"ndcg@{K}"
        meta["evaluation"] = {
            "protocol": f"logged queries with clicks or orders; relevant = those items; k={K}; "
            "the model does not learn from the query log",
        }
    else:
        ctx.say("search: no queries with clicks in the workspace; publishing without metrics")
    meta["fit_seconds"] = round(time.perf_counter() - t0, 3)
    artifact = model.save(ws.artifacts, NAME, meta=meta)
    shown = f", nDCG@{K} {meta['metrics'][f'ndcg@{K}']:.4f}" if "metrics" in meta else ""
    ctx.say(f"{NAME}: published version {artifact.version}{shown}")
    return {NAME: artifact.version}
