"""Benchmark: decisions per second (choose + feedback) in process.

Measured: the in-memory policy (no log), the durable store (SQLite WAL, synchronous=FULL:
every decision and every feedback is fsynced before it returns) with one thread and with four
threads, for Thompson sampling (8 banners, slate of 1 and of 3) and LinUCB (d = 8). HTTP is
not measured: the service endpoints are a later issue.

Usage: ``python -m benchmarks.bandits_throughput [--seconds 8]``
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import markdown_table, write_results

ARMS = [f"b{i:02d}" for i in range(8)]


def make(kind: str) -> Any:
    from reclift.models.bandits import BernoulliThompson, LinUCB

    if kind == "linucb":
        return LinUCB(ARMS, n_features=8)
    return BernoulliThompson(ARMS)


def run(target: Any, k: int, contextual: bool, seconds: float, threads: int) -> dict[str, float]:
    counts = [0] * threads
    stop = time.perf_counter() + seconds
    lat: list[list[float]] = [[] for _ in range(threads)]

    def worker(i: int) -> None:
        rng = np.random.default_rng(i)
        while time.perf_counter() < stop:
            x = rng.normal(size=8) if contextual else None
            t0 = time.perf_counter()
            dec = target.select(x, k=k)
            target.update(dec.decision_id, [float(rng.random() < 0.05)] * k)
            lat[i].append(time.perf_counter() - t0)
            counts[i] += 1

    t_start = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t_start
    all_lat = np.concatenate([np.array(v) for v in lat]) * 1000
    return {
        "decisions": float(sum(counts)),
        "decisions_per_s": sum(counts) / elapsed,
        "p50_ms": float(np.percentile(all_lat, 50)),
        "p99_ms": float(np.percentile(all_lat, 99)),
    }


def main() -> None:
    from reclift.models.bandits.store import DurableBandit

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=Path(__file__).resolve().parent) as tmp:
        cases = [
            ("thompson", 1, False),
            ("thompson", 3, False),
            ("linucb", 1, True),
        ]
        for kind, k, ctx in cases:
            policy = make(kind).fit()
            rows.append(
                {
                    "policy": kind,
                    "k": k,
                    "mode": "in-memory",
                    "threads": 1,
                    **run(policy, k, ctx, args.seconds, 1),
                }
            )
            print(rows[-1], flush=True)
            for threads in (1, 4, 32):
                db = Path(tmp) / f"{kind}-{k}-{threads}.sqlite"
                store = DurableBandit.create(db, make(kind))
                rows.append(
                    {
                        "policy": kind,
                        "k": k,
                        "mode": "durable (WAL, fsync)",
                        "threads": threads,
                        **run(store, k, ctx, args.seconds, threads),
                    }
                )
                store.close()
                print(rows[-1], flush=True)
    md = (
        "choose + feedback per second in one process (each decision = select + update). "
        "Durable mode fsyncs the SQLite WAL twice per decision (decision, then feedback). "
        "HTTP not measured (service endpoints are a later issue). Machine shared with other "
        "engineers' jobs (see load average).\n\n" + markdown_table(rows) + "\n"
    )
    write_results(
        "bandits_throughput",
        {"seconds_per_case": args.seconds, "results": rows},
        md,
        packages=("reclift", "numpy"),
    )


if __name__ == "__main__":
    main()
