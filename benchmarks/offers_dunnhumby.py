"""Universal offer model vs MONO / no-augmentation / two-tower on dunnhumby (seed 000).

Data: The Complete Journey sample shipped with the ``completejourney`` R package
(``transactions_sample``: 75,000 purchase lines of 2,377 households over 2017), loaded by
:mod:`reclift.datasets.dunnhumby`. Every line is an ``order`` event. Products bought fewer
than ``--min-item-events`` times in the sample are dropped with their lines (the MONO-product
baseline is a softmax over every product: thousands of rare products would make it
gigabytes for a handful of events each).

Offer attributes: ``item_id`` (product), ``product_type``, ``product_category`` and
``department`` (the three levels of the category path, each written with its parents so
equal names under different parents stay apart), ``brand`` (the manufacturer id: the data's
own brand column only says National or Private) and ``price_band`` (octiles of the product's
median unit price in the sample).

Protocol (shared with the MovieLens benchmark, :mod:`benchmarks.offers_protocol`): users split
at random into train 50% / validation 10% / test 40%; each test user's lines are split in
time (first half = history, second half = targets). Offers: every value of every attribute,
``department AND price_band`` and random ``product_category OR product_category`` pairs.
AUC per offer over the test target events (positives: events on the offer's products),
wAUC weighted by positive events, popular and cold-start offers reported apart. MONO-x
scores offers over x only; MONO-product scores every offer through its products.

Run: ``.venv/bin/python -m benchmarks.offers_dunnhumby [--epochs N] [--models a,b]``
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import write_results
from benchmarks.offers_protocol import (
    Buckets,
    best_mono_gaps,
    evaluate,
    load_before,
    markdown_pivot,
    split_users,
    summarize,
    wauc_pivot,
)
from reclift.datasets.registry import load_dataset
from reclift.models.offers.base import OfferModel
from reclift.models.offers.mono import MonoOfferModel
from reclift.models.offers.universal import VARIANTS, UniversalOfferModel

ATTRS = ["item_id", "product_type", "product_category", "department", "brand", "price_band"]
# offer type (the attribute's name in the seed's table) -> attribute
OFFER_TYPES = {
    "product": "item_id",
    "product_type": "product_type",
    "category": "product_category",
    "department": "department",
    "brand": "brand",
    "price band": "price_band",
}
N_BANDS = 8


def dunnhumby_items(items: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The offer attributes of the products in ``events``, from the canonical items table."""
    it = items[items["item_id"].isin(events["item_id"].unique())].reset_index(drop=True)
    path = it["category"].astype("string").fillna("").str.split(">")

    def level(k: int) -> pd.Series:
        joined = path.str[:k].str.join(">")
        return joined.where(path.str.len() >= k, None).astype(object)

    attrs = [json.loads(a) for a in it["attributes"]]
    price = events.groupby("item_id")["price"].median().reindex(it["item_id"]).to_numpy()
    finite = price[np.isfinite(price)]
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, N_BANDS + 1)[1:-1]))
    band = np.searchsorted(edges, price, side="right")
    return pd.DataFrame(
        {
            "item_id": it["item_id"].astype(str),
            "product_type": level(3),
            "product_category": level(2),
            "department": level(1),
            "brand": [
                f"m{a['manufacturer_id']}" if a.get("manufacturer_id") else None for a in attrs
            ],
            "price_band": [
                f"p{b}" if np.isfinite(p) else None for b, p in zip(band, price, strict=True)
            ],
        }
    )


def build_offers(
    items: pd.DataFrame, rng: np.random.Generator, n_or: int = 30
) -> list[tuple[str, str]]:
    """(offer type, expression) pairs."""
    offers: list[tuple[str, str]] = []
    for otype, attr in OFFER_TYPES.items():
        offers += [
            (otype, f"{attr} = {json.dumps(v)}") for v in sorted(items[attr].dropna().unique())
        ]
    departments = sorted(items["department"].dropna().unique())
    bands = sorted(items["price_band"].dropna().unique())
    both = set(zip(items["department"], items["price_band"], strict=True))
    offers += [
        (
            "department AND price band",
            f"department = {json.dumps(d)} AND price_band = {json.dumps(b)}",
        )
        for d in departments
        for b in bands
        if (d, b) in both
    ]
    categories = sorted(items["product_category"].dropna().unique())
    for _ in range(n_or):
        a, b = rng.choice(categories, size=2, replace=False)
        offers.append(
            (
                "category OR category",
                f"product_category = {json.dumps(a)} OR product_category = {json.dumps(b)}",
            )
        )
    return offers


