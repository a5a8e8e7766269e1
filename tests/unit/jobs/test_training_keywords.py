"""Workspace training of the keywords family: publishes a suggester whose holdout metrics beat
the popular-queries baseline and which the service answers from; skips with a reason the
user can act on when the query log is missing or holds no clicks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from reclift.jobs.training import SkipFamily, TrainContext, get_trainer
from reclift.models.keywords.suggest import KeywordSuggester
from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace


@pytest.fixture(scope="module")
def trained(sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("kw-train") / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    versions = get_trainer("keywords")(TrainContext(ws=ws))
    assert list(versions) == ["keywords"]
    assert ws.artifacts.load("keywords").version == versions["keywords"]
    return root


def test_holdout_metrics_beat_popular_queries(trained: Path) -> None:
    meta = Workspace.open(trained).artifacts.load("keywords").meta
    m = meta["metrics"]
    assert set(m) >= {"recall@10", "ndcg@10", "popular_recall@10", "vocabulary_coverage"}
    assert all(0.0 <= v <= 1.0 for v in m.values())
    # queries that led to clicks after the cut are suggested far more often than the
    # shop-wide most popular queries would be
    assert m["recall@10"] > m["popular_recall@10"] + 0.3
    assert m["ndcg@10"] > m["popular_ndcg@10"] + 0.2
    curve = meta["curves"]["recall_at_k"]
    assert curve["x"] == list(range(1, 21))
    assert curve["y"] == sorted(curve["y"])  # recall cannot drop as k grows
    assert curve["y"][9] == pytest.approx(m["recall@10"])
    hold = meta["holdout"]
    assert 0 < hold["test_products"] <= 300 and hold["train_rows"] > 0
    # the published model learnt from clicks and explains its ranking
    assert meta["retrievers"] == ["dense", "bm25", "collaborative"]


def test_service_answers_from_the_trained_model(trained: Path) -> None:
    ws = Workspace.open(trained)
    model = KeywordSuggester.load(ws.artifacts.load("keywords"))
    assert model.ranker_ is not None and model.catalog_ is not None
    items = model.catalog_.slice(0, 3)
    with TestClient(create_app(ServiceSettings(workspace=trained, api_keys="k"))) as client:
        resp = client.post(
            "/v1/keywords/suggest",
            json={
                "products": [{"item_id": i} for i in items.column("item_id").to_pylist()],
                "k": 5,
            },
        )
    assert resp.status_code == 200, resp.text
    direct = model.suggest(items, 5).to_pylist()
    for result in resp.json()["results"]:
        want = [r for r in direct if r["item_id"] == result["item_id"]]
        assert [k["keyword"] for k in result["keywords"]] == [r["keyword"] for r in want]
        assert [k["score"] for k in result["keywords"]] == pytest.approx(
            [r["score"] for r in want], abs=1e-6
        )
        assert all(k["reasons"] for k in result["keywords"])


def _workspace(tmp_path: Path, sim_shop: Path, queries: pa.Table | None) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    ingest(ws, "items", sim_shop / "items.parquet", progress=False)
    if queries is not None:
        path = tmp_path / "queries.parquet"
        pq.write_table(queries, path)
        ingest(ws, "queries", path, progress=False)
    return ws


def test_skips_without_a_query_log(tmp_path: Path, sim_shop: Path) -> None:
    ws = _workspace(tmp_path, sim_shop, None)
    with pytest.raises(SkipFamily, match=r"^no query log: ingest a 'queries' table"):
        get_trainer("keywords")(TrainContext(ws=ws))


def test_skips_when_the_log_has_only_impressions(tmp_path: Path, sim_shop: Path) -> None:
    log = pq.read_table(sim_shop / "queries.parquet")
    shown = log.filter(pc.equal(log.column("action"), "impression"))
    assert shown.num_rows > 0
    ws = _workspace(tmp_path, sim_shop, shown)
    with pytest.raises(
        SkipFamily,
        match=rf"^the query log \({shown.num_rows:,} rows\) has no click or order on a product",
    ):
        get_trainer("keywords")(TrainContext(ws=ws))


def test_skips_when_clicks_name_no_catalog_item(tmp_path: Path, sim_shop: Path) -> None:
    log = pq.read_table(sim_shop / "queries.parquet")
    clicks = log.filter(pc.equal(log.column("action"), "click")).slice(0, 50)
    foreign = clicks.set_column(
        clicks.schema.get_field_index("item_id"),
        "item_id",
        pa.array([f"other-{i}" for i in range(clicks.num_rows)], pa.string()),
    )
    ws = _workspace(tmp_path, sim_shop, foreign)
    with pytest.raises(SkipFamily, match=r"^no query click or order is on a catalog item"):
        get_trainer("keywords")(TrainContext(ws=ws))


def test_demo_section_ends_with_the_ab_test_report(trained: Path, sim_shop: Path) -> None:
    from reclift.evaluation.report import HtmlReport
    from reclift.jobs.sections.keywords import add_section

    # the simulator plants sellers' own keywords well below the best candidates: a test of
    # suggested keywords must find a large lift and launch
    truth = pq.read_table(sim_shop / "truth" / "campaign_keywords.parquet").to_pandas()
    rate = truth.groupby("campaign_id").true_orders_per_impression
    own = truth[truth.chosen].groupby("campaign_id").true_orders_per_impression.mean().mean()
    assert rate.max().mean() > 2 * own
    rep = HtmlReport("demo")
    add_section(rep, Workspace.open(trained), data_dir=sim_shop)
    html = rep.render()
    # the trained query-log model's holdout quality, the design, the power curve, the verdict
    assert "query-log model recall@10" in html
    assert "campaigns per arm for a 20% lift" in html
    assert "Power curve of the keyword A/B test" in html
    assert ">GO<" in html
    assert "is significantly better" in html
    assert "no sample-ratio mismatch" in html
