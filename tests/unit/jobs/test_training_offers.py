"""Workspace training of the embeddings and offers families on the simulated shop.

Oracles: the published artifacts load and answer like the trainer's own objects; the offer
model's holdout AUC beats chance on purchase-intent offers; the customer vectors' holdout
lookalike recall beats random users; a workspace without items or carts/orders is skipped
with a reason the user can act on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from reclift.jobs.training import SkipFamily, TrainContext, get_trainer
from reclift.models.embeddings.customer360 import load_vectors
from reclift.models.offers.universal import UniversalOfferModel
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace

OPTIONS = {"offers_epochs": 6}


@pytest.fixture(scope="module")
def trained(sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("offers-train") / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    ctx = TrainContext(ws=ws, options=OPTIONS)
    assert set(get_trainer("embeddings")(ctx)) == {"customer360"}
    assert set(get_trainer("offers")(ctx)) == {"offers"}
    return ws


def test_customer_vectors_cover_every_user_and_beat_random(trained: Workspace) -> None:
    art = trained.artifacts.load("customer360")
    cv = load_vectors(art)
    users = set(trained.read_table("events").column("user_id").to_pylist())
    assert set(cv.user_ids.tolist()) == users
    assert cv.vectors.shape == (len(users), 40)
    # each block is unit length (or empty for a user without item2vec items)
    for start, stop in cv.blocks.values():
        norms = np.linalg.norm(cv.vectors[:, start:stop], axis=1)
        assert np.all((np.abs(norms - 1) < 1e-4) | (norms == 0))
    metrics = art.meta["metrics"]
    assert metrics["holdout_audiences"] >= 3
    curves = art.meta["curves"]
    assert set(curves) == {"lookalike recall (ann)", "lookalike recall (random)"}
    ann, rnd = curves["lookalike recall (ann)"]["y"], curves["lookalike recall (random)"]["y"]
    assert curves["lookalike recall (ann)"]["x"] == [1.0, 2.0, 5.0, 10.0, 20.0]
    # future department buyers of a 2,400-user shop are a weak audience (the taste-segment
    # oracle in tests/serving/test_offers_api.py is the strong one): ahead of random overall
    assert sum(ann) > 1.1 * sum(rnd)
    assert ann[-1] > rnd[-1]
    assert ann == sorted(ann)
    assert (metrics["lookalike_recall_at_5pct"], metrics["random_recall_at_5pct"]) == (
        ann[2],
        rnd[2],
    )


def test_offer_model_scores_every_user_and_beats_chance(trained: Workspace) -> None:
    art = trained.artifacts.load("offers")
    model = UniversalOfferModel.load(art)
    users = set(trained.read_table("events").column("user_id").to_pylist())
    # fitted before the holdout cut, but scores every user on all of their events
    assert set(model.user_ids_.tolist()) == users
    ids, scores = model.score('department = "Books" AND price < 30')
    assert len(ids) == len(users) and np.isfinite(scores).all()
    metrics = art.meta["metrics"]
    assert metrics["holdout_offers"] >= 8
    # a small shop: the network sees clicks as targets too and still beats chance
    assert art.meta["target_types"] == ["click", "cart", "order"]
    assert metrics["wauc_all"] > 0.53
    assert metrics["baseline_wauc_all"] > 0.55
    assert 0 < metrics["fit_seconds"] < 60
    types = {row["type"] for row in art.meta["holdout"]}
    assert {"department", "department AND price"} <= types


def test_workspace_without_items_or_orders_is_skipped(sim_shop: Path, tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ingest(ws, "events", sim_shop / "events.parquet", progress=False)
    ctx = TrainContext(ws=ws, options=OPTIONS)
    with pytest.raises(SkipFamily, match="no items table: offers are written over item"):
        get_trainer("offers")(ctx)
    ingest(ws, "items", sim_shop / "items.parquet", progress=False)
    views = tmp_path / "views.parquet"
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    events = pq.read_table(sim_shop / "events.parquet")
    pq.write_table(events.filter(pc.equal(events["event_type"], "view")), views)
    ws2 = Workspace.init(tmp_path / "ws2")
    ingest(ws2, "events", views, progress=False)
    ingest(ws2, "items", sim_shop / "items.parquet", progress=False)
    with pytest.raises(SkipFamily, match="no click, cart or order events"):
        get_trainer("offers")(TrainContext(ws=ws2, options=OPTIONS))


def test_report_section_compares_universal_mono_and_baseline(trained: Workspace) -> None:
    from reclift.evaluation.report import HtmlReport
    from reclift.jobs.sections.offers import BENCHMARKS, add_section

    rep = HtmlReport("t")
    add_section(rep, trained, data_dir=None)
    html = rep.render()
    assert "Offer targeting and lookalike audiences" in html
    # the published model's holdout numbers, then the lookalike curve, then the comparison
    metrics = trained.artifacts.load("offers").meta["metrics"]
    kpi = html.split('data-kpi="published model: holdout wAUC"><b>')[1].split("</b>")[0]
    assert float(kpi) == pytest.approx(metrics["wauc_all"], abs=1e-3)
    assert html.count("<svg") == 1
    table = html[html.index("<table>") : html.index("</table>")]
    for header in ("wAUC universal", "wAUC MONO-department", "wAUC history share"):
        assert header in table
    rows = table.split("<tr>")[2:]
    assert {r.split("</td>")[0].removeprefix("<td>") for r in rows} == {
        "brand",
        "department",
        "department AND price",
        "subcategory",
    }
    department = next(r for r in rows if r.startswith("<td>department</td>"))
    # MONO-department answers department offers: a number, not n/a
    assert "n/a" not in department
    for path in BENCHMARKS:
        assert path in html
