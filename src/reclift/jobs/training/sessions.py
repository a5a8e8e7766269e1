"""Train the ``sessions`` family on a workspace: co-visitation rules and the LightGBM ranker.

Both models fit on the last ``TRAIN_DAYS`` days of the workspace's events (co-visitation
favours recent behaviour, and it bounds the time: seconds on the 1M-event demo). Before the
published fit, a time-based holdout measures them the OTTO way: sessions that start in the
last :data:`TEST_FRACTION` of the period are cut at a random point and labelled with what
follows; the models fit on the events before that period. Their recall@k per target and the
weighted recall (0.10 clicks, 0.30 carts, 0.60 orders) go into ``meta["metrics"]`` and
``meta["curves"]``, with a popular-items baseline in ``meta["baseline"]``.

The published ranker keeps the boosters fitted for the holdout and gets an index rebuilt
on the latest ``TRAIN_DAYS`` (:meth:`~CovisitationRecommender.refresh`); the published rules
are its first stage (:meth:`TwoStageRanker.first_stage`, the same index). Three index builds
in all. The ranker is skipped (rules only) without LightGBM or with the option
``sessions_ranker=False``; without a holdout it is fitted on the latest days only when less
than half of ``sessions_budget_s`` is used.

With ``ctx.engine == "spark"`` the published index is built on Spark (``ctx.spark_master``)
from the workspace's event files; it is identical to the in-process DuckDB build, and
``meta["engine"]`` names the engine used (``meta["holdout_engine"]`` the holdout's).

Options (``ctx.options``): ``sessions_train_days`` (float, ``0`` = every event),
``sessions_ranker`` (bool), ``sessions_budget_s`` (float, default 20).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from reclift.engines import Engine, get_engine
from reclift.errors import SchemaError
from reclift.evaluation.sessions import (
    OTTO_TYPES,
    Labels,
    otto_score,
    recall_at_k,
    split_by_time,
    truncate_sessions,
)
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.models.sessions import CovisitationRecommender, SessionRecommender, TwoStageRanker
from reclift.models.sessions.base import check_events
from reclift.models.sessions.features import EventFiles

TEST_FRACTION = 0.15
TRAIN_DAYS = 7.0
MAX_TEST_SESSIONS = 1_500
CURVE_KS: tuple[int, ...] = (5, 10, 20, 50)
METRIC_K = 20
SEED = 42
BUDGET_S = 20.0
#: Ranker settings that keep the family within seconds on the demo workspace.
RANKER_PARAMS: Mapping[str, Any] = {"n_estimators": 60, "max_train_sessions": 5_000, "seed": SEED}


def _events(ctx: TrainContext) -> pa.Table:
    raw = ctx.ws.read_table("events", ["session_id", "item_id", "event_type", "ts"])
    with_session = raw.filter(pc.is_valid(raw.column("session_id")))
    if with_session.num_rows < raw.num_rows:
        ctx.say(
            f"sessions: ignoring {raw.num_rows - with_session.num_rows:,} events without session_id"
        )
    try:
        return check_events(with_session)
    except SchemaError as exc:
        raise SkipFamily(f"events cannot train session models: {exc}") from None


def recent(events: pa.Table, days: float) -> pa.Table:
    """The events of the last ``days`` days of ``events`` (all of them for ``days <= 0``)."""
    if days <= 0 or events.num_rows == 0:
        return events
    ts = events.column("ts")
    since = pc.subtract(pc.max(ts), pa.scalar(dt.timedelta(days=days)))
    return events.filter(pc.greater_equal(ts, since))


def holdout_scores(
    model: CovisitationRecommender, candidates: pa.Table, labels: Labels, sessions: list[str]
) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """Metrics and recall@k curves of a model fitted before the holdout period.

    Parameters
    ----------
    model
        Fitted rules or ranker.
    candidates
        The candidates of the truncated test sessions (``model.candidates(history)``;
        computed once for a ranker and its first stage, which share the index).
    labels, sessions
        What followed each cut; the sessions to answer.

    Returns
    -------
    metrics, curves
        ``recall@20_<target>`` and ``weighted_recall@20``; ``recall@k_<target>`` curves over
        :data:`CURVE_KS` (targets without labelled sessions are absent).
    """
    recs = model.rank(candidates, max(CURVE_KS), sessions, model.targets_)
    return _scores(recs.as_predictions(), labels)


def _scores(
    predictions: Mapping[str, Mapping[str, list[str]]], labels: Labels
) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    by_k = {k: otto_score(predictions, labels, k=k) for k in CURVE_KS}
    main = by_k[METRIC_K]
    metrics = {f"recall@{METRIC_K}_{t}": round(v, 4) for t, v in main.recall.items()}
    metrics[f"weighted_recall@{METRIC_K}"] = round(main.score, 4)
    curves = {
        f"recall@k_{t}": {
            "x": list(CURVE_KS),
            "y": [round(by_k[k].recall[t], 4) for k in CURVE_KS],
            "x_label": "k (items recommended)",
            "y_label": f"recall@k ({t})",
        }
        for t in OTTO_TYPES
        if t in main.recall
    }
    return metrics, curves


def candidate_recall(candidates: pa.Table, labels: Labels) -> dict[str, float]:
    """Share of true items anywhere among each session's candidates, per target: the
    ceiling of any re-ranking (not capped at 20)."""
    lists: dict[str, dict[str, list[str]]] = {}
    for s, item in zip(
        candidates.column("session_id").to_pylist(),
        candidates.column("item_id").to_pylist(),
        strict=True,
    ):
        for lst in lists.setdefault(s, {t: [] for t in OTTO_TYPES}).values():
            lst.append(item)
    everything = 1_000_000
    result = recall_at_k(lists, labels, ks=(everything,))
    return {t: round(by_k[everything], 4) for t, by_k in result.items()}


@contextmanager
def _engine(ctx: TrainContext, name: str) -> Iterator[Engine | None]:
    """The engine of the published index build: ``None`` (in-process DuckDB) or a started
    scale-out engine, closed afterwards."""
    if name == "duckdb":
        yield None
        return
    engine = get_engine(name, spark_master=ctx.spark_master)
    try:
        yield engine
    finally:
        engine.close()


def _ranker_wanted(ctx: TrainContext) -> bool:
    if not bool(ctx.options.get("sessions_ranker", True)):
        ctx.say("sessions: ranker disabled by the sessions_ranker option")
        return False
    if importlib.util.find_spec("lightgbm") is None:
        ctx.say("sessions: lightgbm is not installed (pip install 'reclift[ml]'); rules only")
        return False
    return True


def _catalog(ctx: TrainContext) -> pa.Table | None:
    """The workspace's items for the ranker's catalogue features (category, brand and price
    affinity of the session), or ``None`` without an items table or with
    ``sessions_catalog=false``."""
    if not bool(ctx.options.get("sessions_catalog", True)) or not ctx.ws.table_files("items"):
        return None
    items = ctx.ws.read_table("items")
    if "category" not in items.column_names:
        return None
    wanted = [c for c in ("item_id", "category", "brand", "price") if c in items.column_names]
    return items.select(wanted)


def train(ctx: TrainContext) -> dict[str, str]:
    """Fit and publish ``covisitation`` (and ``ranker``); returns artifact name -> version.

    Raises
    ------
    SkipFamily
        No events with a session id.
    """
    started = time.perf_counter()
    days = float(ctx.options.get("sessions_train_days", TRAIN_DAYS))
    budget = float(ctx.options.get("sessions_budget_s", BUDGET_S))
    use_ranker = _ranker_wanted(ctx)
    events = _events(ctx)
    if events.num_rows == 0:
        raise SkipFamily(
            "no events with a session_id: ingest events whose session_id column is filled"
        )

    # Holdout: fit before the last TEST_FRACTION of the period, complete the sessions after.
    evaluation: dict[str, tuple[dict[str, float], dict[str, dict[str, Any]]]] = {}
    holdout: dict[str, Any] = {"test_fraction": TEST_FRACTION, "seed": SEED, "train_days": days}
    baseline: dict[str, float] = {}
    train_events, test_events = split_by_time(events, TEST_FRACTION)
    train_events = recent(train_events, days)
    history, labels = truncate_sessions(test_events, seed=SEED)
    sessions = sorted(labels)[:MAX_TEST_SESSIONS]
    labels = {s: labels[s] for s in sessions}
    history = history.filter(
        pc.is_in(history.column("session_id"), value_set=pa.array(sessions, pa.string()))
    )
    ranker: TwoStageRanker | None = None
    rules_h: CovisitationRecommender | None = None
    catalog = _catalog(ctx) if use_ranker else None
    if train_events.num_rows and labels:
        if use_ranker:
            ranker = TwoStageRanker(**RANKER_PARAMS).fit(train_events, items=catalog)
            rules_h = ranker.first_stage()
        else:
            rules_h = CovisitationRecommender().fit(train_events)
        # The ranker's candidates carry its catalogue columns too; the rules ignore them.
        cands = (ranker or rules_h).candidates(history)
        for fitted in (rules_h, ranker):
            if fitted is not None:
                evaluation[fitted.name] = holdout_scores(fitted, cands, labels, sessions)
        popular = {
            s: {t: rules_h.index_.popular[t][: max(CURVE_KS)] for t in rules_h.targets_}
            for s in sessions
        }
        baseline = {f"popular_{k}": v for k, v in _scores(popular, labels)[0].items()}
        holdout.update(
            train_events=train_events.num_rows,
            test_sessions=len(labels),
            history=history.num_rows,
            candidate_recall=candidate_recall(cands, labels),
            item_catalog=catalog is not None,
        )
        for name, (metrics, _) in evaluation.items():
            ctx.say(f"{name}: holdout " + ", ".join(f"{k} {v}" for k, v in metrics.items()))
    else:
        ctx.say("sessions: too few sessions for a holdout; publishing without metrics")

    elapsed = time.perf_counter() - started
    if use_ranker and ranker is None and elapsed > budget / 2:
        ctx.say(
            f"sessions: {elapsed:.1f} s of the {budget:.0f} s budget used; skipping the ranker "
            "(raise sessions_budget_s or lower sessions_train_days)"
        )
        use_ranker = False

    # The published models: the holdout ranker's boosters (they learned how features relate
    # to what follows, which does not go stale in days) over an index rebuilt on the latest
    # events; the rules are its first stage. One index build instead of a second full fit.
    # With --engine spark that build (the batch step that grows with the log) runs on Spark
    # over the workspace's Parquet parts; the holdout above stays in process (its inputs are
    # cut in memory).
    final_events = recent(events, days)
    models: list[SessionRecommender] = []
    refreshed = ranker is not None
    engine_name = ctx.engine.strip().lower()
    with _engine(ctx, engine_name) as engine:
        source: pa.Table | EventFiles = final_events
        if engine is not None:
            source = EventFiles(tuple(ctx.ws.table_files("events")), last_days=days)
            ctx.say(f"sessions: building the published index on {engine_name}")
        if ranker is not None:
            ranker.refresh(source, engine=engine)
            models = [ranker.first_stage(), ranker]
        elif use_ranker:
            # Without a holdout the log is small: fit in memory, then build on the engine.
            ranker = TwoStageRanker(**RANKER_PARAMS).fit(final_events, items=catalog)
            if engine is not None:
                ranker.refresh(source, engine=engine)
            models = [ranker.first_stage(), ranker]
        elif engine is not None:
            # The holdout rules equal a fit on the latest events once refreshed; without a
            # holdout a small in-memory fit gives the targets.
            rules = rules_h if rules_h is not None else CovisitationRecommender().fit(final_events)
            models = [rules.refresh(source, engine=engine)]
        else:
            models = [CovisitationRecommender().fit(final_events)]

    published: dict[str, str] = {}
    for model in models:
        metrics, curves = evaluation.get(model.name, ({}, {}))
        meta: dict[str, Any] = {
            "trained_from": "workspace",
            "engine": engine_name,
            "holdout_engine": "duckdb",
            "n_events": final_events.num_rows,
            "train_days": days,
            "metrics": metrics,
            "primary_metric": f"weighted_recall@{METRIC_K}",
            "curves": curves,
            "holdout": holdout,
            "baseline": baseline,
        }
        report = getattr(model, "fit_report_", None)
        if report is not None:
            meta["fit_report"] = report
            meta["boosters_fitted_on"] = (
                "events before the holdout period" if refreshed else "the published events"
            )
        artifact = model.save(ctx.ws.artifacts, meta=meta)
        published[model.name] = artifact.version
        ctx.say(f"{model.name}: published version {artifact.version}")
    ctx.say(f"sessions: trained in {time.perf_counter() - started:.1f} s")
    return published
