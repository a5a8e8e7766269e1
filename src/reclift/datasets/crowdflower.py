"""CrowdFlower search results relevance (Kaggle 2015): queries x products with human relevance.

Download::

    kaggle competitions download -c crowdflower-search-relevance && unzip train.csv.zip

License: Kaggle competition rules (use for the competition and research; no redistribution).

Format: ``train.csv`` with ``id, query, product_title, product_description,
median_relevance (1..4), relevance_variance``; a ``test.csv`` (no relevance) is read too
when present.

Mapping to canonical tables
---------------------------
items
    one row per distinct product text. The data has no product id, so ``item_id`` =
    ``"cf-"`` + the first 16 hex digits of sha1(title + newline + description), stable
    across runs and files. ``title`` = product_title; the description goes to
    ``attributes.description``.
queries
    one row per judged (query, product) pair: ``relevance`` = median_relevance (null in
    test.csv), ``action`` null (a relevance judgment is not a shop interaction), ``user_id``
    and ``session_id`` null. The variance and the row id go nowhere canonical; they are in
    the extra table ``judgments`` (id, query, item_id, median_relevance,
    relevance_variance, file). ``ts``: the data has no times; every row gets
    2015-05-11T00:00:00Z (the competition's launch date), a documented placeholder.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa

from reclift.datasets._base import (
    DatasetInfo,
    LoadResult,
    build_table,
    constant_ts,
    json_strings,
    need_file,
    read_csv,
)

INFO = DatasetInfo(
    name="crowdflower",
    description="CrowdFlower search relevance: product search queries with median relevance 1-4",
    license="Kaggle competition rules",
    folder="crowdflower_search_relevance",
    download="kaggle competitions download -c crowdflower-search-relevance",
    tables=("items", "queries"),
    extras=("judgments",),
    files=("train.csv",),
)

QUERY_TS = datetime(2015, 5, 11, tzinfo=UTC)


def product_id(title: str, description: str) -> str:
    """Stable id of a product text."""
    digest = hashlib.sha1(f"{title}\n{description}".encode(), usedforsecurity=False)
    return "cf-" + digest.hexdigest()[:16]


def load(path: Path, *, include_test: bool = True) -> LoadResult:
    """Load the CrowdFlower relevance judgments.

    Parameters
    ----------
    path
        Folder holding ``train.csv`` (and optionally ``test.csv``).
    include_test
        Also read ``test.csv`` when present (queries without relevance).

    Returns
    -------
    LoadResult
        ``items``, ``queries`` and the extra ``judgments``.
    """
    root = Path(path)
    files = [("train", need_file(root, "train.csv", INFO))]
    if include_test and (root / "test.csv").is_file():
        files.append(("test", root / "test.csv"))
    frames = []
    for label, source in files:
        cols = ["id", "query", "product_title", "product_description"]
        frame = read_csv(source, INFO, cols, dtype=str, keep_default_na=False)
        if "median_relevance" not in frame.columns:
            frame["median_relevance"] = None
        if "relevance_variance" not in frame.columns:
            frame["relevance_variance"] = None
        frame["file"] = label
        frames.append(frame)
    data = pd.concat(frames, ignore_index=True)
    data["item_id"] = [
        product_id(t, d)
        for t, d in zip(data["product_title"], data["product_description"], strict=True)
    ]
    relevance = pd.to_numeric(data["median_relevance"], errors="coerce")
    products = data.drop_duplicates("item_id")
    items = build_table(
        "items",
        {
            "item_id": products["item_id"].to_numpy(),
            "title": products["product_title"].to_numpy(),
            "attributes": json_strings({"description": d} for d in products["product_description"]),
        },
    )
    queries = build_table(
        "queries",
        {
            "query": data["query"].to_numpy(),
            "ts": constant_ts(QUERY_TS, len(data)),
            "item_id": data["item_id"].to_numpy(),
            "relevance": pa.array(relevance.to_numpy(), type=pa.float64(), from_pandas=True),
        },
    )
    judgments = pa.table(
        {
            "id": data["id"].astype(str).to_numpy(),
            "query": data["query"].to_numpy(),
            "item_id": data["item_id"].to_numpy(),
            "median_relevance": pa.array(relevance.to_numpy(), from_pandas=True),
            "relevance_variance": pa.array(
                pd.to_numeric(data["relevance_variance"], errors="coerce").to_numpy(),
                from_pandas=True,
            ),
            "file": data["file"].to_numpy(),
        }
    )
    notes = [
        f"{len(data)} judgments, {data['query'].nunique()} queries, {len(products)} products",
        f"ts = {QUERY_TS.isoformat()} for every row (placeholder; the data has no times)",
    ]
    return LoadResult(
        tables={"items": items, "queries": queries}, extras={"judgments": judgments}, notes=notes
    )
