"""Universal offer model vs MONO / no-augmentation / two-tower on MovieLens 100K (seed 000).

Protocol (the seed's, at MovieLens 100K scale; shared code in :mod:`benchmarks.offers_protocol`):
users split at random into train 50% / validation 10% / test 40%; each user's events are split
in time (first half = history features, ratings >= 4 in the second half = targets). Offers:
every movie, genre and release decade, genre AND decade, and random genre-pair ORs. For an
offer, the test target events (user, item) it covers are positives, the other test target
events negatives, each scored by the model's score of its user for the offer; AUC per offer,
wAUC weighted by positive events; popular (> 200 positive events) and cold-start (10-200)
offers reported apart. MONO-x scores offers whose conditions are all on x; MONO-movie scores
every offer by summing movie probabilities over the offer's movies.

Run: ``.venv/bin/python -m benchmarks.offers_movielens [--epochs N] [--quick]
[--models universal,no_aug,...] [--name offers_movielens]``
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

ATTRS = ["item_id", "genres", "decade"]


def movielens_items(items: pd.DataFrame) -> pd.DataFrame:
    """item_id, genres (list), decade (e.g. "1990s") from the canonical items table."""
    attrs = [json.loads(a) for a in items["attributes"]]
    return pd.DataFrame(
        {
            "item_id": items["item_id"].astype(str),
            "genres": [a.get("genres") or [] for a in attrs],
            "decade": [f"{a['year'] // 10 * 10}s" if a.get("year") else None for a in attrs],
        }
    )


def build_offers(
    items: pd.DataFrame, rng: np.random.Generator, n_or: int = 20
) -> list[tuple[str, str]]:
    """(offer type, expression) pairs."""
    genres = sorted({g for gs in items["genres"] for g in gs})
    decades = sorted(items["decade"].dropna().unique())
    offers = [("movie", f'item_id = "{i}"') for i in items["item_id"]]
    offers += [("genre", f'genres = "{g}"') for g in genres]
    offers += [("decade", f'decade = "{d}"') for d in decades]
    offers += [
        ("genre AND decade", f'genres = "{g}" AND decade = "{d}"') for g in genres for d in decades
    ]
    for _ in range(n_or):
        a, b = rng.choice(genres, size=2, replace=False)
        offers.append(("genre OR genre", f'genres = "{a}" OR genres = "{b}"'))
    return offers


def model_factories(
    epochs: int | None, seed: int, params: dict[str, Any] | None = None
) -> dict[str, Callable[[], OfferModel]]:
    """The compared models; the neural variants share one class and one set of parameters
    (``params`` overrides the model's defaults for all three)."""
    extra: dict[str, Any] = dict(params or {})
    if epochs is not None:
        extra["epochs"] = epochs

    def neural(variant: str) -> Callable[[], OfferModel]:
        return lambda: UniversalOfferModel(
            ATTRS, variant=variant, **{"seed": seed, "n_threads": 1, **extra}
        )

    def mono(target: str) -> Callable[[], OfferModel]:
        return lambda: MonoOfferModel(ATTRS, target=target, seed=seed)

    def with_bilinear() -> OfferModel:
        # the universal model with the bilinear interaction in its MLP: shows what the
        # default (without it) gains or loses
        return UniversalOfferModel(
            ATTRS, variant="universal", **{"seed": seed, "n_threads": 1, **extra, "bilinear": True}
        )

    return {
        **{v: neural(v) for v in VARIANTS},
        "universal+bilinear": with_bilinear,
        "MONO-movie": mono("item_id"),
        "MONO-genre": mono("genres"),
        "MONO-decade": mono("decade"),
    }


MONO_SCOPE: dict[str, set[str]] = {
    "MONO-genre": {"genre", "genre OR genre"},
    "MONO-decade": {"decade"},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=None, help="default: the model's default")
    parser.add_argument("--quick", action="store_true", help="2 epochs, for a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=None, help="comma-separated subset of the models")
    parser.add_argument("--name", default="offers_movielens", help="results file stem")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="override a parameter of the neural models, e.g. --param batch_size=1024",
    )
    args = parser.parse_args()
    epochs = 2 if args.quick else args.epochs
    before = load_before()
    data = load_dataset("movielens-100k")
    events = data["events"].to_pandas()[["user_id", "item_id", "ts", "event_type"]]
    items = movielens_items(data["items"].to_pandas())
    # one generator for the split and the random OR offers, so the offers stay those of
    # earlier runs with the same seed
    rng = np.random.default_rng(args.seed)
    split = split_users(events, rng)
    offers = build_offers(items, rng)
    overrides = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    factories = model_factories(epochs, args.seed, overrides)
    if args.models:
        factories = {k: factories[k] for k in args.models.split(",")}
    buckets = Buckets()
    ev, fitted = evaluate(
        factories, split, items, offers, MONO_SCOPE, buckets, lambda m: print(m, flush=True)
    )
    table = summarize(ev.results, buckets)
    reference = next(k for k in factories if k not in MONO_SCOPE)
    pivot = wauc_pivot(table, list(factories), reference)
    params = fitted["universal"]._params() if "universal" in fitted else None
    md = [
        "# Universal offer model on MovieLens 100K (wAUC)",
        "",
        f"Users: train {split.n_train_users}, test {split.n_test_users} "
        f"({len(split.eval_users)} with targets); seed {args.seed}; "
        f"load average before {before[0]:.2f} on 2 shared cores. "
        f"Buckets: popular >= {buckets.popular_min} positive test events, cold-start "
        f"{buckets.cold_min}-{buckets.cold_max}.",
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
        "epochs": epochs,
        "seed": args.seed,
        "n_train_users": split.n_train_users,
        "n_test_users": split.n_test_users,
        "n_eval_users": len(split.eval_users),
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
