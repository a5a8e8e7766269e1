"""One workspace, trained for every family, served by one app: every capability answers.

The oracle for each model-backed answer is the artifact store itself: the version in the
answer's ``model`` field must be the version ``CURRENT`` points to, so the answer came from
the model the trainer published, not from a fallback or a stale load.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient

from reclift.jobs.train import TrainResult, train_workspace
from reclift.jobs.training import FAMILIES
from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings
from reclift.workspace.store import Workspace

pytestmark = pytest.mark.slow
KEY = {"X-API-Key": "every-capability"}


@pytest.fixture(scope="module")
def trained(
    sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, TrainResult]:
    root = tmp_path_factory.mktemp("every-capability") / "ws"
    shutil.copytree(sim_workspace, root)
    return root, train_workspace(Workspace.open(root))


@pytest.fixture(scope="module")
def client(trained: tuple[Path, TrainResult]) -> Iterator[TestClient]:
    root, _ = trained
    settings = ServiceSettings(workspace=root, api_keys="every-capability")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def shop(trained: tuple[Path, TrainResult]) -> dict[str, Any]:
    ws = Workspace.open(trained[0])
    events = ws.read_table("events", columns=["user_id", "item_id", "event_type"])
    orders = events.filter(pc.equal(events.column("event_type"), "order"))
    items = ws.read_table("items", columns=["item_id", "title"])
    return {
        "user": orders.column("user_id")[0].as_py(),
        "users": list(dict.fromkeys(orders.column("user_id").to_pylist()))[:20],
        "item": orders.column("item_id")[0].as_py(),
        "title_word": str(items.column("title")[0].as_py()).split()[0],
    }


def current(root: Path, name: str) -> str:
    return Workspace.open(root).artifacts.load(name).version


def test_every_family_trains_on_the_simulated_shop(trained: tuple[Path, TrainResult]) -> None:
    root, result = trained
    assert result.skipped == {}
    families = {
        Workspace.open(root).artifacts.load(n).meta.get("family")
        for n in Workspace.open(root).artifacts.names()
    }
    assert set(FAMILIES) <= families


def test_every_measured_artifact_names_its_primary_metric(
    trained: tuple[Path, TrainResult],
) -> None:
    store = Workspace.open(trained[0]).artifacts
    for name in store.names():
        meta = store.load(name).meta
        if meta.get("metrics"):
            assert meta.get("primary_metric") in meta["metrics"], name


def answered_by(resp: Any, root: Path, name: str) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert body["model"]["name"] == name
    assert body["model"]["version"] == current(root, name)
    return body


def test_recommendations(
    client: TestClient, trained: tuple[Path, TrainResult], shop: dict[str, Any]
) -> None:
    root = trained[0]
    body = answered_by(client.get("/v1/recommend/popular", params={"k": 5}), root, "popular")
    assert len(body["items"]) == 5
    resp = client.post(
        "/v1/recommend/users", json={"users": shop["users"], "k": 5, "model": "itemknn"}
    )
    body = answered_by(resp, root, "itemknn")
    assert [r["user_id"] for r in body["results"]] == shop["users"]
    item = shop["item"]
    answered_by(
        client.get(f"/v1/items/{item}/similar", params={"model": "itemknn"}), root, "itemknn"
    )
    answered_by(client.get(f"/v1/items/{item}/bought-together"), root, "copurchase")


def test_search(
    client: TestClient, trained: tuple[Path, TrainResult], shop: dict[str, Any]
) -> None:
    (name,) = [
        n
        for n in Workspace.open(trained[0]).artifacts.names()
        if Workspace.open(trained[0]).artifacts.load(n).meta.get("family") == "search"
    ]
    body = answered_by(client.get("/v1/search", params={"q": shop["title_word"]}), trained[0], name)
    assert body["items"]


def test_sessions(
    client: TestClient, trained: tuple[Path, TrainResult], shop: dict[str, Any]
) -> None:
    events = [{"item_id": shop["item"], "event_type": "click"}]
    body = client.post("/v1/recommend/session", json={"events": events, "k": 10}).json()
    assert body["model"]["version"] == current(trained[0], body["model"]["name"])
    assert set(body["items"]) >= {"clicks"} and body["items"]["clicks"]
    resp = client.post("/v1/recommend/related", json={"item_ids": [shop["item"]], "k": 5})
    assert resp.status_code == 200 and resp.json()["items"]


def test_targeting(
    client: TestClient, trained: tuple[Path, TrainResult], shop: dict[str, Any]
) -> None:
    resp = client.post("/v1/targeting/uplift", json={"users": shop["users"]})
    body = answered_by(resp, trained[0], "uplift")
    assert len(body["results"]) + len(body["unknown_users"]) == len(shop["users"])
    audience = {"size": 10, "cost_per_contact": 0.01, "value_per_conversion": 50.0}
    answered_by(client.post("/v1/targeting/audience", json=audience), trained[0], "uplift")


def test_offers_and_lookalikes(
    client: TestClient, trained: tuple[Path, TrainResult], shop: dict[str, Any]
) -> None:
    store = Workspace.open(trained[0]).artifacts
    by_family = {store.load(n).meta.get("family"): n for n in store.names()}
    resp = client.post("/v1/offers/score", json={"offer": "price < 1000", "top": 5})
    body = answered_by(resp, trained[0], by_family["offers"])
    assert len(body["users"]) == 5
    resp = client.post("/v1/audiences/lookalike", json={"seed_users": shop["users"], "size": 10})
    body = answered_by(resp, trained[0], by_family["embeddings"])
    assert not {u["user_id"] for u in body["users"]} & set(shop["users"])


def test_keywords_and_experiments(
    client: TestClient, trained: tuple[Path, TrainResult], shop: dict[str, Any]
) -> None:
    resp = client.post(
        "/v1/keywords/suggest", json={"products": [{"item_id": shop["item"]}], "k": 5}
    )
    body = answered_by(resp, trained[0], "keywords")
    assert body["results"][0]["keywords"]
    design = {"metric": "proportion", "baseline": 0.05, "mde": 0.01, "relative": False}
    resp = client.post("/v1/experiments/design", json=design)
    assert resp.status_code == 200 and resp.json()["design"]["n_control"] > 0


def test_banners_learn_online(client: TestClient) -> None:
    spec = {"arms": ["b1", "b2", "b3"], "policy": "thompson"}
    assert client.put("/v1/admin/banners/home", json=spec, headers=KEY).status_code in (200, 201)
    for _ in range(20):
        choice = client.post("/v1/banners/choose", json={"campaign": "home"}).json()
        reward = 1.0 if choice["banners"][0]["banner_id"] == "b2" else 0.0
        fb = {"campaign": "home", "decision_id": choice["decision_id"], "reward": reward}
        assert client.post("/v1/banners/feedback", json=fb).status_code == 401
        assert client.post("/v1/banners/feedback", json=fb, headers=KEY).status_code == 200
    stats = client.get("/v1/banners/home/stats").json()
    assert stats["feedback"] == 20 == sum(a["pulls"] for a in stats["arms"])


def test_dashboard_shows_every_published_model(
    client: TestClient, trained: tuple[Path, TrainResult]
) -> None:
    resp = client.get("/dashboard")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    for name in Workspace.open(trained[0]).artifacts.names():
        assert name in resp.text
    assert "<svg" in resp.text
