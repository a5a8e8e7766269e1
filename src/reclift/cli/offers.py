"""CLI commands: ``reclift offers fit|score`` (file mode) for universal offer targeting.

::

    reclift offers fit --events FILE --items FILE --offer-cols item_id,category,brand \\
        --model-dir DIR [--model universal|no_aug|two_tower|mono] [--multi-cols genres]
        [--user-col C --item-col C --time-col C --event-type-col C] [--epochs N]
    reclift offers score --model-dir DIR --offer 'category = "shoes" AND price < 50' \\
        [--users FILE] --out FILE [--top N]

``score`` writes ``user_id,score`` sorted by score (ties by user id). Columns listed in
``--multi-cols`` hold several values separated by ``--list-sep`` (default ``|``), e.g.
``Comedy|Drama``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import pyarrow as pa
import typer
from rich.console import Console

from reclift.errors import ReclifError
from reclift.io import Role, apply_roles, read_table, resolve_columns, write_table
from reclift.models.offers.base import OfferModel
from reclift.models.offers.mono import MonoOfferModel
from reclift.models.offers.universal import VARIANTS, UniversalOfferModel
from reclift.models.persist import resolve_artifact

console = Console(stderr=True)

EVENT_ROLES: tuple[Role, ...] = (
    Role("user", "user_id", "id", required=True, nullable=False),
    Role("item", "item_id", "id", required=True, nullable=False),
    Role("time", "ts", "time", required=True, nullable=False),
    Role("event_type", "event_type", "str"),
)
USER_ROLES: tuple[Role, ...] = (Role("user", "user_id", "id", required=True, nullable=False),)
MODEL_NAME = "offers"

offers_app = typer.Typer(
    name="offers",
    help="Universal offer targeting: fit once, score users for any offer expression.",
    no_args_is_help=True,
)


def _split_cols(text: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise ReclifError("--offer-cols: give at least one column, e.g. item_id,category")
    return cols


def read_items(
    path: Path, item_col: str, cols: list[str], multi: list[str], sep: str
) -> pd.DataFrame:
    """Items frame with ``item_id`` and the offer columns (multi-valued ones as lists)."""
    raw = read_table(path).to_pandas()
    need = [item_col, *[c for c in cols if c != "item_id"]]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise ReclifError(f"{path}: missing column(s) {missing}; the file has {list(raw.columns)}")
    unknown = [c for c in multi if c not in cols]
    if unknown:
        raise ReclifError(f"--multi-cols {unknown} are not among --offer-cols {cols}")
    frame = raw[need].rename(columns={item_col: "item_id"})
    frame["item_id"] = frame["item_id"].astype(str)
    for c in cols:
        if c in multi or c == "item_id" or pd.api.types.is_numeric_dtype(frame[c]):
            continue
        # files may carry numbers as text: a column that parses entirely is numeric (price)
        parsed = pd.to_numeric(frame[c], errors="coerce")
        if parsed.notna().sum() == frame[c].notna().sum() and frame[c].notna().any():
            frame[c] = parsed
    for c in multi:
        frame[c] = [
            [] if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).split(sep)
            for v in frame[c]
        ]
    out: pd.DataFrame = frame
    return out


@offers_app.command("fit")
def fit(
    events: Annotated[Path, typer.Option("--events", help="Events file (CSV/TSV/Parquet).")],
    items: Annotated[Path, typer.Option("--items", help="Items file with the offer columns.")],
    offer_cols: Annotated[
        str,
        typer.Option("--offer-cols", help="Comma-separated item attributes, e.g. item_id,brand."),
    ],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Output artifact store.")],
    model: Annotated[
        str, typer.Option("--model", help=f"{', '.join(VARIANTS)} or mono (logistic per value).")
    ] = "universal",
    mono_target: Annotated[
        str | None,
        typer.Option("--mono-target", help="mono: the attribute with one model per value."),
    ] = None,
    multi_cols: Annotated[
        str, typer.Option("--multi-cols", help="Offer columns holding several values.")
    ] = "",
    list_sep: Annotated[str, typer.Option("--list-sep", help="Separator of multi values.")] = "|",
    epochs: Annotated[int, typer.Option("--epochs", help="Neural models: training epochs.")] = 8,
    user_col: Annotated[str | None, typer.Option("--user-col", help="User id column.")] = None,
    item_col: Annotated[
        str | None, typer.Option("--item-col", help="Item id column (events and items).")
    ] = None,
    time_col: Annotated[str | None, typer.Option("--time-col", help="Timestamp column.")] = None,
    event_type_col: Annotated[
        str | None, typer.Option("--event-type-col", help="Event type column (targets: order).")
    ] = None,
) -> None:
    """Fit an offer model on an events file and an items file; publish it under --model-dir."""
    cols = _split_cols(offer_cols)
    over = {"user": user_col, "item": item_col, "time": time_col, "event_type": event_type_col}
    mapping = resolve_columns(EVENT_ROLES, over)
    ev = apply_roles(
        read_table(events),
        EVENT_ROLES,
        mapping,
        source=str(events),
        explicit=[k for k, v in over.items() if v is not None],
    ).to_pandas()
    it = read_items(items, item_col or "item_id", cols, _split_multi(multi_cols), list_sep)
    est: OfferModel
    if model == "mono":
        est = MonoOfferModel(cols, target=mono_target or cols[0])
    elif model in VARIANTS:
        est = UniversalOfferModel(cols, variant=model, epochs=epochs)
    else:
        raise ReclifError(f"--model must be one of {[*VARIANTS, 'mono']}, got {model!r}")
    est.fit(ev, it)
    art = est.save(
        model_dir,
        name=MODEL_NAME,
        meta={"file_mode": {"events": str(events), "items": str(items), "columns": mapping}},
    )
    console.print(
        f"fitted [bold]{model}[/] on {len(ev):,} events, {len(it):,} items -> {art.path}",
        highlight=False,
    )


def _split_multi(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def load_offer_model(model_dir: Path) -> OfferModel:
    """Load whichever offer model ``reclift offers fit`` published in ``model_dir``."""
    art = resolve_artifact(model_dir, MODEL_NAME if (model_dir / MODEL_NAME).is_dir() else None)
    kind = art.meta.get("model")
    if kind == MonoOfferModel.name:
        return MonoOfferModel.load(art)
    if kind == UniversalOfferModel.name:
        return UniversalOfferModel.load(art)
    raise ReclifError(f"{art.path}: not an offer model (model={kind!r})")


@offers_app.command("score")
def score(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Directory written by fit.")],
    offer: Annotated[str, typer.Option("--offer", help='Offer expression, e.g. brand = "A".')],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    users: Annotated[
        Path | None, typer.Option("--users", help="File with the users to score.")
    ] = None,
    user_col: Annotated[
        str | None, typer.Option("--user-col", help="User column of --users.")
    ] = None,
    top: Annotated[int | None, typer.Option("--top", help="Keep the N best users.")] = None,
) -> None:
    """Score users for one offer and write ``user_id,score`` (best first)."""
    est = load_offer_model(model_dir)
    wanted: list[str] | None = None
    if users is not None:
        mapping = resolve_columns(USER_ROLES, {"user": user_col})
        table = apply_roles(read_table(users), USER_ROLES, mapping, source=str(users))
        wanted = [str(u) for u in table.column("user_id").to_pylist()]
    ids, scores = est.score(offer, users=wanted)
    order = np.lexsort((ids.astype(str), -scores))
    if top is not None:
        if top < 1:
            raise ReclifError(f"--top must be a positive integer, got {top}")
        order = order[:top]
    result = pa.table(
        {
            "user_id": pa.array(ids[order].astype(str).tolist(), type=pa.string()),
            "score": pa.array(scores[order].astype(np.float32)),
        }
    )
    write_table(result, out)
    console.print(f"wrote {result.num_rows:,} scored users to {out}", highlight=False)


embeddings_app = typer.Typer(
    name="embeddings",
    help="Customer-360 vectors (item2vec + profile autoencoder), stored versioned.",
    no_args_is_help=True,
)


@embeddings_app.command("build")
def embeddings_build(
    events: Annotated[Path, typer.Option("--events", help="Events file (CSV/TSV/Parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Artifact store for the vectors.")],
    items: Annotated[
        Path | None, typer.Option("--items", help="Items file with a category column.")
    ] = None,
    user_col: Annotated[str | None, typer.Option("--user-col", help="User id column.")] = None,
    item_col: Annotated[str | None, typer.Option("--item-col", help="Item id column.")] = None,
    time_col: Annotated[str | None, typer.Option("--time-col", help="Timestamp column.")] = None,
    item_dim: Annotated[int, typer.Option("--item-dim", help="item2vec size.")] = 32,
    profile_dim: Annotated[int, typer.Option("--profile-dim", help="Autoencoder code size.")] = 8,
) -> None:
    """Build customer vectors for every user of --events and publish them under --out."""
    from reclift.models.embeddings.customer360 import build_customer_vectors, save_vectors

    over = {"user": user_col, "item": item_col, "time": time_col}
    ev = apply_roles(
        read_table(events),
        EVENT_ROLES,
        resolve_columns(EVENT_ROLES, over),
        source=str(events),
        explicit=[k for k, v in over.items() if v is not None],
    ).to_pandas()
    it = None
    if items is not None:
        it = read_table(items).to_pandas().rename(columns={item_col or "item_id": "item_id"})
    cv = build_customer_vectors(ev, it, item_dim=item_dim, profile_dim=profile_dim)
    art = save_vectors(cv, out)
    console.print(f"built {cv.vectors.shape[0]:,} customer vectors -> {art.path}", highlight=False)


def lookalike(
    vectors: Annotated[Path, typer.Option("--vectors", help="Store written by embeddings build.")],
    seed: Annotated[Path, typer.Option("--seed", help="File with the seed audience's user_id.")],
    k: Annotated[int, typer.Option("--k", help="Number of lookalike users.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    method: Annotated[str, typer.Option("--method", help="ann or pu.")] = "ann",
    user_col: Annotated[
        str | None, typer.Option("--user-col", help="User column of --seed.")
    ] = None,
) -> None:
    """Expand a seed audience to its --k most similar other users (user_id,score)."""
    from reclift.models.audiences.lookalike import expand
    from reclift.models.embeddings.customer360 import load_vectors

    if method not in ("ann", "pu"):
        raise ReclifError(f"--method must be ann or pu, got {method!r}")
    cv = load_vectors(vectors)
    table = apply_roles(
        read_table(seed),
        USER_ROLES,
        resolve_columns(USER_ROLES, {"user": user_col}),
        source=str(seed),
    )
    ids, scores = expand(
        cv.user_ids,
        cv.vectors,
        [str(u) for u in table.column("user_id").to_pylist()],
        k,
        "ann" if method == "ann" else "pu",
    )
    write_table(pa.table({"user_id": ids.tolist(), "score": scores.astype(np.float32)}), out)
    console.print(f"wrote {len(ids):,} lookalike users to {out}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(offers_app)
    app.add_typer(embeddings_app)
    app.command("lookalike")(lookalike)
