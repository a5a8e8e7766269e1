"""CrowdFlower product -> keyword retrieval: BM25-reverse, dense, collaborative, two-tower,
and the merged lists (reciprocal-rank fusion, and ranked by XGBoost), in one run.

Queries are the keywords; a product's relevant keywords are the queries judged relevant to it
(median_relevance >= 3). Products are split into train/test at random; every test product
ranks all (cleaned) queries. Metrics: NDCG@10 (binary gains) and MRR@10.

    .venv/bin/python -m benchmarks.keywords_crowdflower [--encoder minilm] [--test-size 1500]
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.common import markdown_table, package_versions, write_results
from reclift.datasets.registry import load_dataset_result
from reclift.evaluation.ranking import ranking_scores
from reclift.models.keywords.base import product_texts
from reclift.models.keywords.suggest import KeywordSuggester


def mrr(recommended: dict[str, list[str]], relevant: dict[str, set[str]], k: int) -> float:
    total = 0.0
    for pid, truth in relevant.items():
        for i, kw in enumerate(recommended.get(pid, [])[:k]):
            if kw in truth:
                total += 1.0 / (i + 1)
                break
    return total / max(1, len(relevant))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--encoder", default="minilm")
    ap.add_argument("--test-size", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    res = load_dataset_result("crowdflower")
    judg = res.extras["judgments"]
    prods = product_texts(res.tables["items"], text_cols=["title"])
    ids = np.asarray(prods.column("item_id").to_pylist(), dtype=object)
    rng = np.random.default_rng(args.seed)
    test = set(ids[rng.permutation(ids.size)[: args.test_size]].tolist())
    q = judg.column("query").to_pylist()
    it = judg.column("item_id").to_pylist()
    medrel = judg.column("median_relevance").to_pylist()
    train_rows = [
        (kw, p) for kw, p, r in zip(q, it, medrel, strict=True) if r >= 3 and p not in test
    ]
    inter = pa.table(
        {
            "keyword": [kw for kw, _ in train_rows],
            "item_id": [p for _, p in train_rows],
            "weight": np.ones(len(train_rows)),
        }
    )
    vocab = sorted(set(q))
    test_mask = np.fromiter((p in test for p in ids), dtype=bool, count=ids.size)
    test_prods = prods.filter(pa.array(test_mask))
    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    sugg = KeywordSuggester(
        ("bm25", "dense", "collaborative", "twotower"), encoder=args.encoder, ranker="xgb",
        n_candidates=30, seed=args.seed,
    ).fit(prods, vocab, inter)  # fmt: skip
    timings["fit_all_s"] = time.perf_counter() - t0
    assert sugg.cleaner_ is not None
    canon = dict(zip(vocab, sugg.cleaner_.transform(vocab), strict=True))
    relevant: dict[str, set[str]] = {}
    for kw, p, r in zip(q, it, medrel, strict=True):
        if r >= 3 and p in test:
            relevant.setdefault(p, set()).add(canon[kw])
    test_ids = test_prods.column("item_id").to_pylist()

    def score(name: str, rec: dict[str, list[str]]) -> None:
        s = ranking_scores(rec, relevant, 10)
        rows.append(
            {
                "method": name,
                "ndcg@10": round(s.ndcg, 4),
                "mrr@10": round(mrr(rec, relevant, 10), 4),
                "recall@10": round(s.recall, 4),
                "products": s.users,
            }
        )

    for name, retr in sugg.retrievers_.items():
        t = time.perf_counter()
        pos, _ = retr.retrieve(test_prods, 10)
        timings[f"retrieve_{name}_s"] = time.perf_counter() - t
        kws = retr.keywords_
        score(
            name, {p: [kws[j] for j in row if j >= 0] for p, row in zip(test_ids, pos, strict=True)}
        )
    ranker = sugg.ranker_
    for label, use_ranker in (("merged (RRF)", False), ("merged + XGBoost ranker", True)):
        sugg.ranker_ = ranker if use_ranker else None
        t = time.perf_counter()
        out = sugg.suggest(test_prods, 10, explain=False)
        timings[f"suggest_{label}_s"] = time.perf_counter() - t
        rec: dict[str, list[str]] = {}
        for p, kw in zip(
            out.column("item_id").to_pylist(), out.column("keyword").to_pylist(), strict=True
        ):
            rec.setdefault(p, []).append(kw)
        score(label, rec)
    sugg.ranker_ = ranker
    best_single = max(r["ndcg@10"] for r in rows if not r["method"].startswith("merged"))
    final = rows[-1]["ndcg@10"]
    payload = {
        "encoder": args.encoder,
        "train_products": int(ids.size - len(test)),
        "test_products": len(test),
        "keywords": len(sugg.keywords_),
        "rows": rows,
        "timings_s": timings,
        "best_single_ndcg": best_single,
        "final_minus_best_single": round(final - best_single, 4),
        "aim_met": bool(final >= best_single + 0.05) if not math.isnan(final) else False,
        "notes": sugg.notes_,
        "packages": package_versions(
            ("reclift", "numpy", "torch", "xgboost", "faiss-cpu", "bm25s", "rapidfuzz")
        ),
    }
    md = (
        f"CrowdFlower: {payload['train_products']} train / {len(test)} test products, "
        f"{payload['keywords']} keywords (cleaned queries), encoder {args.encoder}.\n\n"
        + markdown_table(rows)
        + f"\n\nFinal list minus best single retriever: {payload['final_minus_best_single']:+.4f}"
        f" NDCG@10 (aim +0.05: {'met' if payload['aim_met'] else 'not met'}).\n"
    )
    name = "keywords_crowdflower" + ("" if args.encoder == "minilm" else f"_{args.encoder}")
    write_results(name, payload, md)
    print(md)


if __name__ == "__main__":
    main()
