"""Offer scoring and lookalike routes over a workspace trained on the simulated shop.

Oracles: every answer equals a direct call of the published model (offer scores, lookalike
expansion); a seed drawn from the users whose true taste (simulator truth) prefers one
department expands into users of that department more often than their base rate, for
every department, and over twice as often on average; bad inputs are pinned to status, code
and message.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from reclift.jobs.training import TrainContext, get_trainer
from reclift.models.audiences.lookalike import expand
from reclift.models.embeddings.customer360 import load_vectors
from reclift.models.offers.universal import UniversalOfferModel
from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings
from reclift.workspace.store import Workspace

OFFER = 'department = "Books" AND price < 30'


@pytest.fixture(scope="module")
def workspace(sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("offers-api") / "ws"
    shutil.copytree(sim_workspace, root)
    ctx = TrainContext(ws=Workspace.open(root), options={"offers_epochs": 1})
    get_trainer("embeddings")(ctx)
    get_trainer("offers")(ctx)
    return root


@pytest.fixture(scope="module")
def client(workspace: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(workspace=workspace, api_keys="k"))) as c:
        yield c


@pytest.fixture(scope="module")
def offer_model(workspace: Path) -> UniversalOfferModel:
    return UniversalOfferModel.load(Workspace.open(workspace).artifacts.load("offers"))


def _ranked(ids: np.ndarray, scores: np.ndarray, k: int) -> list[tuple[str, float]]:
    order = np.lexsort((ids.astype(str), -scores.astype(np.float64)))[:k]
    return [(str(ids[i]), float(scores[i])) for i in order]


def test_score_all_users_equals_the_model(
    client: TestClient, offer_model: UniversalOfferModel, workspace: Path
) -> None:
    r = client.post("/v1/offers/score", json={"offer": OFFER, "top": 25})
    assert r.status_code == 200, r.text
    body = r.json()
    ids, scores = offer_model.score(OFFER)
    expected = _ranked(ids, scores, 25)
    got = [(u["user_id"], u["score"]) for u in body["users"]]
    assert [u for u, _ in got] == [u for u, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], rtol=1e-6)
    assert [u["rank"] for u in body["users"]] == list(range(1, 26))
    assert body["n_scored"] == len(ids) == len(offer_model.user_ids_)
    assert body["offer"] == OFFER
    items = Workspace.open(workspace).read_table("items").to_pandas()
    truth = (items["category"].str.startswith("Books>") & (items["price"] < 30)).sum()
    assert body["n_items"] == int(truth)
    version = Workspace.open(workspace).artifacts.load("offers").version
    assert body["model"] == {"name": "offers", "version": version}
    assert body["unknown_users"] == []


def test_score_requested_users_lists_unknown_ones(
    client: TestClient, offer_model: UniversalOfferModel
) -> None:
    known = [str(u) for u in offer_model.user_ids_[[5, 1, 9]]]
    users = [known[0], "ghost-1", known[1], known[0], known[2], "ghost-2"]
    r = client.post("/v1/offers/score", json={"offer": OFFER, "users": users})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["unknown_users"] == ["ghost-1", "ghost-2"]
    assert body["n_scored"] == 3
    ids, scores = offer_model.score(OFFER, users=known)
    expected = _ranked(ids, scores, 3)
    assert [u["user_id"] for u in body["users"]] == [u for u, _ in expected]
    np.testing.assert_allclose([u["score"] for u in body["users"]], [s for _, s in expected])
    only_ghosts = client.post("/v1/offers/score", json={"offer": OFFER, "users": ["ghost"]})
    assert only_ghosts.status_code == 200
    assert only_ghosts.json()["users"] == [] and only_ghosts.json()["unknown_users"] == ["ghost"]


def test_lookalike_equals_expand(client: TestClient, workspace: Path) -> None:
    cv = load_vectors(Workspace.open(workspace).artifacts.load("customer360"))
    seed = [str(u) for u in cv.user_ids[:30]]
    r = client.post("/v1/audiences/lookalike", json={"seed_users": [*seed, "ghost"], "size": 40})
    assert r.status_code == 200, r.text
    body = r.json()
    ids, scores = expand(cv.user_ids, cv.vectors, seed, 40)
    assert [u["user_id"] for u in body["users"]] == ids.tolist()
    np.testing.assert_allclose([u["similarity"] for u in body["users"]], scores / 2, rtol=1e-6)
    assert body["n_seed"] == 30 and body["unknown_seed_users"] == ["ghost"]
    assert not set(seed) & {u["user_id"] for u in body["users"]}
    kept = client.post(
        "/v1/audiences/lookalike",
        json={"seed_users": seed[:3], "size": 10, "exclude_seed": False},
    ).json()
    ids, _ = expand(cv.user_ids, cv.vectors, seed[:3], 10, exclude_seed=False)
    assert [u["user_id"] for u in kept["users"]] == ids.tolist()
    ids_excluded, _ = expand(cv.user_ids, cv.vectors, seed[:3], 10)
    assert ids.tolist() != ids_excluded.tolist()


def _favourite_department(shop: Path) -> pd.Series:
    """Each user's department of highest true preference (simulator truth)."""
    items = pq.read_table(shop / "truth" / "items.parquet").to_pandas()
    users = pq.read_table(shop / "truth" / "users.parquet").to_pandas()
    latent = np.stack(items["latent"].to_numpy())
    leaves = sorted(items["category"].unique())
    leaf_vec = np.stack([latent[(items["category"] == c).to_numpy()].mean(axis=0) for c in leaves])
    leaf_vec /= np.linalg.norm(leaf_vec, axis=1, keepdims=True)
    share = items.groupby("category")["leaf_share"].first().reindex(leaves).to_numpy()
    taste = np.stack(users["taste"].to_numpy())
    # the simulator's leaf preference: softmax(4 taste . leaf + log share)
    logits = 4.0 * taste @ leaf_vec.T + np.log(share)[None, :]
    pref = np.exp(logits - logits.max(axis=1, keepdims=True))
    dept = np.array([c.split(">")[0] for c in leaves])
    names = np.unique(dept)
    by_dept = np.stack([pref[:, dept == d].sum(axis=1) for d in names], axis=1)
    return pd.Series(names[by_dept.argmax(axis=1)], index=users["user_id"].astype(str))


