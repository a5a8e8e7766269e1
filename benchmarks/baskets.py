"""Benchmark: basket completion on real receipts, co-purchase vs item-kNN vs popularity.

Data sets (../shared/data, through reclift's loaders): dunnhumby The Complete Journey
(75,000-line sample), UCI Online Retail (France) and Groceries.

* dunnhumby and Online Retail (customers known): **leave-last-basket-out**. For every
  customer with at least two baskets, the last basket (by time, then basket id) is the
  test; the model sees every other basket; the customer's top-10 (repeat purchases allowed:
  grocery shoppers rebuy) is scored by hit rate@10 (at least one item of the last basket)
  and recall@10 (hits / distinct items of the last basket).
* Groceries (anonymous baskets): the last 20 % of baskets (file order) are test baskets with
  at least two items; one item per basket (seeded) is hidden and the rest is the "history"
  of a pseudo-customer; hit rate@10 = recall@10 = the hidden item is in the top 10 (items
  already in the basket are excluded).

Usage: ``OPENBLAS_NUM_THREADS=1 python -m benchmarks.baskets``
"""

from __future__ import annotations

import os
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.common import write_results
from reclift.datasets.registry import is_present, load_dataset
from reclift.models.recs import RECOMMENDERS

K = 10
MODELS: list[tuple[str, str, dict[str, Any]]] = [
    ("popular", "popular", {}),
    ("copurchase cosine", "copurchase", {"similarity": "cosine"}),
    ("copurchase lift (min 3)", "copurchase", {"similarity": "lift", "min_count": 3}),
    ("itemknn", "itemknn", {}),
    ("ease", "ease", {"max_items": 20_000}),
    ("als", "als", {}),
]


def slim(events: pa.Table) -> pa.Table:
    cols = ["user_id", "session_id", "item_id", "event_type", "ts"]
    return events.select([c for c in cols if c in events.column_names])


def last_basket_split(events: pa.Table) -> tuple[pa.Table, dict[str, set[str]]]:
    ev = events.filter(pc.is_valid(events.column("user_id")))
    df = ev.select(["user_id", "session_id", "item_id", "ts"]).to_pandas()
    first_ts = df.groupby(["user_id", "session_id"])["ts"].min().reset_index()
    first_ts = first_ts.sort_values(["user_id", "ts", "session_id"])
    counts = first_ts.groupby("user_id")["session_id"].transform("size")
    last = first_ts[counts >= 2].groupby("user_id").tail(1)
    test_keys = set(zip(last["user_id"], last["session_id"], strict=True))
    is_test = np.array(
        [(u, s) in test_keys for u, s in zip(df["user_id"], df["session_id"], strict=True)]
    )
    truth: dict[str, set[str]] = {}
    for u, i in zip(df["user_id"][is_test], df["item_id"][is_test], strict=True):
        truth.setdefault(str(u), set()).add(str(i))
    return ev.filter(pa.array(~is_test)), truth


def hidden_item_split(events: pa.Table, seed: int = 0) -> tuple[pa.Table, dict[str, set[str]]]:
    df = events.select(["session_id", "item_id", "ts"]).to_pandas()
    baskets = sorted(df["session_id"].unique())
    test = set(baskets[int(0.8 * len(baskets)) :])
    rng = np.random.default_rng(seed)
    truth: dict[str, set[str]] = {}
    keep = np.ones(len(df), dtype=bool)
    for basket, g in df[df["session_id"].isin(test)].groupby("session_id", sort=True):
        if len(g) < 2:
            keep[g.index] = False
            continue
        hide = int(rng.integers(0, len(g)))
        keep[g.index[hide]] = False
        truth[str(basket)] = {str(g["item_id"].iloc[hide])}
    train = events.filter(pa.array(keep))
    # each basket is its own pseudo-customer: the visible items are its history
    return train.set_column(
        train.schema.get_field_index("user_id"), "user_id", train.column("session_id")
    ), truth


def evaluate(
    events: pa.Table, truth: dict[str, set[str]], exclude_seen: bool
) -> list[dict[str, Any]]:
    users = sorted(truth)
    rows = []
    n_items = pc.count_distinct(events.column("item_id")).as_py()
    for label, algo, params in MODELS:
        if algo == "ease" and n_items > params["max_items"]:
            rows.append({"model": label, "skipped": f"{n_items:,} items > max_items"})
            continue
        t0 = time.perf_counter()
        model = RECOMMENDERS[algo](**params).fit(events)
        fit_s = time.perf_counter() - t0
        ids, _ = model.recommend(users, K, exclude_seen=exclude_seen)
        hits = [
            len(truth[u] & {i for i in row if i is not None})
            for u, row in zip(users, ids, strict=True)
        ]
        rows.append(
            {
                "model": label,
                "hit_rate": float(np.mean([h > 0 for h in hits])),
                "recall": float(
                    np.mean([h / len(truth[u]) for h, u in zip(hits, users, strict=True)])
                ),
                "fit_s": fit_s,
            }
        )
        print(label, rows[-1], flush=True)
    return rows


def main() -> None:
    load_avg = os.getloadavg()
    results: dict[str, Any] = {}
    lines = [
        f"Basket completion, k = {K}. Load average at start {load_avg[0]:.1f} on 2 shared cores.",
        "",
    ]
    for name, protocol in (
        ("dunnhumby", "last"),
        ("online-retail-france", "last"),
        ("groceries", "hidden"),
    ):
        if not is_present(name):
            results[name] = {"skipped": "data not present"}
            lines.append(f"{name}: skipped (data not present)")
            continue
        events = slim(load_dataset(name)["events"])
        if protocol == "last":
            train, truth = last_basket_split(events)
            rows = evaluate(train, truth, exclude_seen=False)
            what = "leave-last-basket-out, repeats allowed"
        else:
            train, truth = hidden_item_split(events)
            rows = evaluate(train, truth, exclude_seen=True)
            what = "one hidden item per test basket, basket items excluded"
        results[name] = {"protocol": what, "n_test": len(truth), "rows": rows}
        lines += [
            f"### {name} ({what}; {len(truth):,} test customers/baskets, "
            f"{train.num_rows:,} training events)",
            "",
            "| model | hit rate@10 | recall@10 | fit s |",
            "|---|---|---|---|",
        ]
        for r in rows:
            if "skipped" in r:
                lines.append(f"| {r['model']} | skipped: {r['skipped']} | | |")
            else:
                lines.append(
                    f"| {r['model']} | {r['hit_rate']:.4f} | {r['recall']:.4f} | {r['fit_s']:.1f} |"
                )
        lines.append("")
    write_results(
        "baskets",
        {"k": K, "load_avg": load_avg, "datasets": results},
        "\n".join(lines) + "\n",
        packages=("reclift", "numpy", "scipy", "implicit", "pyarrow"),
    )


if __name__ == "__main__":
    main()
