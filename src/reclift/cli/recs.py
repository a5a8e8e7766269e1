"""CLI commands: ``reclift recs fit|predict`` (file mode) and ``reclift train`` (workspace).

File mode is the pattern every model family follows::

    reclift recs fit --events FILE [--items FILE] --model OUT_DIR [--<role>-col C ...]
    reclift recs predict --model DIR --users FILE --out FILE [-k 10] [--user-col C]

Inputs are CSV/TSV (optionally gzipped) or Parquet by extension, outputs CSV or Parquet.
``--<role>-col`` maps a file's column onto a canonical role; the mapping used at ``fit`` is
saved in the model's metadata and is ``predict``'s default. ``--users FILE`` reads its
``user_id`` column unless ``--user-col`` (or the name used at fit, when the file has it)
says otherwise. Output columns: ``user_id, rank, item_id, score`` (rank starts at 1; users
with fewer than ``k`` candidates get fewer rows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import typer
from rich.console import Console

from reclift.errors import ReclifError
from reclift.io import Role, apply_roles, read_table, resolve_columns, write_table
from reclift.models.persist import resolve_artifact
from reclift.models.recs.popular import PopularRecommender
from reclift.models.recs.registry import RECOMMENDERS, get_recommender, load_recommender
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
)
ITEM_ROLES: tuple[Role, ...] = (
    Role("item", "item_id", "id", required=True, nullable=False),
    Role("category", "category", "str"),
)
USER_ROLES: tuple[Role, ...] = (Role("user", "user_id", "id", required=True, nullable=False),)
OUTPUT_COLUMNS: tuple[str, ...] = ("user_id", "rank", "item_id", "score")

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


def to_rows(users: list[str], ids: np.ndarray, scores: np.ndarray) -> pa.Table:
    """Long output table (``user_id, rank, item_id, score``) from ``(n_users, k)`` arrays."""
    present = np.vectorize(lambda v: v is not None, otypes=[bool])(ids)
    rows, cols = np.nonzero(present)
    return pa.table(
        {
            "user_id": pa.array(np.asarray(users, dtype=object)[rows].tolist(), type=pa.string()),
            "rank": pa.array((cols + 1).astype(np.int32)),
            "item_id": pa.array(ids[rows, cols].tolist(), type=pa.string()),
            "score": pa.array(scores[rows, cols].astype(np.float32)),
        }
    )


@recs_app.command("fit")
def fit(
    events: Annotated[Path, typer.Option("--events", help="Events file (CSV/TSV/Parquet).")],
    model: Annotated[Path, typer.Option("--model", help="Output directory (an artifact store).")],
    items: Annotated[
        Path | None, typer.Option("--items", help="Items file with categories.")
    ] = None,
    algo: Annotated[
        str, typer.Option("--algo", help=f"Model: {', '.join(RECOMMENDERS)}.")
    ] = PopularRecommender.name,
    event_weights: Annotated[
        str | None,
        typer.Option(
            "--event-weights", help="Popular: weights, e.g. view=1,click=2,cart=4,order=8."
        ),
    ] = None,
    half_life_days: Annotated[
        float | None, typer.Option("--half-life-days", help="Popular: time-decay half-life.")
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
    ts_col: Annotated[str | None, typer.Option("--ts-col", help="Timestamp column.")] = None,
    quantity_col: Annotated[
        str | None, typer.Option("--quantity-col", help="Quantity column.")
    ] = None,
    price_col: Annotated[str | None, typer.Option("--price-col", help="Price column.")] = None,
    category_col: Annotated[
        str | None, typer.Option("--category-col", help="Items: category path column.")
    ] = None,
) -> None:
    """Fit a recommender on an events file and publish it under --model."""
    cls = get_recommender(algo)
    event_over: dict[str, str | None] = {
        "user": user_col,
        "session": session_col,
        "item": item_col,
        "event_type": event_type_col,
        "ts": ts_col,
        "quantity": quantity_col,
        "price": price_col,
    }
    event_map = resolve_columns(EVENT_ROLES, event_over)
    raw = read_table(events)
    ev = apply_roles(
        raw, EVENT_ROLES, event_map, source=str(events), explicit=_explicit(event_over)
    )
    item_over: dict[str, str | None] = {"item": item_col, "category": category_col}
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
    params: dict[str, Any] = {}
    if cls is PopularRecommender:
        params = {
            "event_weights": parse_weights(event_weights),
            "half_life_days": half_life_days,
        }
    elif event_weights is not None or half_life_days is not None:
        raise ReclifError(f"--event-weights/--half-life-days do not apply to --algo {algo}")
    recommender = cls(**params).fit(ev, it)
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
            }
        },
    )
    console.print(
        f"fitted [bold]{algo}[/] on {ev.num_rows:,} events from {events} -> {artifact.path}",
        highlight=False,
    )


@recs_app.command("predict")
def predict(
    model: Annotated[Path, typer.Option("--model", help="Model directory written by fit.")],
    users: Annotated[Path, typer.Option("--users", help="File with a user_id column.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    k: Annotated[int, typer.Option("-k", "--k", help="Items per user.")] = 10,
    user_col: Annotated[
        str | None, typer.Option("--user-col", help="User id column of --users.")
    ] = None,
    exclude_seen: Annotated[
        bool, typer.Option("--exclude-seen", help="Drop items each user already interacted with.")
    ] = False,
    category: Annotated[
        str | None, typer.Option("--category", help="Only items in this category path.")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Model name when --model holds several.")
    ] = None,
) -> None:
    """Write the top-k items of every user in --users to --out."""
    artifact = resolve_artifact(model, name)
    recommender = load_recommender(artifact)
    raw = read_table(users)
    file_mode = artifact.meta.get("file_mode") or {}
    fit_user = (file_mode.get("columns") or {}).get("events", {}).get("user")
    defaults = {"user": fit_user} if fit_user and fit_user in raw.column_names else {}
    mapping = resolve_columns(USER_ROLES, {"user": user_col}, defaults)
    table = apply_roles(raw, USER_ROLES, mapping, source=str(users))
    user_list = [str(u) for u in table.column("user_id").to_pylist()]
    ids, scores = recommender.recommend(user_list, k, exclude_seen=exclude_seen, category=category)
    result = to_rows(user_list, ids, scores)
    write_table(result, out)
    console.print(
        f"wrote {result.num_rows:,} rows for {len(user_list):,} users to {out}", highlight=False
    )


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
) -> None:
    """Build derived tables (item statistics, sessions) and fit and publish every model."""
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
        say=lambda m: console.print(m, highlight=False),
    )
    for name, version in result.artifacts.items():
        console.print(f"published [bold]{name}[/] version {version}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``recs`` (file mode) and ``train`` (workspace) to ``app``."""
    app.add_typer(recs_app, name="recs")
    app.command("train")(train)
