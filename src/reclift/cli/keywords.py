"""CLI commands: ``reclift keywords fit|suggest`` (file mode).

::

    reclift keywords fit --products FILE [--id-col item_id] [--text-cols title,category] \
        (--query-log FILE [--query-col query] [--item-col item_id] [--action-col action]
         | --keywords FILE [--keyword-col keyword]) --model-dir DIR \
        [--encoder minilm|hashing] [--ranker xgb|lr|nn|none] [--retrievers dense,bm25,...]
    reclift keywords suggest --model-dir DIR --products FILE [--k 20] [--candidates FILE] \
        --out FILE [--explain]

A query log row is evidence that the query led to the product: actions ``click`` weigh 1 and
``order`` 4, ``impression`` 0 (shown is not chosen); without ``--action-col`` every row weighs
1. The output has ``item_id, keyword, rank, score`` (plus ``reasons``, the ranker's top SHAP
contributions as JSON, with ``--explain``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import pyarrow as pa
import typer
from rich.console import Console

from reclift.errors import ReclifError
from reclift.io import read_table, write_table
from reclift.models.keywords.base import product_texts
from reclift.models.keywords.suggest import KeywordSuggester

console = Console(stderr=True)

ACTION_WEIGHTS: dict[str, float] = {"impression": 0.0, "click": 1.0, "order": 4.0}

keywords_app = typer.Typer(
    name="keywords",
    help="Seller keyword suggestions on plain files (fit on products + a query log, suggest).",
    no_args_is_help=True,
)


def _need(table: pa.Table, col: str, source: Path, option: str) -> None:
    if col not in table.column_names:
        raise ReclifError(
            f"{source}: no column {col!r} (columns: {', '.join(table.column_names)}); set {option}"
        )


def _split(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


@keywords_app.command("fit")
def fit(
    products: Annotated[Path, typer.Option("--products", help="Products file.")],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Output artifact store.")],
    id_col: Annotated[str, typer.Option("--id-col", help="Product id column.")] = "item_id",
    text_cols: Annotated[
        str, typer.Option("--text-cols", help="Comma-separated text columns.")
    ] = "title",
    query_log: Annotated[
        Path | None, typer.Option("--query-log", help="Query -> product log.")
    ] = None,
    query_col: Annotated[str, typer.Option("--query-col", help="Query column.")] = "query",
    item_col: Annotated[
        str, typer.Option("--item-col", help="Product id column of the log.")
    ] = "item_id",
    action_col: Annotated[
        str | None, typer.Option("--action-col", help="impression/click/order column.")
    ] = None,
    keywords: Annotated[
        Path | None, typer.Option("--keywords", help="Keyword list (no log).")
    ] = None,
    keyword_col: Annotated[str, typer.Option("--keyword-col", help="Keyword column.")] = "keyword",
    encoder: Annotated[str, typer.Option("--encoder", help="minilm or hashing.")] = "minilm",
    ranker: Annotated[str, typer.Option("--ranker", help="xgb, lr, nn or none.")] = "xgb",
    retrievers: Annotated[
        str, typer.Option("--retrievers", help="dense,bm25,collaborative,twotower")
    ] = "dense,bm25,collaborative",
) -> None:
    """Fit a keyword suggester and publish it under --model-dir."""
    if (query_log is None) == (keywords is None):
        raise ReclifError("give exactly one of --query-log FILE or --keywords FILE")
    cols = _split(text_cols)
    prods_raw = read_table(products)
    prods = product_texts(prods_raw, id_col=id_col, text_cols=cols, source=str(products))
    inter: pa.Table | None = None
    vocab: list[str] | None = None
    if query_log is not None:
        log = read_table(query_log)
        _need(log, query_col, query_log, "--query-col")
        _need(log, item_col, query_log, "--item-col")
        if action_col is not None:
            _need(log, action_col, query_log, "--action-col")
            actions = log.column(action_col).cast(pa.string()).to_pylist()
            bad = next((i for i, a in enumerate(actions) if a not in ACTION_WEIGHTS), None)
            if bad is not None:
                raise ReclifError(
                    f"{query_log}: column {action_col!r}, row {bad}: {actions[bad]!r} is not one "
                    f"of {list(ACTION_WEIGHTS)}"
                )
            weight = np.asarray([ACTION_WEIGHTS[a] for a in actions])
        else:
            weight = np.ones(log.num_rows)
        q = log.column(query_col).cast(pa.string()).to_pylist()
        items = log.column(item_col).cast(pa.string()).to_pylist()
        keep = [i for i, (a, b) in enumerate(zip(q, items, strict=True)) if a and b]
        if not keep:
            raise ReclifError(f"{query_log}: no row has both a query and an item id")
        inter = pa.table(
            {
                "keyword": [q[i] for i in keep],
                "item_id": [items[i] for i in keep],
                "weight": weight[keep],
            }
        )
        if float(inter.column("weight").to_numpy().sum()) == 0:
            raise ReclifError(f"{query_log}: only impressions; no click or order to learn from")
    else:
        assert keywords is not None
        kw_table = read_table(keywords)
        _need(kw_table, keyword_col, keywords, "--keyword-col")
        vocab = [k for k in kw_table.column(keyword_col).cast(pa.string()).to_pylist() if k]
        if not vocab:
            raise ReclifError(f"{keywords}: column {keyword_col!r} holds no keyword")
        vocab = list(dict.fromkeys(vocab))
    sugg = KeywordSuggester(
        _split(retrievers), encoder=encoder, ranker=None if ranker == "none" else ranker
    ).fit(prods, vocab, inter)
    art = sugg.save(
        model_dir,
        meta={"file_mode": {"products": str(products), "id_col": id_col, "text_cols": cols}},
    )
    notes = f" ({'; '.join(sugg.notes_)})" if sugg.notes_ else ""
    console.print(
        f"fitted keywords model on {prods.num_rows:,} products, {len(sugg.keywords_):,} "
        f"keywords, retrievers {', '.join(sugg.retriever_names_)}, ranker "
        f"{sugg.ranker if sugg.ranker_ is not None else 'none (fusion)'}{notes} -> {art.path}",
        highlight=False,
    )


@keywords_app.command("suggest")
def suggest(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Model written by fit.")],
    products: Annotated[Path, typer.Option("--products", help="Products file.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    k: Annotated[int, typer.Option("--k", "-k", help="Keywords per product.")] = 20,
    id_col: Annotated[
        str | None, typer.Option("--id-col", help="Product id column (default: as at fit).")
    ] = None,
    text_cols: Annotated[
        str | None, typer.Option("--text-cols", help="Text columns (default: as at fit).")
    ] = None,
    candidates: Annotated[
        Path | None,
        typer.Option("--candidates", help="item_id,keyword file: rank only these."),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add the ranker's reasons column.")
    ] = False,
) -> None:
    """Suggest keywords for products with a fitted model."""
    from reclift.models.persist import resolve_artifact

    if k <= 0:
        raise ReclifError(f"--k must be a positive integer, got {k}")
    art = resolve_artifact(model_dir)
    sugg = KeywordSuggester.load(art)
    fm = dict(art.meta.get("file_mode") or {})
    idc = id_col or str(fm.get("id_col", "item_id"))
    cols = _split(text_cols) if text_cols else list(fm.get("text_cols", ["title"]))
    prods = product_texts(read_table(products), id_col=idc, text_cols=cols, source=str(products))
    cand = None
    if candidates is not None:
        cand = read_table(candidates)
        _need(cand, "keyword", candidates, "a 'keyword' column")
        if "item_id" not in cand.column_names and idc in cand.column_names:
            cand = cand.rename_columns(["item_id" if c == idc else c for c in cand.column_names])
        _need(cand, "item_id", candidates, "an 'item_id' column")
    table = sugg.suggest(prods, k, candidates=cand, explain=explain)
    if not explain:
        table = table.drop_columns(["reasons"])
    write_table(table, out)
    console.print(
        f"{table.num_rows:,} suggestions for {prods.num_rows:,} products -> {out}",
        highlight=False,
    )


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(keywords_app)
