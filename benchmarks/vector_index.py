"""Benchmark: vector index recall@10 and single-thread queries/s, exact vs HNSW.

Vectors: ``n x 128`` float32 from a mixture of 1,000 Gaussian clusters (unit-normalised, as
sentence embeddings are), queries drawn from the same mixture. Ground truth: faiss
``IndexFlatIP`` (exact). Compared side by side through reclift's ``VectorIndex`` interface:
faiss HNSW and usearch HNSW at several ``ef_search`` values; every query batch runs on one
thread. The issue asks for 1M vectors; ``--n`` sets the size (the default run is smaller on
the shared 2-core machine, see the result notes).

Usage: ``python -m benchmarks.vector_index [--n 1000000] [--queries 1000]``
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np

from benchmarks.common import write_results
from reclift.models.search import FaissIndex, USearchIndex, exact_search
from reclift.models.search.base import VectorIndex, normalize_rows

DIM = 128
K = 10


def make_data(n: int, n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(1000, DIM)).astype(np.float32)

    def draw(m: int) -> np.ndarray:
        c = centers[rng.integers(0, 1000, size=m)]
        return normalize_rows(c + 0.6 * rng.normal(size=(m, DIM)).astype(np.float32))

    return draw(n), draw(n_queries)


def timed_search(index: VectorIndex, q: np.ndarray) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    pos, _ = index.search(q, K)
    return pos, time.perf_counter() - t0


def recall(pos: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(pos, truth, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    import faiss

    x, q = make_data(args.n, args.queries)
    load_avg = os.getloadavg()
    rows: list[dict[str, Any]] = []
    faiss.omp_set_num_threads(1)
    exact = FaissIndex(kind="exact", threads=1).build(x)
    truth, exact_s = timed_search(exact, q)
    np.testing.assert_array_equal(truth[:5], exact_search(x, q[:5], K)[0])
    exact_qps = len(q) / exact_s
    rows.append({"index": "faiss exact (IndexFlatIP)", "ef_search": None, "build_s": 0.0,
                 "recall10": 1.0, "qps": exact_qps, "speedup": 1.0})  # fmt: skip
    print(rows[-1], flush=True)
    builders: list[tuple[str, Any]] = [
        ("faiss HNSW", lambda: FaissIndex(kind="hnsw", m=32, ef_construction=100, threads=2)),
        ("usearch HNSW", lambda: USearchIndex(kind="hnsw", m=32, ef_construction=100, threads=2)),
    ]
    for label, make in builders:
        t0 = time.perf_counter()
        index = make().build(x)
        build_s = time.perf_counter() - t0
        for ef in (8, 16, 32, 64, 128):
            index.ef_search = ef
            if isinstance(index, FaissIndex):
                index.threads = 1
                index._tune()
            else:
                index.threads = 1
                index.index_.expansion_search = ef
            pos, secs = timed_search(index, q)
            qps = len(q) / secs
            rows.append({"index": label, "ef_search": ef, "build_s": build_s,
                         "recall10": recall(pos, truth), "qps": qps,
                         "speedup": qps / exact_qps})  # fmt: skip
            print(rows[-1], flush=True)
    # time the exact scan again after the builds: the machine's load drifts during a run
    _, exact_s2 = timed_search(exact, q)
    rows[0]["qps_after"] = len(q) / exact_s2
    ok = [r for r in rows[1:] if r["recall10"] >= 0.95 and r["speedup"] >= 20]
    met = ", ".join(f"{r['index']} ef={r['ef_search']}" for r in ok)
    lines = [
        f"{args.n:,} x {DIM} float32 vectors (Gaussian mixture, 1,000 clusters, unit norm), "
        f"{len(q):,} queries, k = {K}; recall@10 against faiss exact search; queries/s on one "
        f"thread (builds on 2; HNSW m = 32, ef_construction = 100); the exact scan is timed "
        f"before and after the builds ({rows[0]['qps']:,.0f} and {rows[0]['qps_after']:,.0f} "
        f"queries/s), the ratio uses the first. Load average at start {load_avg[0]:.1f} on "
        f"2 shared cores: "
        f"absolute speeds are depressed, ratios less so.",
        "",
        "| index | ef_search | build s | recall@10 | queries/s | x exact |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['index']} | {r['ef_search'] or '-'} | {r['build_s']:.1f} | "
            f"{r['recall10']:.4f} | {r['qps']:,.0f} | {r['speedup']:.1f} |"
        )
    lines += [
        "",
        f"Aim (recall@10 >= 0.95 at >= 20x exact QPS): {'met by ' + met if ok else 'not met'}.",
    ]
    if args.n < 1_000_000:
        lines.append(
            f"Shortfall: run at {args.n:,} vectors, not the 1M the issue asks for (shared, "
            "overloaded machine); exact search cost grows linearly with n, HNSW roughly "
            "logarithmically, so the speed-up at 1M is expected to be larger."
        )
    write_results(
        "vector_index",
        {
            "n": args.n,
            "dim": DIM,
            "k": K,
            "n_queries": len(q),
            "load_avg": load_avg,
            "rows": rows,
        },
        "\n".join(lines) + "\n",
        packages=("reclift", "numpy", "faiss-cpu", "usearch"),
    )


if __name__ == "__main__":
    main()