def test_lookalike_of_a_taste_segment_stays_in_it(
    client: TestClient, sim_shop: Path, workspace: Path
) -> None:
    cv = load_vectors(Workspace.open(workspace).artifacts.load("customer360"))
    fav = _favourite_department(sim_shop).reindex(cv.user_ids.astype(str))
    rng = np.random.default_rng(0)
    lifts = {}
    for department in sorted(fav.unique()):
        segment = fav.index[fav == department].to_numpy()
        seed = rng.choice(segment, 40, replace=False).tolist()
        r = client.post("/v1/audiences/lookalike", json={"seed_users": seed, "size": 60})
        assert r.status_code == 200, r.text
        found = [u["user_id"] for u in r.json()["users"]]
        precision = float(np.isin(found, segment).mean())
        lifts[department] = (precision, len(segment) / len(fav))
    precision, base = np.array(list(lifts.values())).T
    assert np.all(precision > base), lifts
    assert precision.mean() > 2 * base.mean(), lifts


BAD: list[tuple[str, dict[str, Any], int, str, str]] = [
    (
        "/v1/offers/score",
        {"offer": 'department = "Books" AND'},
        422,
        "invalid_offer",
        "offer expression, position 24: expected an attribute name, NOT or '(', found end of "
        "expression",
    ),
    (
        "/v1/offers/score",
        {"offer": 'departmnt = "Books"'},
        422,
        "invalid_offer",
        "offer expression, position 0: unknown attribute 'departmnt'; known: ['brand', "
        "'department', 'item_id', 'price', 'subcategory']",
    ),
    (
        "/v1/offers/score",
        {"offer": 'department = "Nope"'},
        422,
        "invalid_offer",
        "offer expression, position 0: unknown value 'Nope' of attribute 'department'",
    ),
    (
        "/v1/offers/score",
        {"offer": 'price < "cheap"'},
        422,
        "invalid_offer",
        "offer expression, position 0: attribute 'price' is numeric; 'cheap' is not a number",
    ),
    (
        "/v1/offers/score",
        {"offer": "(" * 60 + "price < 1" + ")" * 60},
        422,
        "invalid_offer",
        "offer expression, position 50: expression nested deeper than 50 NOT/parentheses",
    ),
    (
        "/v1/offers/score",
        {"offer": "price < " + "9" * 400},
        422,
        "invalid_offer",
        "offer expression, position 8: number 99999999999999999999... is out of range",
    ),
    (
        "/v1/offers/score",
        {"offer": "price < 0"},
        422,
        "empty_offer",
        "offer price < 0 covers no item of the catalog",
    ),
    (
        "/v1/offers/score",
        {"offer": "price < 1", "top": 0},
        422,
        "validation_error",
        "the request is not valid",
    ),
    ("/v1/offers/score", {"offer": ""}, 422, "validation_error", "the request is not valid"),
    (
        "/v1/offers/score",
        {"offer": "price < 1", "users": []},
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "/v1/offers/score",
        {"offer": "price < 1", "extra": 1},
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "/v1/offers/score",
        {"offer": "price < 1", "model": "nope"},
        404,
        "model_not_found",
        "no offers model named 'nope'",
    ),
    (
        "/v1/audiences/lookalike",
        {"seed_users": []},
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "/v1/audiences/lookalike",
        {"seed_users": ["x", "y"]},
        422,
        "unknown_seed_users",
        "none of the 2 seed users has a customer vector",
    ),
    (
        "/v1/audiences/lookalike",
        {"seed_users": ["u1"], "size": 0},
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "/v1/audiences/lookalike",
        {"seed_users": ["u1"], "size": 1001},
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "/v1/audiences/lookalike",
        {"seed_users": ["u1"], "exclude_seed": "no"},
        422,
        "validation_error",
        "the request is not valid",
    ),
]


@pytest.mark.parametrize(("path", "body", "status", "code", "message"), BAD)
def test_bad_inputs(
    client: TestClient, path: str, body: dict[str, Any], status: int, code: str, message: str
) -> None:
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert (error["code"], error["message"]) == (code, message)


def test_bad_offer_reports_position_and_hint(client: TestClient) -> None:
    r = client.post("/v1/offers/score", json={"offer": 'departmnt = "Books"'})
    assert r.json()["error"]["details"] == {"position": 0, "hint": "did you mean 'department'?"}
    r = client.post("/v1/offers/score", json={"offer": "price < 10 price"})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["position"] == 11


def test_size_out_of_range_names_the_field(client: TestClient) -> None:
    r = client.post("/v1/audiences/lookalike", json={"seed_users": ["u1"], "size": 0})
    assert [d["loc"] for d in r.json()["error"]["details"]] == [["body", "size"]]
