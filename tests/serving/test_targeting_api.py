"""Targeting routes: uplift by id and by feature row, audiences, and their bad inputs.

Oracles: the model's own frame path (``score_table`` / ``predict`` on a pandas frame, which
the service's encoded path must equal), profits recomputed from those predictions, and a
table of bad inputs pinned to status, code and message.
"""

from __future__ import annotations

import json
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from tests.serving.tiny.targeting import publish_tiny, tiny_customers

from reclift.models.targeting import (
    UPLIFT_MODELS,
    TLearner,
    get_uplift_model,
    load_uplift_model,
    score_table,
)
from reclift.models.targeting.scoring import encode_frame, encode_records
from reclift.serving.app import create_app
from reclift.serving.schemas import MAX_BATCH
from reclift.serving.settings import ServiceSettings

UPLIFT = "/v1/targeting/uplift"
AUDIENCE = "/v1/targeting/audience"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny-targeting") / "artifacts"
    publish_tiny(root)
    return root


@pytest.fixture(scope="module")
def client(store: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(artifacts=store, api_keys="k")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def model(store: Path) -> TLearner:
    loaded = load_uplift_model(store, "uplift")
    assert isinstance(loaded, TLearner)
    return loaded


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.to_dict("records")
    ]


def assert_error(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    error: dict[str, Any] = body["error"]
    return error


# ------------------------------------------------------------------ uplift
def test_users_equal_the_models_frame_path(client: TestClient, model: TLearner) -> None:
    ids = ["u05", "nobody", "u00", "u39", "u05", "ghost"]
    resp = client.post(UPLIFT, json={"users": ids})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["model"]["name"] == "uplift"
    assert body["treatments"] == ["email", "sms"] and body["control"] == "control"
    assert body["outcome"] == "binary"
    assert body["unknown_users"] == ["nobody", "ghost"]
    known = ["u05", "u00", "u39", "u05"]
    assert [r["user_id"] for r in body["results"]] == known
    assert [r["index"] for r in body["results"]] == [0, 2, 3, 4]
    expected = score_table(
        model, tiny_customers().loc[known].reset_index(drop=True), known, id_column="user_id"
    )
    for r, e in zip(body["results"], expected.to_pylist(), strict=True):
        assert r["uplift"]["email"] == pytest.approx(e["uplift_email"], abs=1e-12)
        assert r["uplift"]["sms"] == pytest.approx(e["uplift_sms"], abs=1e-12)
        assert r["best_treatment"] == e["best_treatment"]
        assert r["best_uplift"] == pytest.approx(e["uplift"], abs=1e-12)


def test_rows_equal_the_models_frame_path(client: TestClient, model: TLearner) -> None:
    frame = tiny_customers().reset_index(drop=True).iloc[:7].copy()
    frame["region"] = frame["region"].astype(object)
    frame.loc[2, "age"] = np.nan  # missing numeric value
    frame.loc[3, "region"] = None  # missing categorical value
    frame.loc[4, "region"] = "mars"  # unseen level: treated as missing, as at fit
    rows = records(frame)
    rows[5]["age"] = int(rows[5]["age"])  # JSON integers are numbers too
    resp = client.post(UPLIFT, json={"rows": rows})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    expected = model.predict(frame)
    got = np.array([[r["uplift"]["email"], r["uplift"]["sms"]] for r in body["results"]])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert [r["index"] for r in body["results"]] == list(range(7))
    assert all(r["user_id"] is None for r in body["results"])
    assert body["unknown_users"] == []


def test_a_constant_feature_dropped_at_fit_is_accepted(tmp_path: Path) -> None:
    customers = tiny_customers()
    X = customers.iloc[np.arange(60) % 40].reset_index(drop=True)
    X["country"] = "fr"
    arm = np.array(["control", "ad"], dtype=object)[np.arange(60) % 2]
    y = (np.arange(60) % 3 == 0).astype(float)
    with pytest.warns(UserWarning, match="constant"):
        TLearner(n_estimators=3, min_child_samples=3).fit(X, y, arm).save(tmp_path, "uplift")
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path, api_keys="k"))) as c:
        rows = records(X.iloc[:2])
        assert c.post(UPLIFT, json={"rows": rows}).status_code == 200
        # and a model saved without customers cannot score by id
        err = assert_error(c.post(UPLIFT, json={"users": ["u01"]}), 400, "no_customer_features")
        assert err["message"] == (
            "model 'uplift' stores no customer features: score feature rows instead"
        )


