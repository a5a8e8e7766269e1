"""CLI commands: ``reclift search index|query|similar`` (file mode).

::

    reclift search index --items FILE --id-col C --text-cols a,b --model-dir DIR
        [--category-col C --price-col C --encoder minilm|hashing --index faiss|usearch
         --kind hnsw|exact]
    reclift search query --model-dir DIR --queries FILE --query-col C --k 10 --out FILE
        [--mode hybrid|bm25|dense] [--candidates FILE (query,item_id rows to rerank)]
        [--category C --min-price P --max-price P]
    reclift search similar --model-dir DIR --items FILE --out FILE [-k 10]

``query`` writes ``query, item_id, rank, score``; with ``--candidates`` only those rows are
ordered (per query, unknown item ids last with an empty score).
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
from reclift.models.recs.base import RecFilters
from reclift.models.search.product_search import MODES, ProductSearch

console = Console(stderr=True)

search_app = typer.Typer(
    name="search",
    help="Product search on plain files: BM25, MiniLM vectors and hybrid retrieval.",
    no_args_is_help=True,
)


@search_app.command("index")
def index(
    items: Annotated[Path, typer.Option("--items", help="Items file (CSV/TSV/Parquet).")],
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Output directory.")],
    text_cols: Annotated[
        str, typer.Option("--text-cols", help="Comma-separated text columns, e.g. title,brand.")
    ] = "title",
    id_col: Annotated[str | None, typer.Option("--id-col", help="Item id column.")] = None,
    category_col: Annotated[
        str | None, typer.Option("--category-col", help="Category path column (filters).")
    ] = None,
    price_col: Annotated[
        str | None, typer.Option("--price-col", help="Price column (filters).")
    ] = None,
    encoder: Annotated[
        str, typer.Option("--encoder", help="Text encoder: minilm (offline) or hashing.")
    ] = "minilm",
    index_backend: Annotated[
        str, typer.Option("--index", help="Vector index: faiss or usearch.")
    ] = "faiss",
    kind: Annotated[str, typer.Option("--kind", help="hnsw or exact.")] = "hnsw",
) -> None:
    """Index a catalog's text for search."""
    columns = [c.strip() for c in text_cols.split(",") if c.strip()]
    if not columns:
        raise ReclifError("--text-cols: give at least one column name")
    raw = read_table(items)
    roles = (
        Role("item", "item_id", "id", required=True, nullable=False),
        Role("category", "category", "str"),
        Role("price", "price", "float"),
    )
    over: dict[str, str | None] = {"item": id_col, "category": category_col, "price": price_col}
    mapping = resolve_columns(roles, over)
    explicit = [r for r, c in over.items() if c is not None]
    table = apply_roles(raw, roles, mapping, source=str(items), explicit=explicit)
    text_roles = tuple(Role(f"text {c}", c, "str", required=True) for c in columns)
    texts = apply_roles(raw, text_roles, {r.name: r.column for r in text_roles}, source=str(items))
    for c in columns:
        if c not in table.column_names:
            table = table.append_column(c, texts.column(c))
    model = ProductSearch(
        text_columns=columns, encoder=encoder, index=index_backend, index_kind=kind
    ).fit(table)
    artifact = model.save(model_dir, meta={"file_mode": {"items": str(items), "columns": mapping}})
    console.print(
        f"indexed {table.num_rows:,} items from {items} -> {artifact.path}", highlight=False
    )


def _long(queries: list[str], ids: list[list[Any]], scores: list[np.ndarray]) -> pa.Table:
    q: list[str] = []
    items: list[str] = []
    ranks: list[int] = []
    vals: list[float | None] = []
    for query, row_ids, row_scores in zip(queries, ids, scores, strict=True):
        for r, (item, score) in enumerate(zip(row_ids, row_scores, strict=True)):
            if item is None:
                continue
            q.append(query)
            items.append(str(item))
            ranks.append(r + 1)
            vals.append(None if np.isnan(score) else float(score))
    return pa.table(
        {
            "query": pa.array(q, pa.string()),
            "item_id": pa.array(items, pa.string()),
            "rank": pa.array(ranks, pa.int32()),
            "score": pa.array(vals, pa.float32()),
        }
    )


