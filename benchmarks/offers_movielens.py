"""Universal offer model vs MONO / no-augmentation / two-tower on MovieLens 100K (seed 000).

Protocol (the seed's, at MovieLens 100K scale): users split at random into train 50% /
validation 10% / test 40%; each user's events are split in time (first half = history
features, ratings >= 4 in the second half = targets). Offers: every movie, genre and release
decade, genre AND decade, and random genre-pair ORs. For an offer, the test target events
(user, item) it covers are positives, the other test target events negatives, each scored by
the model's score of its user for the offer; AUC per offer,
wAUC weighted by positive events; popular (> 200 positive events) and cold-start (10-200)
offers reported apart. MONO-x scores offers whose conditions are all on x; MONO-movie scores
every offer by summing movie probabilities over the offer's movies.

Run: ``.venv/bin/python -m benchmarks.offers_movielens [--epochs N] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.common import write_results
from reclift.datasets.registry import load_dataset
from reclift.evaluation.offers import OfferScore, score_offer, summarize
from reclift.models.offers.base import OfferModel, split_user_history
from reclift.models.offers.mono import MonoOfferModel
from reclift.models.offers.universal import UniversalOfferModel

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="2 epochs, for a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    epochs = 2 if args.quick else args.epochs
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    load_before = os.getloadavg()
    data = load_dataset("movielens-100k")
    events = data["events"].to_pandas()[["user_id", "item_id", "ts", "event_type"]]
    items = movielens_items(data["items"].to_pandas())
    rng = np.random.default_rng(args.seed)
    users = np.array(sorted(events["user_id"].unique()))
    perm = rng.permutation(users)
    n_train, n_val = int(0.5 * len(users)), int(0.1 * len(users))
    train_users = set(perm[:n_train])
    test_users = set(perm[n_train + n_val :])
    train_ev = events[events["user_id"].isin(train_users)]
    test_hist, test_tgt = split_user_history(events[events["user_id"].isin(test_users)], 0.5)
    eval_users = np.array(sorted(test_tgt["user_id"].unique()), dtype=object)
    offers = build_offers(items, rng)

    models: dict[str, OfferModel] = {
        "universal": UniversalOfferModel(
            ATTRS, variant="universal", epochs=epochs, seed=args.seed, n_threads=1
        ),
        "no_aug": UniversalOfferModel(
            ATTRS, variant="no_aug", epochs=epochs, seed=args.seed, n_threads=1
        ),
        "two_tower": UniversalOfferModel(
            ATTRS, variant="two_tower", epochs=epochs, seed=args.seed, n_threads=1
        ),
        "MONO-movie": MonoOfferModel(ATTRS, target="item_id", seed=args.seed),
        "MONO-genre": MonoOfferModel(ATTRS, target="genres"),
        "MONO-decade": MonoOfferModel(ATTRS, target="decade"),
    }
    mono_scope = {"MONO-genre": {"genre", "genre OR genre"}, "MONO-decade": {"decade"}}
    fit_seconds: dict[str, float] = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(train_ev, items)
        fit_seconds[name] = round(time.perf_counter() - t0, 1)
        print(f"fitted {name} in {fit_seconds[name]} s", flush=True)

    # the seed's rows: one per test target event (user, item); for an offer, rows whose item
    # it covers are positives, the others negatives; a user's score is shared by its rows
    cat = models["universal"].catalog_
    masks = np.stack([cat.item_mask(expr) for _, expr in offers], axis=1)  # (items, offers)
    row_user = pd.Index(eval_users.astype(str)).get_indexer(test_tgt["user_id"].astype(str))
    row_item = cat.encode_items(test_tgt["item_id"].astype(str).to_numpy())
    labels = masks[row_item]  # (rows, offers)
    n_events = labels.sum(axis=0)
    keep = np.flatnonzero((n_events >= 10) & (n_events < len(row_item)))
    results: list[OfferScore] = []
    score_seconds: dict[str, float] = {}
    for name, model in models.items():
        scope = mono_scope.get(name)
        sel = [j for j in keep if scope is None or offers[j][0] in scope]
        t0 = time.perf_counter()
        _, scores = model.score_many(
            [offers[j][1] for j in sel], users=list(eval_users), history=test_hist
        )
        score_seconds[name] = round(time.perf_counter() - t0, 1)
        for col, j in enumerate(sel):
            otype, expr = offers[j]
            results.append(score_offer(name, otype, expr, scores[row_user, col], labels[:, j]))
        print(f"scored {name}: {len(sel)} offers in {score_seconds[name]} s", flush=True)

    table = summarize(results)
    pivot = table.pivot_table(
        index=["offer_type", "bucket"], columns="model", values="wauc"
    ).reset_index()
    counts = (
        table[table["model"] == "universal"]
        .set_index(["offer_type", "bucket"])[["n_offers", "n_pos"]]
        .reset_index()
    )
    pivot = pivot.merge(counts, on=["offer_type", "bucket"], how="left")
    cols = ["offer_type", "bucket", "n_offers", "n_pos", *models]
    pivot = pivot[[c for c in cols if c in pivot.columns]]
    md = [
        "# Universal offer model on MovieLens 100K (wAUC)",
        "",
        f"Users: train {len(train_users)}, test {len(test_users)} ({len(eval_users)} with targets);"
        f" epochs {epochs}; seed {args.seed}; load average before {load_before[0]:.2f}"
        " on 2 shared cores.",
        "",
        "| " + " | ".join(pivot.columns) + " |",
        "|" + "---|" * len(pivot.columns),
    ]
    for row in pivot.itertuples(index=False):
        md.append(
            "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
        )
    md += ["", f"Fit seconds: {fit_seconds}", f"Score seconds: {score_seconds}"]
    payload: dict[str, Any] = {
        "protocol": __doc__,
        "epochs": epochs,
        "seed": args.seed,
        "n_train_users": len(train_users),
        "n_test_users": len(test_users),
        "n_eval_users": len(eval_users),
        "fit_seconds": fit_seconds,
        "score_seconds": score_seconds,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "loss_history": {k: getattr(m, "loss_history_", None) for k, m in models.items()},
        "summary": table.to_dict(orient="records"),
    }
    write_results("offers_movielens", payload, "\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
