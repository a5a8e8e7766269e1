"""Demo-report section: offer targeting (universal vs MONO) and lookalike audiences.

Protocol (the workspace trainer's, :mod:`reclift.jobs.training.offers`, on a sample so the
section takes seconds): events before the last ``HOLDOUT_DAYS`` days train, users are ranked
for each offer (every department, department AND cheaper than its median price, the most
bought subcategories and brands) and positives are the users who cart or order one of the
offer's items afterwards. Compared: the universal model (one network for any offer), a MONO
model (a softmax over departments: it answers department offers only) and the history-share
baseline. The published models' own holdout metrics are shown when the workspace has them;
the full benchmarks on public data are in ``benchmarks/results/offers_*.md``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from reclift.evaluation.offers import OfferScore, summarize
from reclift.evaluation.report import HtmlReport
from reclift.jobs.training.embeddings import torch_threads
from reclift.jobs.training.offers import (
    ATTRIBUTES,
    BASELINE,
    evaluate_holdout,
    holdout_offers,
    offer_items,
    split_holdout,
    target_events,
)
from reclift.models.offers.base import OfferModel
from reclift.workspace.store import Workspace

MAX_USERS = 2_000
EPOCHS = 5
SEED = 0
BENCHMARKS = (
    "benchmarks/results/offers_movielens.md",
    "benchmarks/results/offers_lookalike.md",
)


def _sample_users(ws: Workspace, rng: np.random.Generator) -> np.ndarray | None:
    users = np.unique(np.asarray(ws.read_table("events").column("user_id").to_pylist(), dtype=str))
    if len(users) <= MAX_USERS:
        return None
    return np.sort(rng.choice(users, MAX_USERS, replace=False))


def _comparison(ws: Workspace) -> tuple[list[OfferScore], dict[str, float], int] | None:
    from reclift.models.offers.mono import MonoOfferModel
    from reclift.models.offers.universal import UniversalOfferModel

    items = offer_items(ws)
    sample = _sample_users(ws, np.random.default_rng(SEED))
    events, _ = target_events(ws, pd.Index(items["item_id"]), sample)
    before, after = split_holdout(events)
    if before.empty or after.empty:
        return None
    models: dict[str, OfferModel] = {
        "universal": UniversalOfferModel(
            ATTRIBUTES, epochs=EPOCHS, batch_size=512, seed=SEED, n_threads=1
        ),
        "MONO-department": MonoOfferModel(ATTRIBUTES, target="department", epochs=3, seed=SEED),
    }
    seconds: dict[str, float] = {}
    with torch_threads(1):
        for name, model in models.items():
            started = time.perf_counter()
            model.fit(before, items)
            seconds[name] = time.perf_counter() - started
        results = evaluate_holdout(
            models,
            before,
            after,
            holdout_offers(items, after),
            scopes={"MONO-department": {"department"}},
        )
    return results, seconds, int(events["user_id"].nunique())


def _table(results: list[OfferScore]) -> list[dict[str, Any]]:
    frame = summarize(results)
    if frame.empty:
        return []
    pivot = frame.pivot_table(index="offer_type", columns="model", values="wauc")
    counts = frame[frame["model"] == BASELINE].groupby("offer_type")[["n_offers", "n_pos"]].sum()
    rows = []
    for otype in pivot.index:
        row: dict[str, Any] = {
            "offer type": otype,
            "offers": int(counts.loc[otype, "n_offers"]) if otype in counts.index else 0,
            "positives": int(counts.loc[otype, "n_pos"]) if otype in counts.index else 0,
        }
        for model in ("universal", "MONO-department", BASELINE):
            value = pivot.loc[otype].get(model, np.nan) if model in pivot.columns else np.nan
            row[f"wAUC {model}"] = round(float(value), 3) if np.isfinite(value) else "n/a"
        rows.append(row)
    return rows


def _published(rep: HtmlReport, ws: Workspace) -> None:
    names = ws.artifacts.names()
    if "offers" in names:
        meta = ws.artifacts.load("offers", verify=False).meta
        metrics = meta.get("metrics", {})
        if "wauc_all" in metrics:
            rep.kpis(
                {
                    "published model: holdout wAUC": round(float(metrics["wauc_all"]), 3),
                    "history share: holdout wAUC": round(
                        float(metrics.get("baseline_wauc_all", np.nan)), 3
                    ),
                    "fit seconds": metrics.get("fit_seconds", "n/a"),
                }
            )
    if "customer360" in names:
        meta = ws.artifacts.load("customer360", verify=False).meta
        curves = meta.get("curves", {})
        if curves:
            fig, ax = plt.subplots(figsize=(6, 3.2))
            for label, curve in curves.items():
                ax.plot(curve["x"], curve["y"], marker="o", label=label)
            first = next(iter(curves.values()))
            ax.set_xlabel(first["x_label"])
            ax.set_ylabel("recall of the hidden half")
            ax.legend()
            rep.figure(
                fig,
                "Lookalike audiences from the published customer vectors: half of each "
                "department's buyers in the last days is the seed, the other half is found "
                "among the most similar users (vectors built before those days).",
            )


def add_section(rep: HtmlReport, ws: Workspace, *, data_dir: Path | None) -> None:
    """Append the offers section to ``rep``."""
    started = time.perf_counter()
    rep.section("Offer targeting and lookalike audiences", anchor="offers")
    if not ws.table_files("items") or not ws.table_files("events"):
        rep.text("No items or events in this workspace: no offer to evaluate.", note=True)
        return
    rep.text(
        "An offer is any expression over item attributes, e.g. "
        'department = "Books" AND price < 20; one model ranks every user for it '
        "(POST /v1/offers/score, or reclift offers score on files). Lookalike audiences "
        "expand a seed of users by their customer vectors (POST /v1/audiences/lookalike)."
    )
    _published(rep, ws)
    compared = _comparison(ws)
    if compared is None:
        rep.text("Too few events before and after the holdout cut to compare models.", note=True)
    else:
        results, seconds, n_users = compared
        rep.table(
            _table(results),
            caption=(
                f"Time-based holdout on {n_users:,} sampled users: weighted AUC per offer type "
                "(positives: users with a target event on an offer item after the cut; targets "
                "are carts and orders, plus clicks when those are few). MONO answers "
                "department offers only. Fit seconds: "
                + ", ".join(f"{k} {v:.1f}" for k, v in seconds.items())
            ),
        )
    rep.text(
        "Full benchmarks on public data (universal vs no augmentation, two towers and MONO "
        "models on MovieLens; lookalike recall vs random and popularity): "
        + ", ".join(BENCHMARKS)
        + " (and the .json next to each).",
        note=True,
    )
    rep.text(f"Section built in {time.perf_counter() - started:.1f} s.", note=True)
