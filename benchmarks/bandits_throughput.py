"""Benchmark: decisions per second (choose + feedback) in process and over HTTP.

Measured: the in-memory policy (no log) and the durable store (SQLite WAL, synchronous=FULL)
with 1, 4 and 32 threads, for Thompson sampling (8 banners, slate of 1 and of 3) and LinUCB
(d = 8). Two durable modes: ``sync`` (default: select returns after its decision is
committed, update after its feedback is committed: two group commits per decision) and
``async-decisions`` (``DurableBandit(sync_decisions=False)``: select returns once its decision
is queued; update still returns only after a commit that includes the decision and the
feedback). Each row also gives process CPU time per decision (all threads, including
SQLite's), which depends less on the machine's load than the rate does.

HTTP: ``POST /v1/banners/choose`` and ``/v1/banners/feedback`` through FastAPI's TestClient
(in-process ASGI, one client thread), latency percentiles per call.

Usage: ``python -m benchmarks.bandits_throughput [--seconds 8]``
"""

from __future__ import annotations

import argparse
import os
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
    cpu0 = time.process_time()
    load = os.getloadavg()[0]
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t_start
    cpu = time.process_time() - cpu0
    all_lat = np.concatenate([np.array(v) for v in lat]) * 1000
    return {
        "decisions": float(sum(counts)),
        "decisions_per_s": sum(counts) / elapsed,
        "cpu_us_per_decision": cpu / max(sum(counts), 1) * 1e6,
        "p50_ms": float(np.percentile(all_lat, 50)),
        "p99_ms": float(np.percentile(all_lat, 99)),
        "load_1m": load,
    }


def run_http(seconds: float, tmp: Path) -> list[dict[str, Any]]:
    """Choose and feedback latency through the FastAPI app (TestClient, one thread)."""
    from fastapi.testclient import TestClient

    from reclift.serving.app import create_app
    from reclift.serving.settings import ServiceSettings

    settings = ServiceSettings(bandits_dir=tmp / "http", api_keys="bench-key")
    rows = []
    with TestClient(create_app(settings)) as client:
        spec = {"arms": ARMS, "policy": "thompson", "slate_size": 1}
        r = client.put("/v1/admin/banners/bench", json=spec, headers={"X-API-Key": "bench-key"})
        r.raise_for_status()
        rng = np.random.default_rng(0)
        lat_choose: list[float] = []
        lat_feedback: list[float] = []
        load = os.getloadavg()[0]
        stop = time.perf_counter() + seconds
        t_start = time.perf_counter()
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            got = client.post("/v1/banners/choose", json={"campaign": "bench"})
            t1 = time.perf_counter()
            body = {
                "campaign": "bench",
                "decision_id": got.json()["decision_id"],
                "reward": float(rng.random() < 0.05),
            }
            client.post("/v1/banners/feedback", json=body).raise_for_status()
            lat_choose.append(t1 - t0)
            lat_feedback.append(time.perf_counter() - t1)
        elapsed = time.perf_counter() - t_start
    for name, lat in (
        ("POST /v1/banners/choose", lat_choose),
        ("POST /v1/banners/feedback", lat_feedback),
    ):
        ms = np.array(lat) * 1000
        rows.append(
            {
                "route": name,
                "calls": len(lat),
                "decisions_per_s": len(lat) / elapsed,
                "p50_ms": float(np.percentile(ms, 50)),
                "p90_ms": float(np.percentile(ms, 90)),
                "p99_ms": float(np.percentile(ms, 99)),
                "load_1m": load,
            }
        )
    return rows


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
            for sync in (True, False):
                for threads in (1, 4, 32):
                    db = Path(tmp) / f"{kind}-{k}-{threads}-{sync}.sqlite"
                    store = DurableBandit.create(db, make(kind))
                    store.sync_decisions = sync
                    rows.append(
                        {
                            "policy": kind,
                            "k": k,
                            "mode": "durable, " + ("sync" if sync else "async-decisions"),
                            "threads": threads,
                            **run(store, k, ctx, args.seconds, threads),
                        }
                    )
                    store.close()
                    print(rows[-1], flush=True)
        http_rows = run_http(args.seconds, Path(tmp))
        for row in http_rows:
            print(row, flush=True)
    md = (
        "choose + feedback per second in one process (each decision = select + update). "
        "Durable modes fsync the SQLite WAL (synchronous=FULL) before acknowledging; group "
        "commit shares one fsync among the writes waiting at the same moment. "
        "`sync`: the decision and the feedback each wait for a commit; `async-decisions`: "
        "only the feedback waits (its commit includes the decision). "
        "The machine (2 cores) is shared with other engineers' jobs: `load_1m` is the load "
        "average when the row started; `cpu_us_per_decision` (all threads) depends less on "
        "it than the rate.\n\n"
        + markdown_table(rows)
        + "\n\nHTTP through FastAPI's TestClient (in-process ASGI, one client thread, "
        "Thompson sampling, 8 banners, durable sync mode):\n\n" + markdown_table(http_rows) + "\n"
    )
    write_results(
        "bandits_throughput",
        {"seconds_per_case": args.seconds, "results": rows, "http": http_rows},
        md,
        packages=("reclift", "numpy", "fastapi"),
    )


if __name__ == "__main__":
    main()
