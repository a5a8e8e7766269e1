"""A seeded simulator of an online shop with ground truth, written as canonical tables.

``simulate(config, out_dir)`` writes ``out_dir/<table>.parquet`` for every canonical table
(items, users, events, exposures, campaigns, queries, banner_log), each with exactly the
schema of :data:`reclift.schema.tables.TABLES`, and the ground truth to ``out_dir/truth/``
(Parquet and JSON; ``truth/manifest.json`` describes every file). Users are generated in
chunks and every table is streamed in fixed-size row groups, so memory is bounded by the chunk
size, not by the number of events. The same config gives byte-identical files.

What is planted (and saved as truth):

- a three-level category tree, brands, log-normal prices, templated titles, item latent
  vectors and Zipf-like popularity inside each category;
- users with latent tastes, price sensitivity, activity and an uplift segment
  (persuadable, sure thing, lost cause, sleeping dog) that is a noisy rule over their
  attributes;
- sessions over days with hour-of-day, weekday and trend effects; browsing that stays near
  the user's taste and the current category; a view -> click -> cart -> order funnel;
  complementary pairs (A ordered -> B carted/ordered in the same or next session);
- search sessions whose results page is logged in ``queries`` with true graded relevance;
- seller campaigns with candidate keywords and their true click and conversion rates;
- randomised ad exposures with per-user true uplift in probability and revenue;
- banner slates logged by a stochastic policy with recorded propensities, clicks drawn from
  a true CTR per (banner, position, context).

Typical shape with the default config (1M events; the tests pin the ranges in brackets):
clicks/views 0.28 [0.15, 0.5], carts/clicks 0.07 [0.03, 0.15], orders/carts 0.42
[0.2, 0.7]; events per session mean 9 [4, 20], median 6 [2, 10], 99th percentile about 7x the
median, longest a few hundred; about 70% of active users come back [>= 30%]; the top 1% of
items take about a quarter of all events [>= 12%] and the log-log slope of the item frequency
head is about -0.75 [-1.4, -0.45]; about 20% of sessions start with a search.

Known simplification: ad exposures and banner clicks are their own experiments and do not
feed back into ``events``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from reclift.datasets.simulation.banners import (
    banner_truth,
    build_banner_model,
    simulate_banners,
)
from reclift.datasets.simulation.campaigns import build_campaigns
from reclift.datasets.simulation.catalog import Catalog, build_catalog, items_table
from reclift.datasets.simulation.config import (
    SimulationConfig,
    SimulationConfigError,
    SimulationSummary,
)
from reclift.datasets.simulation.exposures import build_ad_campaigns, simulate_exposures
from reclift.datasets.simulation.output import (
    RowGroupWriter,
    sort_parquet,
    take,
    write_json,
    write_table,
)
from reclift.datasets.simulation.population import (
    SEGMENTS,
    Users,
    make_users,
    temporal_truth,
    users_table,
)
from reclift.datasets.simulation.shop import simulate_sessions
from reclift.schema.tables import TABLES

__all__ = [
    "TABLE_NAMES",
    "TRUTH_FILES",
    "SimulationConfig",
    "SimulationConfigError",
    "SimulationSummary",
    "read_truth",
    "simulate",
]

TABLE_NAMES: tuple[str, ...] = (
    "items",
    "users",
    "events",
    "exposures",
    "campaigns",
    "queries",
    "banner_log",
)

TRUTH_FILES: dict[str, str] = {
    "config.json": "the SimulationConfig, the calibrated mean sessions per user, row counts",
    "manifest.json": "this list",
    "temporal.json": "hour-of-day and weekday weights and the trend of session starts",
    "items.parquet": (
        "item_id, category, department, subcategory, brand, colour, price, popularity "
        "(probability of the item among views of its leaf), leaf_share, appeal, "
        "complement_item_id, complement_strength, latent (list<float32>)"
    ),
    "users.parquet": (
        "user_id, segment, price_sensitivity, activity, n_sessions, base_rate, base_uplift, "
        "revenue_effect, basket_mean, taste (list<float32>)"
    ),
    "complements.parquet": (
        "item_a, item_b, strength: an order of item_a is followed (in the same or next "
        "session) by item_b being viewed, clicked and carted with probability strength, and "
        "ordered with probability 0.7 after that"
    ),
    "queries.parquet": (
        "query (surface string as logged), canonical (intent text), category, colour, brand, "
        "is_typo"
    ),
    "query_relevance.parquet": (
        "canonical, item_id, relevance (3 = leaf and every named attribute, 2 = leaf with an "
        "attribute mismatch, 1 = sibling leaf); items not listed have relevance 0"
    ),
    "campaign_keywords.parquet": (
        "campaign_id, seller_id, item_id, keyword, kind, relevance, chosen (the seller's "
        "pick, present in the campaigns table), search_volume_per_day, true_ctr, true_cvr "
        "(orders per click), true_orders_per_impression, for every candidate keyword"
    ),
    "uplift.parquet": (
        "campaign_id, user_id, treatment, segment, p_control, p_treated, uplift, "
        "revenue_control, revenue_treated, revenue_uplift (expected revenue per exposure), "
        "one row per exposures row"
    ),
    "ad_campaigns.json": "ad campaigns: department, uplift and baseline multipliers, window",
    "banner_ctr.parquet": (
        "banner_id, position, age_band, device, region, true_ctr, propensity (probability "
        "that the logging policy puts the banner at that position in that context, as "
        "logged), policy_weight (the policy's Plackett-Luce weight of the banner)"
    ),
    "banners.json": "banner ids, positions, logging policy, temperature, epsilon",
}

_STREAM_CATALOG, _STREAM_CAMPAIGNS, _STREAM_BANNERS, _STREAM_ADS = 1, 2, 3, 4
_STREAM_ITEMS_TEXT, _STREAM_PILOT, _STREAM_CHUNK = 5, 6, 100
_PILOT_USERS = 2_000

ProgressCallback = Callable[[int, int, int], None]


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _list_column(values: npt.NDArray[np.floating[Any]]) -> pa.Array:
    n, d = values.shape
    flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).ravel(), pa.float32())
    offsets = pa.array(np.arange(0, (n + 1) * d, d, dtype=np.int32), pa.int32())
    return pa.ListArray.from_arrays(offsets, flat)


def _items_truth(cat: Catalog) -> pa.Table:
    leaf_tot = np.add.reduceat(cat.popularity, cat.leaf_start)
    counts = cat.leaf_end - cat.leaf_start
    share = cat.popularity / np.repeat(leaf_tot, counts)
    has_comp = cat.complement >= 0
    comp_ids = take(cat.item_ids, np.where(has_comp, cat.complement, 0))
    comp_ids = pa.compute.if_else(pa.array(has_comp), comp_ids, pa.scalar(None, pa.string()))
    paths = pa.array(cat.leaf_path)
    parts = [p.split(">") for p in cat.leaf_path]
    from reclift.datasets.simulation.vocab import COLOURS

    colours = take(pa.array(list(COLOURS)), np.maximum(cat.colour, 0))
    colours = pa.compute.if_else(pa.array(cat.colour >= 0), colours, pa.scalar(None, pa.string()))
    table = pa.table(
        {
            "item_id": cat.item_ids,
            "category": take(paths, cat.leaf),
            "department": take(pa.array([p[0] for p in parts]), cat.leaf),
            "subcategory": take(pa.array([p[1] for p in parts]), cat.leaf),
            "brand": take(pa.array(cat.brand_name), cat.brand),
            "colour": colours,
            "price": pa.array(cat.price),
            "popularity": pa.array(share),
            "leaf_share": pa.array(cat.leaf_weight[cat.leaf]),
            "appeal": pa.array(cat.appeal),
            "complement_item_id": comp_ids,
            "complement_strength": pa.array(cat.complement_strength),
            "latent": _list_column(cat.latent),
        }
    )
    return table.take(pa.array(np.argsort(cat.item_num, kind="stable")))


def _complements_truth(cat: Catalog) -> pa.Table:
    a = np.flatnonzero(cat.complement >= 0)
    a = a[np.argsort(cat.item_num[a], kind="stable")]
    return pa.table(
        {
            "item_a": take(cat.item_ids, a),
            "item_b": take(cat.item_ids, cat.complement[a]),
            "strength": pa.array(cat.complement_strength[a]),
        }
    )


def _queries_truth(cfg: SimulationConfig, cat: Catalog) -> tuple[pa.Table, pa.Table]:
    from reclift.datasets.simulation.vocab import COLOURS

    s_q = cat.s_query
    queries = pa.table(
        {
            "query": pa.array(cat.s_text),
            "canonical": take(pa.array(cat.q_text), s_q),
            "category": take(pa.array(cat.leaf_path), cat.q_leaf[s_q]),
            "colour": pa.array(
                [COLOURS[int(c)] if c >= 0 else None for c in cat.q_colour[s_q]], pa.string()
            ),
            "brand": pa.array(
                [cat.brand_name[int(b)] if b >= 0 else None for b in cat.q_brand[s_q]],
                pa.string(),
            ),
            "is_typo": pa.array(cat.s_typo),
        }
    ).sort_by("query")
    # relevant items of a query live in its subcategory: enumerate those pairs only
    canon: list[npt.NDArray[np.int64]] = []
    items: list[npt.NDArray[np.int64]] = []
    rels: list[npt.NDArray[np.int64]] = []
    lps = cfg.leaves_per_subcategory
    for q in range(len(cat.q_text)):
        leaf = int(cat.q_leaf[q])
        first_leaf = (leaf // lps) * lps
        lo, hi = int(cat.leaf_start[first_leaf]), int(cat.leaf_end[first_leaf + lps - 1])
        cand = np.arange(lo, hi, dtype=np.int64)
        rel = cat.relevance(np.full(cand.shape[0], q, dtype=np.int64), cand)
        keep = rel > 0
        canon.append(np.full(int(keep.sum()), q, dtype=np.int64))
        items.append(cand[keep])
        rels.append(rel[keep])
    q_all = np.concatenate(canon) if canon else np.zeros(0, np.int64)
    i_all = np.concatenate(items) if items else np.zeros(0, np.int64)
    r_all = np.concatenate(rels) if rels else np.zeros(0, np.int64)
    relevance = pa.table(
        {
            "canonical": take(pa.array(cat.q_text), q_all),
            "item_id": take(cat.item_ids, i_all),
            "relevance": pa.array(r_all, pa.int64()),
        }
    ).sort_by([("canonical", "ascending"), ("item_id", "ascending")])
    return queries, relevance


def _users_truth(users: Users, n_sessions: npt.NDArray[np.int64]) -> pa.Table:
    return pa.table(
        {
            "user_id": users.ids,
            "segment": take(pa.array(list(SEGMENTS)), users.segment),
            "price_sensitivity": pa.array(users.price_sensitivity),
            "activity": pa.array(users.activity),
            "n_sessions": pa.array(n_sessions.astype(np.int64)),
            "base_rate": pa.array(users.base_rate),
            "base_uplift": pa.array(users.base_uplift),
            "revenue_effect": pa.array(users.revenue_effect),
            "basket_mean": pa.array(users.basket_mean),
            "taste": _list_column(users.taste),
        }
    )


@contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[ProgressCallback]:
    if not enabled:
        yield lambda done, events, sessions: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]simulating[/] users"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[events]:,} events, {task.fields[sessions]:,} sessions"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task("users", total=total, events=0, sessions=0)

        def update(done: int, events: int, sessions: int) -> None:
            bar.update(task, completed=done, events=events, sessions=sessions)

        yield update


def calibrate_sessions(cfg: SimulationConfig, cat: Catalog) -> float:
    """Mean sessions per (average-activity) user that reaches ``cfg.n_events`` events."""
    n = min(cfg.n_users, _PILOT_USERS)
    rng = _rng(cfg.seed, _STREAM_PILOT)
    events = 0
    # the pilot runs in chunks too, so it never needs more memory than the run itself
    for first in range(0, n, cfg.chunk_users):
        users = make_users(cfg, cat, rng, first, min(cfg.chunk_users, n - first))
        events += simulate_sessions(cfg, cat, users, rng, 1.0, 0).events.num_rows
    per_user = max(events / n, 1e-6)
    return float(cfg.n_events / (cfg.n_users * per_user))


def simulate(
    config: SimulationConfig,
    out_dir: str | Path,
    progress: bool = True,
) -> SimulationSummary:
    """Generate a shop and write its tables and ground truth.

    Parameters
    ----------
    config
        Sizes, seed and behaviour knobs (:class:`SimulationConfig`).
    out_dir
        Directory to write ``<table>.parquet`` and ``truth/`` into (created; existing files
        of the same names are replaced).
    progress
        Show a rich progress bar on the terminal.

    Returns
    -------
    SimulationSummary
        Paths, row counts and wall time.
    """
    t0 = perf_counter()
    cfg = config
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SimulationConfigError(f"output path {out} exists and is not a directory")
    truth = out / "truth"
    tmp = out / ".simulate-tmp"
    if tmp.exists():
        shutil.rmtree(tmp)
    truth.mkdir(parents=True, exist_ok=True)
    # a previous run's files must not survive next to this run's (e.g. switched-off parts)
    for stale in [truth / name for name in TRUTH_FILES] + [
        out / f"{name}.parquet" for name in TABLE_NAMES
    ]:
        stale.unlink(missing_ok=True)
    tmp.mkdir(parents=True)
    rows_per_group = cfg.row_group_rows
    paths = {name: out / f"{name}.parquet" for name in TABLE_NAMES}
    rows: dict[str, int] = {}

    cat = build_catalog(cfg, _rng(cfg.seed, _STREAM_CATALOG))
    rows["items"] = write_table(
        paths["items"],
        items_table(cfg, cat, _rng(cfg.seed, _STREAM_ITEMS_TEXT)),
        TABLES["items"].schema,
        rows_per_group,
    )
    items_truth = _items_truth(cat)
    write_table(truth / "items.parquet", items_truth, items_truth.schema, rows_per_group)
    comp = _complements_truth(cat)
    write_table(truth / "complements.parquet", comp, comp.schema, rows_per_group)
    q_truth, rel_truth = _queries_truth(cfg, cat)
    write_table(truth / "queries.parquet", q_truth, q_truth.schema, rows_per_group)
    write_table(truth / "query_relevance.parquet", rel_truth, rel_truth.schema, rows_per_group)

    campaigns, kw_truth = build_campaigns(cfg, cat, _rng(cfg.seed, _STREAM_CAMPAIGNS))
    rows["campaigns"] = write_table(
        paths["campaigns"], campaigns, TABLES["campaigns"].schema, rows_per_group
    )
    write_table(truth / "campaign_keywords.parquet", kw_truth, kw_truth.schema, rows_per_group)

    banner_model = build_banner_model(cfg, _rng(cfg.seed, _STREAM_BANNERS))
    b_truth = banner_truth(cfg, banner_model)
    write_table(truth / "banner_ctr.parquet", b_truth, b_truth.schema, rows_per_group)
    ads = build_ad_campaigns(cfg, _rng(cfg.seed, _STREAM_ADS))

    phases: dict[str, float] = {"catalog_and_campaigns": perf_counter() - t0}
    mark = perf_counter()
    mean_sessions = calibrate_sessions(cfg, cat)
    phases["calibration"] = perf_counter() - mark
    mark = perf_counter()

    w_users = RowGroupWriter(paths["users"], TABLES["users"].schema, rows_per_group)
    w_events = RowGroupWriter(paths["events"], TABLES["events"].schema, rows_per_group)
    w_queries = RowGroupWriter(tmp / "queries.parquet", TABLES["queries"].schema, rows_per_group)
    w_banners = RowGroupWriter(
        tmp / "banner_log.parquet", TABLES["banner_log"].schema, rows_per_group
    )
    w_expo = RowGroupWriter(tmp / "exposures.parquet", TABLES["exposures"].schema, rows_per_group)
    w_users_truth: RowGroupWriter | None = None
    w_uplift: RowGroupWriter | None = None
    n_sessions = 0
    try:
        with _progress_bar(progress, cfg.n_users) as update:
            for chunk, first in enumerate(range(0, cfg.n_users, cfg.chunk_users)):
                n = min(cfg.chunk_users, cfg.n_users - first)
                rng = _rng(cfg.seed, _STREAM_CHUNK, chunk)
                users = make_users(cfg, cat, rng, first, n)
                block = simulate_sessions(cfg, cat, users, rng, mean_sessions, n_sessions)
                n_sessions += block.n_sessions
                w_users.write(users_table(cfg, users))
                w_events.write(block.events)
                w_queries.write(block.queries)
                w_banners.write(
                    simulate_banners(
                        cfg, banner_model, users, block.session_user, block.session_start, rng
                    )
                )
                expo, uplift = simulate_exposures(cfg, ads, users, rng)
                w_expo.write(expo)
                u_truth = _users_truth(users, block.sessions_per_user)
                if w_users_truth is None:
                    w_users_truth = RowGroupWriter(
                        truth / "users.parquet", u_truth.schema, rows_per_group
                    )
                w_users_truth.write(u_truth)
                if uplift.num_columns:
                    if w_uplift is None:
                        w_uplift = RowGroupWriter(
                            tmp / "uplift.parquet", uplift.schema, rows_per_group
                        )
                    w_uplift.write(uplift)
                update(first + n, w_events.count, n_sessions)
    finally:
        rows["users"] = w_users.close()
        rows["events"] = w_events.close()
        w_queries.close()
        w_banners.close()
        w_expo.close()
        if w_users_truth is not None:
            w_users_truth.close()
        if w_uplift is not None:
            w_uplift.close()

    phases["chunks"] = perf_counter() - mark
    mark = perf_counter()
    for name, order in (
        ("queries", ["ts", "query", "item_id", "action", "session_id", "user_id", "relevance"]),
        ("banner_log", ["ts", "banner_id", "user_id", "position", "propensity", "reward"]),
        ("exposures", ["campaign_id", "user_id", "ts", "treatment", "converted", "revenue"]),
    ):
        rows[name] = sort_parquet(
            tmp / f"{name}.parquet",
            paths[name],
            TABLES[name].schema,
            order,
            rows_per_group,
            tmp / "duckdb",
        )
    if w_uplift is not None:
        import pyarrow.parquet as pq

        schema = pq.read_schema(tmp / "uplift.parquet")
        sort_parquet(
            tmp / "uplift.parquet",
            truth / "uplift.parquet",
            schema,
            ["campaign_id", "user_id"],
            rows_per_group,
            tmp / "duckdb",
        )
    shutil.rmtree(tmp, ignore_errors=True)
    phases["sorting"] = perf_counter() - mark

    write_json(truth / "temporal.json", temporal_truth(cfg))
    write_json(truth / "ad_campaigns.json", [a.to_dict() for a in ads])
    write_json(
        truth / "banners.json",
        {
            "banner_ids": banner_model.banner_ids.to_pylist(),
            "positions": list(range(1, cfg.n_positions + 1)),
            "logging_policy": cfg.logging_policy,
            "temperature": cfg.policy_temperature,
            "epsilon": cfg.policy_epsilon,
            "note": (
                "a slate of distinct banners is drawn from the policy weights of the user's "
                "context (age_band, device, region) without replacement, position 1 first "
                "(Plackett-Luce); propensity = marginal probability of that banner at that "
                "position; true CTR = sigmoid(banner + age + device + region effects + "
                "position effect)"
            ),
        },
    )
    ordered_rows = {name: rows[name] for name in TABLE_NAMES}
    write_json(
        truth / "config.json",
        {
            "config": cfg.to_dict(),
            "mean_sessions_per_user_calibrated": mean_sessions,
            "rows": ordered_rows,
            "sessions": n_sessions,
        },
    )
    truth_files = {name: truth / name for name in TRUTH_FILES}
    if w_uplift is None:
        truth_files.pop("uplift.parquet")
    write_json(
        truth / "manifest.json",
        {name: TRUTH_FILES[name] for name in truth_files},
    )
    return SimulationSummary(
        out_dir=out,
        tables=paths,
        rows=ordered_rows,
        truth_dir=truth,
        truth_files=truth_files,
        seconds=perf_counter() - t0,
        phases=phases,
    )


def read_truth(out_dir: str | Path, name: str) -> Any:
    """Read one ground-truth file of a simulated shop.

    Parameters
    ----------
    out_dir
        The directory :func:`simulate` wrote.
    name
        A key of :data:`TRUTH_FILES` (e.g. ``"uplift.parquet"``, ``"banners.json"``), with
        or without its extension.

    Returns
    -------
    pyarrow.Table or object
        The Parquet table, or the parsed JSON.
    """
    import json

    import pyarrow.parquet as pq

    matches = [f for f in TRUTH_FILES if f == name or f.rsplit(".", 1)[0] == name]
    if not matches:
        raise SimulationConfigError(
            f"unknown truth file {name!r}; expected one of: {', '.join(TRUTH_FILES)}"
        )
    path = Path(out_dir) / "truth" / matches[0]
    if not path.exists():
        raise SimulationConfigError(
            f"truth file {path} does not exist",
            hint="run `reclift simulate` into that directory first",
        )
    if path.suffix == ".json":
        return json.loads(path.read_text(encoding="utf-8"))
    return pq.read_table(path)
