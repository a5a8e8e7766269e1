"""Workspace training of the search family: what it publishes, metrics recomputed from the
query log, relevance against the simulator's graded truth, the encoder choice, and skips."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from reclift.evaluation.ranking import ranking_scores
from reclift.jobs.training import SkipFamily, TrainContext
from reclift.jobs.training.search import (
    DEFAULT_EVAL_QUERIES,
    NOMINAL_MINILM_RATE,
    choose_encoder,
    clicked_queries,
    train,
)
from reclift.models.search.product_search import NAME, ProductSearch
from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace

OPTIONS = {"search_encoder": "hashing"}  # no model weights: the test stays fast


@pytest.fixture(scope="module")
def trained(
    sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Workspace, dict[str, str], list[str]]:
    root = tmp_path_factory.mktemp("search-train") / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    said: list[str] = []
    versions = train(TrainContext(ws=ws, say=said.append, options=OPTIONS))
    return ws, versions, said


def _meta(ws: Workspace) -> dict[str, Any]:
    return dict(ws.artifacts.load(NAME).meta)


def test_publishes_product_search_with_metrics(
    trained: tuple[Workspace, dict[str, str], list[str]],
) -> None:
    ws, versions, said = trained
    assert list(versions) == [NAME]
    assert ws.artifacts.current_version(NAME) == versions[NAME]
    meta = _meta(ws)
    assert meta["family"] == "search" and meta["params"]["encoder"] == "hashing"
    assert meta["params"]["text_columns"] == ["title", "brand", "category"]
    assert meta["params"]["index_kind"] == "exact"
    assert meta["encoder_choice"] == "hashing requested (search_encoder)"
    metrics = meta["metrics"]
    assert metrics["queries"] == DEFAULT_EVAL_QUERIES
    for mode in ("", "_bm25", "_dense"):
        assert 0.0 <= metrics[f"ndcg@10{mode}"] <= 1.0
    assert any("search: encoder hashing" in line for line in said)
    assert any(f"published version {versions[NAME]}" in line for line in said)


def test_metrics_recomputed_from_the_query_log(
    trained: tuple[Workspace, dict[str, str], list[str]],
) -> None:
    ws, _, _ = trained
    model = ProductSearch.load(ws.artifacts, NAME)
    items = ws.read_table("items", ["item_id"])
    relevant = clicked_queries(
        ws.read_table("queries", ["query", "item_id", "action"]),
        set(items.column("item_id").to_pylist()),
        DEFAULT_EVAL_QUERIES,
    )
    qs = sorted(relevant)
    ids, _ = model.search(qs, 10, mode="bm25")
    direct = ranking_scores(dict(zip(qs, ids.tolist(), strict=True)), relevant, 10)
    metrics = _meta(ws)["metrics"]
    assert math.isclose(metrics["ndcg@10_bm25"], direct.ndcg)
    assert math.isclose(metrics["recall@10_bm25"], direct.recall)


def test_results_are_relevant_by_the_simulators_truth(
    trained: tuple[Workspace, dict[str, str], list[str]], sim_shop: Path
) -> None:
    # truth/query_relevance grades (query intent, item) pairs 1-3; unlisted pairs are 0
    ws, _, _ = trained
    model = ProductSearch.load(ws.artifacts, NAME)
    grades: dict[tuple[str, str], int] = {
        (r["canonical"], r["item_id"]): r["relevance"]
        for r in pq.read_table(sim_shop / "truth" / "query_relevance.parquet").to_pylist()
    }
    canon = sorted({c for c, _ in grades})[:80]
    ids, _ = model.search(canon, 10)
    found = np.mean(
        [[grades.get((q, i), 0) for i in row] for q, row in zip(canon, ids.tolist(), strict=True)]
    )
    catalog = ws.read_table("items", ["item_id"]).column("item_id").to_pylist()
    rng = np.random.default_rng(0)
    chance = np.mean([grades.get((q, str(i)), 0) for q in canon for i in rng.choice(catalog, 10)])
    assert found > 1.5  # on average the top 10 are at least in the right subcategory
    assert found > 10 * chance


def test_choose_encoder_respects_the_budget() -> None:
    texts = ["red shoe"] * 5_000
    name, why = choose_encoder(texts, "auto", budget_s=1.0)
    # 5,000 / 700 texts/s > 1 s: decided without loading MiniLM
    assert name == "hashing"
    assert f"at {NOMINAL_MINILM_RATE} texts/s > budget 1 s" in why
    assert choose_encoder(texts, "minilm", 1.0)[0] == "minilm"
    with pytest.raises(SkipFamily, match="search_encoder must be auto, minilm or hashing"):
        choose_encoder(texts, "word2vec", 1.0)


def test_without_clicked_queries_publishes_without_metrics(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    path = tmp_path / "items.parquet"
    pq.write_table(
        pa.table(
            {
                "item_id": ["a", "b"],
                "title": ["red shoe", "blue hat"],
                "category": ["shoes", "hats"],
                "price": [10.0, 20.0],
            }
        ),
        path,
    )
    ingest(ws, "items", path, progress=False)
    said: list[str] = []
    versions = train(TrainContext(ws=ws, say=said.append, options=OPTIONS))
    meta = ws.artifacts.load(NAME).meta
    assert list(versions) == [NAME]
    assert "metrics" not in meta
    assert meta["params"]["text_columns"] == ["title", "category"]  # brand has no values
    assert any("no queries with clicks" in line for line in said)
    ids, _ = ProductSearch.load(ws.artifacts, NAME).search(["shoe"], 1, mode="bm25")
    assert ids[0, 0] == "a"


def test_empty_workspace_skips(tmp_path: Path) -> None:
    with pytest.raises(SkipFamily, match="no items"):
        train(TrainContext(ws=Workspace.init(tmp_path / "ws"), options=OPTIONS))


def test_service_answers_from_the_trained_workspace(
    trained: tuple[Workspace, dict[str, str], list[str]],
) -> None:
    ws, versions, _ = trained
    model = ProductSearch.load(ws.artifacts, NAME)
    with TestClient(create_app(ServiceSettings(workspace=ws.root))) as client:
        body = client.get("/v1/search", params={"q": "usb-c charger", "k": 5}).json()
    assert body["model"] == {"name": NAME, "version": versions[NAME]}
    ids, _ = model.search(["usb-c charger"], 5)
    assert [i["item_id"] for i in body["items"]] == [i for i in ids[0].tolist() if i]