def model_factories(
    epochs: int | None, seed: int, params: dict[str, Any] | None = None
) -> dict[str, Callable[[], OfferModel]]:
    """The compared models (the neural variants share one class and one set of parameters)."""
    extra: dict[str, Any] = dict(params or {})
    if epochs is not None:
        extra["epochs"] = epochs

    def neural(variant: str) -> Callable[[], OfferModel]:
        return lambda: UniversalOfferModel(
            ATTRS, variant=variant, **{"seed": seed, "n_threads": 1, **extra}
        )

    def mono(target: str) -> Callable[[], OfferModel]:
        return lambda: MonoOfferModel(ATTRS, target=target, seed=seed)

    return {
        **{v: neural(v) for v in VARIANTS},
        **{f"MONO-{otype}": mono(attr) for otype, attr in OFFER_TYPES.items()},
    }


# MONO-x scores the offers written over x only (MONO-product scores every offer)
MONO_SCOPE: dict[str, set[str]] = {
    "MONO-product_type": {"product_type"},
    "MONO-category": {"category", "category OR category"},
    "MONO-department": {"department"},
    "MONO-brand": {"brand"},
    "MONO-price band": {"price band"},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=None, help="default: the model's default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=None, help="comma-separated subset of the models")
    parser.add_argument("--name", default="offers_dunnhumby", help="results file stem")
    parser.add_argument("--min-item-events", type=int, default=5)
    parser.add_argument("--popular-min", type=int, default=201)
    parser.add_argument("--cold-min", type=int, default=10)
    parser.add_argument("--cold-max", type=int, default=200)
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override a parameter of the neural models, e.g. --param batch_size=1024",
    )
    args = parser.parse_args()
    before = load_before()
    data = load_dataset("dunnhumby")
    raw = data["events"].to_pandas()[["user_id", "item_id", "ts", "event_type", "price"]]
    counts = raw["item_id"].value_counts()
    events = raw[raw["item_id"].isin(counts.index[counts >= args.min_item_events])]
    items = dunnhumby_items(data["items"].to_pandas(), events)
    events = events[events["item_id"].isin(items["item_id"])][
        ["user_id", "item_id", "ts", "event_type"]
    ].reset_index(drop=True)
    rng = np.random.default_rng(args.seed)
    split = split_users(events, rng)
    offers = build_offers(items, rng)
    overrides = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    factories = model_factories(args.epochs, args.seed, overrides)
    if args.models:
        factories = {k: factories[k] for k in args.models.split(",")}
    buckets = Buckets(args.popular_min, args.cold_min, args.cold_max)
    ev, fitted = evaluate(
        factories, split, items, offers, MONO_SCOPE, buckets, lambda m: print(m, flush=True)
    )
    table = summarize(ev.results, buckets)
    reference = next(k for k in factories if k not in MONO_SCOPE)
    pivot = wauc_pivot(table, list(factories), reference)
    params = fitted["universal"]._params() if "universal" in fitted else None
    n_items = {a: int(items[a].nunique()) for a in ATTRS}
    md = [
        "# Universal offer model on dunnhumby The Complete Journey sample (wAUC)",
        "",
        f"Data: {len(raw):,} purchase lines; products bought at least {args.min_item_events} "
        f"times kept: {len(items):,} products, {len(events):,} lines; values per attribute "
        f"{n_items}.",
        f"Users: train {split.n_train_users}, test {split.n_test_users} "
        f"({len(split.eval_users)} with targets, {len(split.test_targets):,} target events); "
        f"seed {args.seed}; load average before {before[0]:.2f} on 2 shared cores.",
        f"Buckets: popular >= {buckets.popular_min} positive test events, cold-start "
        f"{buckets.cold_min}-{buckets.cold_max} (the seed's thresholds: the test set has about "
        "as many target events as the MovieLens 100K benchmark's). "
        f"{ev.n_candidate_offers} offers have enough test events.",
        "",
        *markdown_pivot(pivot),
        "",
        f"Universal parameters: {params}",
        "",
        f"Fit seconds: {ev.fit_seconds}",
        f"Score seconds: {ev.score_seconds}",
    ]
    if any(c.startswith("MONO-") for c in pivot.columns) and "universal" in pivot.columns:
        gaps = best_mono_gaps(pivot)
        md += ["", "Universal minus the best MONO model per row:", "", *markdown_pivot(gaps)]
    payload: dict[str, Any] = {
        "protocol": __doc__,
        "epochs": args.epochs,
        "seed": args.seed,
        "min_item_events": args.min_item_events,
        "buckets": {
            "popular_min": buckets.popular_min,
            "cold_min": buckets.cold_min,
            "cold_max": buckets.cold_max,
        },
        "n_lines": len(raw),
        "n_lines_kept": len(events),
        "n_items": len(items),
        "values_per_attribute": n_items,
        "n_train_users": split.n_train_users,
        "n_test_users": split.n_test_users,
        "n_eval_users": len(split.eval_users),
        "n_test_target_events": len(split.test_targets),
        "n_candidate_offers": ev.n_candidate_offers,
        "universal_params": params,
        "fit_seconds": ev.fit_seconds,
        "score_seconds": ev.score_seconds,
        "load_average_before": before,
        "loss_history": {k: getattr(m, "loss_history_", None) for k, m in fitted.items()},
        "summary": table.to_dict(orient="records"),
    }
    write_results(args.name, payload, "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