@search_app.command("query")
def query(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Directory written by index.")],
    queries: Annotated[Path, typer.Option("--queries", help="File with a query column.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    query_col: Annotated[str | None, typer.Option("--query-col", help="Query column.")] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="Results per query.")] = 10,
    mode: Annotated[str, typer.Option("--mode", help="hybrid, bm25 or dense.")] = "hybrid",
    candidates: Annotated[
        Path | None,
        typer.Option("--candidates", help="File of query,item_id rows: rerank only these."),
    ] = None,
    category: Annotated[str | None, typer.Option("--category")] = None,
    min_price: Annotated[float | None, typer.Option("--min-price")] = None,
    max_price: Annotated[float | None, typer.Option("--max-price")] = None,
) -> None:
    """Search (or rerank candidates) for every query; writes query,item_id,rank,score."""
    if mode not in MODES:
        raise ReclifError(f"--mode must be one of {list(MODES)}, got {mode!r}")
    model = ProductSearch.load(model_dir)
    role = (Role("query", "query", "str", required=True, nullable=False),)
    table = apply_roles(
        read_table(queries), role, resolve_columns(role, {"query": query_col}), source=str(queries)
    )
    qs = [str(v) for v in table.column("query").to_pylist()]
    if candidates is not None:
        cand_roles = (
            Role("query", "query", "str", required=True, nullable=False),
            Role("item", "item_id", "id", required=True, nullable=False),
        )
        cand = apply_roles(
            read_table(candidates),
            cand_roles,
            resolve_columns(cand_roles, {"query": query_col}),
            source=str(candidates),
        )
        per: dict[str, list[str]] = {}
        for qv, item in zip(
            cand.column("query").to_pylist(), cand.column("item_id").to_pylist(), strict=True
        ):
            per.setdefault(str(qv), []).append(str(item))
        unique = list(dict.fromkeys(qs))
        ids, scores = model.rerank(unique, [per.get(q, []) for q in unique], mode=mode)
        result = _long(unique, [row[:k] for row in ids], [s[:k] for s in scores])
    else:
        filters = RecFilters.coerce(
            {"category": category, "min_price": min_price, "max_price": max_price}
        )
        arr_ids, arr_scores = model.search(qs, k, mode=mode, filters=filters)
        result = _long(qs, [list(r) for r in arr_ids], list(arr_scores))
    write_table(result, out)
    console.print(f"wrote {result.num_rows:,} rows for {len(qs):,} queries to {out}")


@search_app.command("similar")
def similar(
    model_dir: Annotated[Path, typer.Option("--model-dir", help="Directory written by index.")],
    items: Annotated[Path, typer.Option("--items", help="File with an item_id column.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.csv or .parquet).")],
    k: Annotated[int, typer.Option("-k", "--k", help="Similar items per item.")] = 10,
    id_col: Annotated[str | None, typer.Option("--id-col", help="Item id column.")] = None,
) -> None:
    """Items with the closest text vectors: source_item_id, item_id, rank, score."""
    model = ProductSearch.load(model_dir)
    role = (Role("item", "item_id", "id", required=True, nullable=False),)
    table = apply_roles(
        read_table(items), role, resolve_columns(role, {"item": id_col}), source=str(items)
    )
    ids_in = [str(v) for v in table.column("item_id").to_pylist()]
    ids, scores = model.similar_items(ids_in, k)
    result = _long(ids_in, [list(r) for r in ids], list(scores)).rename_columns(
        ["source_item_id", "item_id", "rank", "score"]
    )
    write_table(result, out)
    console.print(f"wrote {result.num_rows:,} rows to {out}")


def register(app: typer.Typer) -> None:
    """Add ``search`` to ``app``."""
    app.add_typer(search_app, name="search")
