"""CLI commands: ``reclift sessions fit|predict|related`` (file mode).

::

    reclift sessions fit --events FILE --model-dir DIR [--algo ranker|covisitation]
        [--session-col C] [--item-col C] [--time-col C] [--type-col C]
    reclift sessions predict --model-dir DIR --events FILE --out FILE [--k 20]

Inputs: CSV/TSV/Parquet (by extension), ``.txt`` as tab-separated with a header (the
session-rec format of YooChoose) and OTTO's JSON Lines (``.jsonl``/``.jsonl.gz``: sessions with
nested events). Event types may be canonical (view, click, cart, order) or OTTO's plural
names; without ``--type-col`` (and no ``event_type`` column) every event is a click. The
column mapping used at ``fit`` is saved with the model and is ``predict``'s default.

``predict`` reads the (truncated) sessions to complete and writes OTTO's submission format:
``session_type,labels`` with ``<session>_<clicks|carts|orders>`` and up to ``k``
space-separated item ids, for the targets the fitting data had (``clicks`` only for
click-only logs). Unknown items and sessions get the popular fallback, never an error.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import typer
from rich.console import Console

from reclift.errors import ReclifError, SchemaError
from reclift.io import Role, apply_roles, read_table, resolve_columns, write_table
from reclift.io.files import FileFormatError
from reclift.models.persist import resolve_artifact
from reclift.models.sessions import SESSION_MODELS, SessionRecommender, TwoStageRanker
from reclift.models.sessions.base import check_events
from reclift.models.sessions.features import EventFiles

console = Console(stderr=True)

PARQUET_SUFFIXES = (".parquet", ".pq")
SESSION_ROLES: tuple[Role, ...] = (
    Role("session", "session_id", "id", required=True, nullable=False),
    Role("item", "item_id", "id", required=True, nullable=False),
    Role("time", "ts", "time", required=True, nullable=False),
    Role("type", "event_type", "str", nullable=False),
)
#: Accepted spellings of event types (lower-cased) -> canonical type.
TYPE_SYNONYMS: dict[str, str] = {
    "view": "view",
    "views": "view",
    "click": "click",
    "clicks": "click",
    "cart": "cart",
    "carts": "cart",
    "order": "order",
    "orders": "order",
    "purchase": "order",
    "buy": "order",
}

sessions_app = typer.Typer(
    name="sessions",
    help="Session recommendations (next click, cart, order) on plain files.",
    no_args_is_help=True,
)


def read_events_file(path: Path, columns: Sequence[str] | None = None) -> pa.Table:
    """Read a session log by extension (see the module docstring); every column as read.

    ``columns`` restricts a Parquet file to those of its columns (the others are never
    decoded: at OTTO's size a log's unused columns alone fill several GiB).
    """
    name = path.name.lower()
    if columns is not None and name.endswith(PARQUET_SUFFIXES) and path.is_file():
        present = set(pq.read_schema(path).names)
        return read_table(path, columns=[c for c in dict.fromkeys(columns) if c in present])
    if name.endswith((".jsonl", ".jsonl.gz", ".json")):
        from reclift.datasets.otto import load as load_otto

        events = load_otto(path).tables["events"]
        return events.select(["session_id", "item_id", "event_type", "ts"])
    if name.endswith(".txt"):
        if not path.is_file():
            raise FileFormatError(f"{path}: no such file")
        try:
            with path.open("rb") as fh:
                header = fh.readline().decode("utf-8").rstrip("\r\n").split("\t")
            return pacsv.read_csv(
                path,
                parse_options=pacsv.ParseOptions(delimiter="\t"),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(header, pa.string())
                ),
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            raise FileFormatError(
                f"{path}: not a tab-separated file with a header: {exc}"
            ) from None
    return read_table(path)


def normalise_types(table: pa.Table, source: str, column: str) -> pa.Table:
    """Map ``event_type`` spellings onto canonical types, naming the first unknown value."""
    idx = table.schema.get_field_index("event_type")
    if idx < 0:
        return table.append_column(
            "event_type", pa.array(["click"] * table.num_rows, type=pa.string())
        )
    # Spellings are few and rows many: normalise the dictionary of distinct values, then
    # map every row through it (one pass instead of a lowered copy of every string).
    encoded = pc.dictionary_encode(table.column(idx).cast(pa.string())).combine_chunks()
    words = pc.utf8_lower(pc.utf8_trim_whitespace(encoded.dictionary))
    keys = pa.array(list(TYPE_SYNONYMS))
    canonical = pc.take(pa.array(list(TYPE_SYNONYMS.values())), pc.index_in(words, keys))
    if canonical.null_count:
        unknown = pc.is_null(pc.take(canonical, encoded.indices))
        bad = int(np.flatnonzero(np.asarray(unknown.to_numpy(zero_copy_only=False)))[0])
        value = table.column(idx)[bad].as_py()
        raise SchemaError(
            f"{source}: column {column!r}, row {bad}: event type {value!r} is not one of "
            f"{sorted(set(TYPE_SYNONYMS))}"
        )
    return table.set_column(idx, "event_type", pc.take(canonical, encoded.indices))


def load_events(
    path: Path, overrides: dict[str, str | None], defaults: dict[str, str] | None = None
) -> tuple[pa.Table, dict[str, str]]:
    """Read, map and check a session log; returns the events and the role mapping used."""
    if path.name.lower().endswith(PARQUET_SUFFIXES) and path.is_file():
        names = pq.read_schema(path).names
        defaults = {r: c for r, c in (defaults or {}).items() if c in names}
        wanted = resolve_columns(SESSION_ROLES, overrides, defaults)
        # Only the mapped columns; when one is missing, all of them, so the error can list
        # what the file has.
        complete = all(c in names for r, c in wanted.items() if r in ("session", "item", "time"))
        raw = read_events_file(path, columns=list(wanted.values()) if complete else None)
    else:
        raw = read_events_file(path)
    defaults = {r: c for r, c in (defaults or {}).items() if c in raw.column_names}
    mapping = resolve_columns(SESSION_ROLES, overrides, defaults)
    explicit = [role for role, col in overrides.items() if col is not None]
    events = apply_roles(raw, SESSION_ROLES, mapping, source=str(path), explicit=explicit)
    events = normalise_types(events, str(path), mapping.get("type", "event_type"))
    used = {r.name: mapping[r.name] for r in SESSION_ROLES if mapping[r.name] in raw.column_names}
    return events.select(["session_id", "item_id", "event_type", "ts"]), used


@sessions_app.command("fit")
def fit(
    events: Annotated[Path, typer.Option("--events", help="Session log file.")],
    model_dir: Annotated[
        Path, typer.Option("--model-dir", help="Output directory (an artifact store).")
    ],
    algo: Annotated[
        str, typer.Option("--algo", help=f"Model: {', '.join(SESSION_MODELS)}.")
    ] = TwoStageRanker.name,
    session_col: Annotated[
        str | None, typer.Option("--session-col", help="Session id column.")
    ] = None,
    item_col: Annotated[str | None, typer.Option("--item-col", help="Item id column.")] = None,
    time_col: Annotated[
        str | None,
        typer.Option("--time-col", help="Timestamp column (ISO 8601 or epoch s/ms)."),
    ] = None,
    type_col: Annotated[
        str | None,
        typer.Option("--type-col", help="Event type column (absent: every event is a click)."),
    ] = None,
    label_fraction: Annotated[
        float | None,
        typer.Option("--label-fraction", help="Ranker: share of time used as label period."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Ranker: random seed.")] = 0,
    items: Annotated[
        Path | None,
        typer.Option(
            "--items",
            help="Ranker: item catalogue (the events' item column, category, optional brand "
            "and price) for category, brand and price features.",
        ),
    ] = None,
) -> None:
    """Fit a session recommender on a session log and publish it under --model-dir."""
    if algo not in SESSION_MODELS:
        raise ReclifError(f"--algo {algo!r} is unknown; expected one of {list(SESSION_MODELS)}")
    overrides: dict[str, str | None] = {
        "session": session_col,
        "item": item_col,
        "time": time_col,
        "type": type_col,
    }
    table, used = load_events(events, overrides)
    params: dict[str, Any] = {}
    if algo == TwoStageRanker.name:
        params["seed"] = seed
        if label_fraction is not None:
            params["label_fraction"] = label_fraction
    elif label_fraction is not None:
        raise ReclifError(f"--label-fraction does not apply to --algo {algo}")
    catalog = None
    if items is not None:
        if algo != TwoStageRanker.name:
            raise ReclifError(f"--items does not apply to --algo {algo} (only to the ranker)")
        catalog = read_table(items)
        item_column = used.get("item", "item_id")
        if item_column not in catalog.column_names:
            raise ReclifError(
                f"{items}: no column {item_column!r} (the events' item column); "
                f"it has {catalog.column_names}"
            )
        names = ["item_id" if c == item_column else c for c in catalog.column_names]
        catalog = catalog.rename_columns(names)
    table = check_events(table)
    if table.num_rows == 0:
        raise SchemaError("events is empty: nothing to fit on")
    n_events = table.num_rows
    with tempfile.TemporaryDirectory(prefix="reclift-sessions-fit-") as tmp:
        # The validated log goes to disk and the engine reads it from there: the fit then
        # never holds the log and the engine's working memory at once (at OTTO's size the
        # log alone is about 9 GiB in memory).
        files = EventFiles((Path(tmp) / "events.parquet",))
        pq.write_table(table, files.paths[0], row_group_size=1 << 20)
        del table
        pa.default_memory_pool().release_unused()
        model = SESSION_MODELS[algo](**params)
        if catalog is not None:
            model = TwoStageRanker(**params).fit(files, items=catalog)
        else:
            model = model.fit(files)
    artifact = model.save(
        model_dir,
        meta={
            "file_mode": {
                "events": str(events),
                "items": None if items is None else str(items),
                "columns": used,
                "n_events": n_events,
            },
            "fit_report": getattr(model, "fit_report_", None),
        },
    )
    console.print(
        f"fitted [bold]{algo}[/] on {n_events:,} events ({', '.join(model.targets_)}) "
        f"from {events} -> {artifact.path}",
        highlight=False,
    )


@sessions_app.command("predict")
def predict(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Directory written by fit.")],
    events: Annotated[Path, typer.Option("--events", help="Sessions to complete.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    k: Annotated[int, typer.Option("--k", "-k", help="Items per session and target.")] = 20,
    session_col: Annotated[
        str | None, typer.Option("--session-col", help="Session id column.")
    ] = None,
    item_col: Annotated[str | None, typer.Option("--item-col", help="Item id column.")] = None,
    time_col: Annotated[str | None, typer.Option("--time-col", help="Timestamp column.")] = None,
    type_col: Annotated[str | None, typer.Option("--type-col", help="Event type column.")] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Model name when --model-dir holds several.")
    ] = None,
) -> None:
    """Write the top-k items per session and target in OTTO's submission format."""
    artifact = resolve_artifact(model_dir, name)
    model_name = str(artifact.meta.get("model"))
    if artifact.meta.get("family") != "sessions" or model_name not in SESSION_MODELS:
        raise ReclifError(
            f"{artifact.path}: not a session model (fit one with reclift sessions fit)"
        )
    model: SessionRecommender = SESSION_MODELS[model_name].load(artifact)
    fit_columns = (artifact.meta.get("file_mode") or {}).get("columns") or {}
    overrides: dict[str, str | None] = {
        "session": session_col,
        "item": item_col,
        "time": time_col,
        "type": type_col,
    }
    table, _ = load_events(events, overrides, fit_columns)
    recs = model.recommend(table, k)
    result = recs.to_submission()
    write_table(result, out)
    console.print(
        f"wrote {result.num_rows:,} rows for {recs.session_ids.size:,} sessions to {out}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``sessions`` (file mode) to ``app``."""
    app.add_typer(sessions_app, name="sessions")
