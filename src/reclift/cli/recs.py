"""CLI commands: ``reclift recs fit|predict|similar|rules`` (file mode) and ``reclift train``.

File mode is the pattern every model family follows::

    reclift recs fit --interactions FILE [--items FILE] --algo NAME|auto --model-dir DIR
        [--user-col C --item-col C --rating-col C --time-col C ...]
    reclift recs predict --model-dir DIR [--users FILE] --out FILE [-k 10]
        [--include-seen] [--category C --min-price P --max-price P --allow-items FILE]
    reclift recs similar --model-dir DIR --items FILE --out FILE [-k 10]
    reclift recs rules --model-dir DIR --out FILE [--min-support S --min-confidence C]

(``--events``/``--model``/``--ts-col`` are the older spellings of ``--interactions``/
``--model-dir``/``--time-col`` and keep working.) Inputs are CSV/TSV (optionally gzipped) or
Parquet by extension, outputs CSV or Parquet. ``--<role>-col`` maps a file's column onto a
canonical role; the mapping used at ``fit`` is saved in the model's metadata and is
``predict``'s default. Without ``--users``, ``predict`` answers every user seen at fit. Output
columns: ``user_id, item_id, rank, score`` (rank starts at 1; users with fewer than ``k``
candidates get fewer rows); items a user interacted with are left out unless
``--include-seen``. ``--algo auto`` picks EASE for catalogs up to 20,000 items with known
users, item-kNN above, and popularity when the file has no user column.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute
import typer
from rich.console import Console

from reclift.errors import ReclifError
from reclift.io import Role, apply_roles, read_table, resolve_columns, write_table
from reclift.models.persist import resolve_artifact
from reclift.models.recs.base import RecFilters
from reclift.models.recs.copurchase import CoPurchaseRecommender
from reclift.models.recs.ease import EASERecommender
from reclift.models.recs.itemknn import ItemKNNRecommender
from reclift.models.recs.popular import PopularRecommender
from reclift.models.recs.registry import RECOMMENDERS, get_recommender, load_recommender
from reclift.models.recs.scored import ScoredRecommender
from reclift.schema.tables import EVENT_TYPES
from reclift.workspace.store import Workspace

console = Console(stderr=True)

EVENT_ROLES: tuple[Role, ...] = (
    Role("user", "user_id", "id"),
    Role("session", "session_id", "id"),
    Role("item", "item_id", "id", required=True, nullable=False),
    Role("event_type", "event_type", "str", nullable=False, allowed=EVENT_TYPES),
    Role("ts", "ts", "time", nullable=False),
    Role("quantity", "quantity", "int"),
    Role("price", "price", "float"),
    Role("rating", "rating", "float", nullable=False),
)
ITEM_ROLES: tuple[Role, ...] = (
    Role("item", "item_id", "id", required=True, nullable=False),
    Role("category", "category", "str"),
    Role("item_price", "price", "float"),
)
USER_ROLES: tuple[Role, ...] = (Role("user", "user_id", "id", required=True, nullable=False),)
ID_ROLES: tuple[Role, ...] = (Role("item", "item_id", "id", required=True, nullable=False),)
OUTPUT_COLUMNS: tuple[str, ...] = ("user_id", "item_id", "rank", "score")
AUTO_EASE_MAX_ITEMS = 20_000

recs_app = typer.Typer(
    name="recs",
    help="Product recommendations on plain files (fit a model, predict top-k per user).",
    no_args_is_help=True,
)


def parse_weights(text: str | None) -> dict[str, float] | None:
    """``"view=1,order=8"`` -> ``{"view": 1.0, "order": 8.0}``."""
    if text is None:
        return None
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            weights[key.strip()] = float(value)
        except ValueError:
            raise ReclifError(
                f"--event-weights: cannot parse {part!r}; expected TYPE=NUMBER, e.g. view=1,order=8"
            ) from None
    return weights


def _explicit(overrides: dict[str, str | None]) -> list[str]:
    return [role for role, col in overrides.items() if col is not None]


def to_rows(
    users: list[str], ids: np.ndarray, scores: np.ndarray, key: str = "user_id"
) -> pa.Table:
    """Long output table (``<key>, item_id, rank, score``) from ``(n_users, k)`` arrays."""
    present = np.vectorize(lambda v: v is not None, otypes=[bool])(ids)
    rows, cols = np.nonzero(present)
    return pa.table(
        {
            key: pa.array(np.asarray(users, dtype=object)[rows].tolist(), type=pa.string()),
            "item_id": pa.array(ids[rows, cols].tolist(), type=pa.string()),
            "rank": pa.array((cols + 1).astype(np.int32)),
            "score": pa.array(scores[rows, cols].astype(np.float32)),
        }
    )


def parse_params(values: list[str] | None) -> dict[str, Any]:
    """``["l2=200", "binary=false"]`` -> ``{"l2": 200, "binary": False}`` (JSON values)."""
    params: dict[str, Any] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        if not sep or not key.strip():
            raise ReclifError(f"--param: cannot parse {text!r}; expected NAME=VALUE, e.g. l2=200")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
    return params


def choose_algo(events: pa.Table) -> str:
    """The ``--algo auto`` rule (see the module docstring)."""
    if "user_id" not in events.column_names or events.column("user_id").null_count == len(events):
        return PopularRecommender.name
    n_items = pa.compute.count_distinct(events.column("item_id")).as_py()
    return EASERecommender.name if n_items <= AUTO_EASE_MAX_ITEMS else ItemKNNRecommender.name


def read_ids(path: Path, option: str) -> list[str]:
    """Item ids from a file with an ``item_id`` column (or a single column)."""
    raw = read_table(path)
    column = "item_id" if "item_id" in raw.column_names else None
    if column is None and raw.num_columns == 1:
        column = raw.column_names[0]
    mapping = resolve_columns(ID_ROLES, {"item": column})
    table = apply_roles(raw, ID_ROLES, mapping, source=f"{option} {path}")
    return [str(v) for v in table.column("item_id").to_pylist()]


@recs_app.command("fit")
def fit(
    events: Annotated[
        Path,
        typer.Option(
            "--interactions", "--events", help="Interactions/events file (CSV/TSV/Parquet)."
        ),
    ],
    model: Annotated[
        Path,
        typer.Option("--model-dir", "--model", help="Output directory (an artifact store)."),
    ],
    items: Annotated[
        Path | None, typer.Option("--items", help="Items file with categories and prices.")
    ] = None,
    algo: Annotated[
        str, typer.Option("--algo", help=f"Model: auto, {', '.join(RECOMMENDERS)}.")
    ] = PopularRecommender.name,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Model parameter NAME=VALUE (JSON value); repeatable."),
    ] = None,
    event_weights: Annotated[
        str | None,
        typer.Option(
            "--event-weights", help="Event-type weights, e.g. view=1,click=2,cart=4,order=8."
        ),
    ] = None,
    half_life_days: Annotated[
        float | None, typer.Option("--half-life-days", help="Time-decay half-life in days.")
    ] = None,
    user_col: Annotated[str | None, typer.Option("--user-col", help="User id column.")] = None,
    session_col: Annotated[
        str | None, typer.Option("--session-col", help="Session id column.")
    ] = None,
    item_col: Annotated[
        str | None, typer.Option("--item-col", help="Item id column (events and items).")
    ] = None,
    event_type_col: Annotated[
        str | None, typer.Option("--event-type-col", help="Event type column.")
    ] = None,
    ts_col: Annotated[
        str | None, typer.Option("--time-col", "--ts-col", help="Timestamp column.")
    ] = None,
    rating_col: Annotated[
        str | None,
        typer.Option("--rating-col", help="Rating/weight column (replaces event weights)."),
    ] = None,
    quantity_col: Annotated[
        str | None, typer.Option("--quantity-col", help="Quantity column.")
    ] = None,
    price_col: Annotated[str | None, typer.Option("--price-col", help="Price column.")] = None,
    category_col: Annotated[
        str | None, typer.Option("--category-col", help="Items: category path column.")
    ] = None,
    item_price_col: Annotated[
        str | None, typer.Option("--item-price-col", help="Items: price column.")
    ] = None,
) -> None:
    """Fit a recommender on an interactions file and publish it under --model-dir."""
    if algo != "auto":
        get_recommender(algo)
    event_over: dict[str, str | None] = {
        "user": user_col,
        "session": session_col,
        "item": item_col,
        "event_type": event_type_col,
        "ts": ts_col,
        "quantity": quantity_col,
        "price": price_col,
        "rating": rating_col,
    }
    event_map = resolve_columns(EVENT_ROLES, event_over)
    raw = read_table(events)
    ev = apply_roles(
        raw, EVENT_ROLES, event_map, source=str(events), explicit=_explicit(event_over)
    )
    item_over: dict[str, str | None] = {
        "item": item_col,
        "category": category_col,
        "item_price": item_price_col,
    }
    item_map = resolve_columns(ITEM_ROLES, item_over)
    it = None
    if items is not None:
        it = apply_roles(
            read_table(items),
            ITEM_ROLES,
            item_map,
            source=str(items),
            explicit=_explicit(item_over),
        )
    chosen = choose_algo(ev) if algo == "auto" else algo
    cls = get_recommender(chosen)
    params = parse_params(param)
    accepted = set(cls().get_params())
    if event_weights is not None:
        params["event_weights"] = parse_weights(event_weights)
    if half_life_days is not None:
        params["half_life_days"] = half_life_days
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ReclifError(
            f"--algo {chosen} has no parameter(s) {unknown}; it takes {sorted(accepted)}"
        )
    try:
        recommender = cls(**params).fit(ev, it)
    except TypeError as exc:  # e.g. a JSON list where a mapping is expected
        raise ReclifError(f"--param: {exc}") from None
    used_events = {r.name: event_map[r.name] for r in EVENT_ROLES if r.column in ev.column_names}
    used_items = (
        {r.name: item_map[r.name] for r in ITEM_ROLES if r.column in it.column_names}
        if it is not None
        else {}
    )
    artifact = recommender.save(
        model,
        meta={
            "file_mode": {
                "events": str(events),
                "items": str(items) if items is not None else None,
                "columns": {"events": used_events, "items": used_items},
                "n_events": ev.num_rows,
                "algo": algo,
            }
        },
    )
    console.print(
        f"fitted [bold]{chosen}[/] on {ev.num_rows:,} events from {events} -> {artifact.path}",
        highlight=False,
    )


def _model_option() -> Any:
    return typer.Option("--model-dir", "--model", help="Model directory written by fit.")


@recs_app.command("predict")
def predict(
    model: Annotated[Path, _model_option()],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    users: Annotated[
        Path | None,
        typer.Option("--users", help="File with a user_id column (default: every fitted user)."),
    ] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Items per user.")] = 10,
    user_col: Annotated[
        str | None, typer.Option("--user-col", help="User id column of --users.")
    ] = None,
    exclude_seen: Annotated[
        bool,
        typer.Option(
            "--exclude-seen/--include-seen",
            help="Drop items each user already interacted with (default).",
        ),
    ] = True,
    category: Annotated[
        str | None, typer.Option("--category", help="Only items in this category path.")
    ] = None,
    min_price: Annotated[
        float | None, typer.Option("--min-price", help="Only items priced at least this.")
    ] = None,
    max_price: Annotated[
        float | None, typer.Option("--max-price", help="Only items priced at most this.")
    ] = None,
    allow_items: Annotated[
        Path | None,
        typer.Option("--allow-items", help="File of allowed item ids (e.g. in stock)."),
    ] = None,
    exclude_items: Annotated[
        Path | None, typer.Option("--exclude-items", help="File of item ids never to return.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Model name when --model-dir holds several.")
    ] = None,
) -> None:
    """Write the top-k items of every user to --out (user_id, item_id, rank, score)."""
    artifact = resolve_artifact(model, name)
    recommender = load_recommender(artifact)
    if users is not None:
        raw = read_table(users)
        file_mode = artifact.meta.get("file_mode") or {}
        fit_user = (file_mode.get("columns") or {}).get("events", {}).get("user")
        defaults = {"user": fit_user} if fit_user and fit_user in raw.column_names else {}
        mapping = resolve_columns(USER_ROLES, {"user": user_col}, defaults)
        table = apply_roles(raw, USER_ROLES, mapping, source=str(users))
        user_list = [str(u) for u in table.column("user_id").to_pylist()]
    else:
        user_map = getattr(recommender, "user_map_", None)
        user_list = [str(u) for u in user_map.ids.tolist()] if user_map is not None else []
    filters = RecFilters.coerce(
        {
            "min_price": min_price,
            "max_price": max_price,
            "allow_items": read_ids(allow_items, "--allow-items") if allow_items else None,
            "exclude_items": read_ids(exclude_items, "--exclude-items") if exclude_items else None,
        }
    )
    ids, scores = recommender.recommend(
        user_list, k, exclude_seen=exclude_seen, category=category, filters=filters
    )
    result = to_rows(user_list, ids, scores)
    write_table(result, out)
    console.print(
        f"wrote {result.num_rows:,} rows for {len(user_list):,} users to {out}", highlight=False
    )


@recs_app.command("similar")
def similar(
    model: Annotated[Path, _model_option()],
    items: Annotated[Path, typer.Option("--items", help="File with an item_id column.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    k: Annotated[int, typer.Option("-k", "--k", help="Similar items per item.")] = 10,
    name: Annotated[
        str | None, typer.Option("--name", help="Model name when --model-dir holds several.")
    ] = None,
) -> None:
    """Similar (or bought-together, for copurchase) items: source_item_id, item_id, rank, score."""
    recommender = load_recommender(resolve_artifact(model, name))
    if not isinstance(recommender, ScoredRecommender):
        raise ReclifError(f"model {recommender.name!r} has no item similarity; fit another --algo")
    item_list = read_ids(items, "--items")
    ids, scores = recommender.similar_items(item_list, k)
    result = to_rows(item_list, ids, scores, key="source_item_id")
    write_table(result, out)
    console.print(f"wrote {result.num_rows:,} rows to {out}", highlight=False)


@recs_app.command("rules")
def rules(
    model: Annotated[Path, _model_option()],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    min_support: Annotated[float, typer.Option("--min-support")] = 0.0,
    min_confidence: Annotated[float, typer.Option("--min-confidence")] = 0.0,
    min_lift: Annotated[float, typer.Option("--min-lift")] = 0.0,
    name: Annotated[
        str | None, typer.Option("--name", help="Model name when --model-dir holds several.")
    ] = None,
) -> None:
    """Pairwise association rules of a copurchase model (support, confidence, lift)."""
    recommender = load_recommender(resolve_artifact(model, name))
    if not isinstance(recommender, CoPurchaseRecommender):
        raise ReclifError(
            f"association rules need a copurchase model, this is {recommender.name!r}"
        )
    table = recommender.association_rules(
        min_support=min_support, min_confidence=min_confidence, min_lift=min_lift
    )
    write_table(table, out)
    console.print(f"wrote {table.num_rows:,} rules to {out}", highlight=False)


def parse_options(pairs: list[str]) -> dict[str, object]:
    """``KEY=VALUE`` strings -> options; a value is JSON when it parses, else text."""
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ReclifError(f"--option {pair!r}: expected KEY=VALUE with KEY a name")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def train(
    workspace: Annotated[Path, typer.Argument(help="Workspace directory.")],
    engine: Annotated[
        str, typer.Option("--engine", help="Engine for pipelines: duckdb or spark.")
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option("--spark-master", help="Spark master URL (local[N] or spark://HOST:PORT)."),
    ] = None,
    half_life_days: Annotated[
        float | None, typer.Option("--half-life-days", help="Popular: time-decay half-life.")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Family option KEY=VALUE (repeatable), e.g. -o uplift_outcome=revenue, "
            '-o sessions_ranker=false, -o recs_models=\'["itemknn","ease"]\'. Values are '
            "read as JSON when they parse, else as text. Each trainer's docstring lists its keys.",
        ),
    ] = None,
    family: Annotated[
        list[str] | None,
        typer.Option(
            "--family",
            help="Train only these families (repeatable): embeddings, recs, search, sessions, "
            "targeting, offers, keywords. Default: every family the workspace has data for.",
        ),
    ] = None,
) -> None:
    """Build derived tables (item statistics, sessions) and fit and publish every model.

    Each model is published atomically: a complete new version is written first, then the
    model's CURRENT pointer moves, so a running service reloads either version, never a mix.
    """
    from reclift.jobs.train import train_workspace

    if engine not in ("duckdb", "spark"):
        raise ReclifError(f"--engine must be duckdb or spark, got {engine!r}")
    if spark_master is not None and engine != "spark":
        raise ReclifError("--spark-master needs --engine spark")
    ws = Workspace.open(workspace)
    result = train_workspace(
        ws,
        engine=engine,
        spark_master=spark_master,
        half_life_days=half_life_days,
        families=family or None,
        options=parse_options(option or []),
        say=lambda m: console.print(m, highlight=False),
    )
    for name, version in result.artifacts.items():
        console.print(f"published [bold]{name}[/] version {version}", highlight=False)
    for fam, reason in result.skipped.items():
        console.print(f"[yellow]skipped[/] {fam}: {reason}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``recs`` (file mode) and ``train`` (workspace) to ``app``."""
    app.add_typer(recs_app, name="recs")
    app.command("train")(train)