@pytest.mark.parametrize("learner", sorted(UPLIFT_MODELS))
@pytest.mark.parametrize("base", ["lightgbm", "linear"])
def test_the_encoded_path_equals_the_frame_path(learner: str, base: str) -> None:
    # The service scores through predict_encoded; every learner must agree with predict.
    customers = tiny_customers()
    X = customers.iloc[np.arange(150) % 40].reset_index(drop=True)
    arm = np.array(["control", "a", "b"], dtype=object)[np.arange(150) % 3]
    y = ((np.arange(150) * 7) % 5 < 1 + (arm == "a") * (X["age"].to_numpy() > 40)).astype(float)
    model = get_uplift_model(learner)(
        base=base,
        n_estimators=5,
        min_child_samples=3,
        propensity="model" if learner in ("x", "dr") else "constant",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y, arm)
    frame = customers.reset_index(drop=True).astype({"region": object})
    frame.loc[0, "age"] = np.nan
    frame.loc[1, "region"] = None
    frame.loc[2, "region"] = "mars"
    expected = model.predict(frame)
    from_frame = model.predict_encoded(encode_frame(model.feature_spec_, frame))
    from_records = model.predict_encoded(encode_records(model.feature_spec_, records(frame)))
    np.testing.assert_allclose(from_frame, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(from_records, expected, rtol=0, atol=1e-12)
    assert np.ptp(expected) > 0  # the model is not constant: the comparison means something


ROW = {"age": 30.0, "region": "north", "spend": 12.5}
BAD_UPLIFT: list[tuple[str, Any, int, str, str]] = [
    ("empty users", {"users": []}, 422, "validation_error", "the request is not valid"),
    (
        "too many users",
        {"users": ["u01"] * (MAX_BATCH + 1)},
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "too many rows",
        {"rows": [ROW] * (MAX_BATCH + 1)},
        422,
        "validation_error",
        "the request is not valid",
    ),
    ("neither", {}, 422, "validation_error", "the request is not valid"),
    (
        "both",
        {"users": ["u01"], "rows": [ROW]},
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "extra field",
        {"users": ["u01"], "k": 3},
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "missing feature",
        {"rows": [ROW, {"age": 30.0, "region": "north"}]},
        422,
        "invalid_feature",
        "rows[1]: missing feature 'spend' (send null for an unknown value)",
    ),
    (
        "unknown feature",
        {"rows": [{**ROW, "colour": "red"}]},
        422,
        "invalid_feature",
        "rows[0]: unknown feature 'colour'; the model uses ['age', 'region', 'spend']",
    ),
    (
        "text for a number",
        {"rows": [ROW, ROW, {**ROW, "age": "old"}]},
        422,
        "invalid_feature",
        "rows[2].age: expected a number (a numeric feature), got str",
    ),
    (
        "number for a category",
        {"rows": [{**ROW, "region": 3}]},
        422,
        "invalid_feature",
        "rows[0].region: expected text (a categorical feature), got int",
    ),
    (
        "unknown model",
        {"users": ["u01"], "model": "nope"},
        404,
        "model_not_found",
        "no targeting model named 'nope'",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [case[1:] for case in BAD_UPLIFT],
    ids=[case[0] for case in BAD_UPLIFT],
)
def test_bad_uplift_requests(
    client: TestClient, body: Any, status: int, code: str, message: str
) -> None:
    err = assert_error(client.post(UPLIFT, json=body), status, code)
    assert err["message"] == message
    if code == "invalid_feature":
        assert set(err["details"]) == {"row", "feature"}


@pytest.mark.parametrize(
    ("literal", "shown"),
    [("NaN", "nan"), ("Infinity", "inf"), ("-Infinity", "-inf"), ("1e999", "inf")],
)
def test_non_finite_features_are_refused(client: TestClient, literal: str, shown: str) -> None:
    raw = '{"rows": [{"age": 1, "region": "west", "spend": ' + literal + "}]}"
    resp = client.post(UPLIFT, content=raw, headers={"content-type": "application/json"})
    err = assert_error(resp, 422, "invalid_feature")
    assert err["message"] == f"rows[0].spend: {shown} is not a finite number"
    assert err["details"] == {"row": 0, "feature": "spend"}


@pytest.mark.parametrize(
    "raw",
    [
        '{"rows": [{"age": 1, "region": "\\ud800", "spend": 2}]}',
        '{"rows": [{"age": 1, "region": "x", "spend": 2, "\\ud800": 1}]}',
        '{"users": ["\\udfff"]}',
    ],
    ids=["value", "feature name", "user id"],
)
def test_lone_surrogates_are_refused(client: TestClient, raw: str) -> None:
    # they cannot be echoed back as UTF-8: a client error, never a 500
    resp = client.post(UPLIFT, content=raw, headers={"content-type": "application/json"})
    assert_error(resp, 422, "validation_error")


def test_no_targeting_model_is_a_503(tmp_path: Path) -> None:
    import pyarrow as pa

    from reclift.models.recs import PopularRecommender

    events = pa.table({"user_id": ["a"], "item_id": ["i"], "event_type": ["view"]})
    PopularRecommender().fit(events).save(tmp_path)
    with TestClient(create_app(ServiceSettings(artifacts=tmp_path, api_keys="k"))) as c:
        err = assert_error(c.post(UPLIFT, json={"users": ["a"]}), 503, "model_unavailable")
        assert err["message"] == "no targeting model is published in this workspace"


# ------------------------------------------------------------------ audience
def expected_audience(
    model: TLearner, *, k: int, cost: float, value: float, arm: str | None = None
) -> list[tuple[str, str, float]]:
    customers = tiny_customers()
    tau = model.predict(customers.reset_index(drop=True))
    idx = (
        np.argmax(tau, axis=1)
        if arm is None
        else np.full(len(customers), model.treatments_.index(arm))
    )
    gain = tau[np.arange(len(customers)), idx]
    profit = gain * value - cost
    order = [i for i in np.argsort(-profit, kind="stable") if profit[i] > 0][:k]
    return [(customers.index[i], model.treatments_[idx[i]], float(profit[i])) for i in order]


@pytest.mark.parametrize(
    ("request_body", "k", "arm"),
    [
        ({"size": 5, "cost_per_contact": 0.01, "value_per_conversion": 2.0}, 5, None),
        ({"budget": 0.35, "cost_per_contact": 0.1, "value_per_conversion": 3.0}, 3, None),
        (
            {"size": 40, "cost_per_contact": 0.02, "value_per_conversion": 1.0, "treatment": "sms"},
            40,
            "sms",
        ),
        # both limits: the tighter one wins
        (
            {"size": 4, "budget": 0.55, "cost_per_contact": 0.1, "value_per_conversion": 2.0},
            4,
            None,
        ),
        (
            {"size": 9, "budget": 0.55, "cost_per_contact": 0.1, "value_per_conversion": 2.0},
            5,
            None,
        ),
        # no limit, or free contacts: every customer with a positive expected profit
        ({"cost_per_contact": 0.05, "value_per_conversion": 1.0}, 40, None),
        ({"budget": 1.0, "cost_per_contact": 0.0, "value_per_conversion": 1.0}, 40, None),
    ],
)
def test_audience_ranks_by_expected_profit(
    client: TestClient, model: TLearner, request_body: dict[str, Any], k: int, arm: str | None
) -> None:
    resp = client.post(AUDIENCE, json=request_body)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    cost, value = request_body["cost_per_contact"], request_body["value_per_conversion"]
    expected = expected_audience(model, k=k, cost=cost, value=value, arm=arm)
    assert expected, "the oracle selects nobody: the case tests nothing"
    got = [(u["user_id"], u["treatment"], u["expected_profit"]) for u in body["users"]]
    assert [g[:2] for g in got] == [e[:2] for e in expected]
    np.testing.assert_allclose([g[2] for g in got], [e[2] for e in expected], atol=1e-12)
    assert [u["rank"] for u in body["users"]] == list(range(1, len(expected) + 1))
    assert body["n_candidates"] == 40
    assert body["expected_cost"] == pytest.approx(cost * len(expected))
    assert body["expected_profit"] == pytest.approx(sum(e[2] for e in expected))
    uplift_sum = sum(u["uplift"] for u in body["users"])
    assert body["expected_incremental_outcome"] == pytest.approx(uplift_sum)
    assert body["expected_value"] == pytest.approx(uplift_sum * value)


def test_audience_of_a_budget_too_small_for_one_contact_is_empty(client: TestClient) -> None:
    body = {"budget": 0.05, "cost_per_contact": 0.1, "value_per_conversion": 3.0}
    resp = client.post(AUDIENCE, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["users"] == [] and resp.json()["expected_cost"] == 0


BAD_AUDIENCE: list[tuple[str, dict[str, Any], int, str, str]] = [
    (
        "unknown treatment",
        {"size": 3, "cost_per_contact": 0.1, "value_per_conversion": 1, "treatment": "push"},
        404,
        "unknown_treatment",
        "treatment 'push' is not an arm of model 'uplift'",
    ),
    (
        "text for a number",
        {"size": "3", "cost_per_contact": 0.1, "value_per_conversion": 1},
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "negative cost",
        {"size": 3, "cost_per_contact": -1, "value_per_conversion": 1},
        422,
        "validation_error",
        "the request is not valid",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [case[1:] for case in BAD_AUDIENCE],
    ids=[case[0] for case in BAD_AUDIENCE],
)
def test_bad_audience_requests(
    client: TestClient, body: dict[str, Any], status: int, code: str, message: str
) -> None:
    err = assert_error(client.post(AUDIENCE, json=body), status, code)
    assert err["message"] == message
    if code == "unknown_treatment":
        assert err["details"] == {"available": ["email", "sms"]}


# ------------------------------------------------------------------ trained on a workspace
@pytest.fixture(scope="module")
def trained(sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from reclift.jobs.training import TrainContext
    from reclift.jobs.training.targeting import train
    from reclift.workspace.store import Workspace

    root = tmp_path_factory.mktemp("targeting-api") / "ws"
    shutil.copytree(sim_workspace, root)
    train(TrainContext(ws=Workspace.open(root)))
    return root


def test_workspace_model_by_id_equals_direct_call(trained: Path) -> None:
    from reclift.models.targeting.customers import customer_features
    from reclift.workspace.store import Workspace

    ws = Workspace.open(trained)
    model = load_uplift_model(ws.artifacts, "uplift")
    feats = customer_features(ws.read_table("users"), ws.read_table("events"))
    ids = feats.index[:100].tolist()
    expected = model.predict(feats.loc[ids].reset_index(drop=True))
    with TestClient(create_app(ServiceSettings(workspace=trained, api_keys="k"))) as c:
        resp = c.post(UPLIFT, json={"users": ids})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        rows = c.post(UPLIFT, json={"rows": records(feats.loc[ids[:10]])}).json()
        timings = []
        for _ in range(5):
            start = time.perf_counter()
            c.post(UPLIFT, json={"users": ids})
            timings.append(time.perf_counter() - start)
    assert body["treatments"] == model.treatments_ and len(model.treatments_) >= 2
    got = np.array([[r["uplift"][t] for t in model.treatments_] for r in body["results"]])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    got_rows = np.array([[r["uplift"][t] for t in model.treatments_] for r in rows["results"]])
    np.testing.assert_allclose(got_rows, expected[:10], rtol=0, atol=1e-12)
    print(f"batch of 100 by id through TestClient: best {min(timings) * 1e3:.1f} ms")
    assert json.dumps(body)  # the answer is plain JSON (no NaN)
