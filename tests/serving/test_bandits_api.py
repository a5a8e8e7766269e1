"""Banner routes: campaigns, choose, feedback, stats; answers checked against the policies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.serving.tiny.bandits import create_tiny_campaign

from reclift.models.bandits import UCB1, BernoulliThompson, LinUCB
from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings

API_KEY = "test-key-0123456789"
KEY = {"X-API-Key": API_KEY}
ARMS = ["red", "green", "blue", "gold"]


def _client(bandits_dir: Path) -> TestClient:
    settings = ServiceSettings(bandits_dir=bandits_dir, api_keys=API_KEY)
    return TestClient(create_app(settings), raise_server_exceptions=False)


@pytest.fixture
def bandits_dir(tmp_path: Path) -> Path:
    return tmp_path / "bandits"


@pytest.fixture
def client(bandits_dir: Path) -> Iterator[TestClient]:
    with _client(bandits_dir) as c:
        yield c


def put(client: TestClient, name: str, **spec: Any) -> Any:
    return client.put(f"/v1/admin/banners/{name}", json=spec, headers=KEY)


def choose(client: TestClient, name: str, **body: Any) -> dict[str, Any]:
    r = client.post("/v1/banners/choose", json={"campaign": name, **body})
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def feedback(client: TestClient, name: str, decision_id: str, reward: Any) -> Any:
    body = {"campaign": name, "decision_id": decision_id, "reward": reward}
    return client.post("/v1/banners/feedback", json=body, headers=KEY)


def test_thompson_decisions_equal_the_policy_replayed_directly(client: TestClient) -> None:
    # Same seed, same observations in the same order -> the same draws: every slate and
    # propensity the API gave must be what the policy itself computes.
    assert put(client, "ts", arms=ARMS, policy="ts", params={"random_state": 7}, slate_size=2)
    oracle = BernoulliThompson(ARMS, random_state=7).fit()
    rng = np.random.default_rng(0)
    for _ in range(30):
        got = choose(client, "ts")
        codes, props, _ = oracle.decide(None, 2)
        assert [b["banner_id"] for b in got["banners"]] == [ARMS[c] for c in codes]
        assert [b["propensity"] for b in got["banners"]] == pytest.approx(props.tolist())
        assert [b["position"] for b in got["banners"]] == [1, 2]
        reward = [float(rng.random() < 0.5), 0.0]
        assert feedback(client, "ts", got["decision_id"], reward).status_code == 200
        oracle.observe([b["banner_id"] for b in got["banners"]], reward)


def test_ucb1_follows_its_index_and_tries_new_arms_first(client: TestClient) -> None:
    assert put(client, "ucb", arms=ARMS, policy="ucb1").status_code == 201
    oracle = UCB1(ARMS).fit()
    clicks = {"red": 0.0, "green": 1.0, "blue": 0.0, "gold": 1.0}
    for _ in range(12):
        got = choose(client, "ucb")
        expected = ARMS[int(np.argmax(oracle.index()))]  # argmax: ties to the lower code
        assert got["banners"] == [{"banner_id": expected, "position": 1, "propensity": 1.0}]
        assert feedback(client, "ucb", got["decision_id"], clicks[expected]).status_code == 200
        oracle.observe([expected], clicks[expected])
    r = client.post("/v1/admin/banners/ucb/arms", json={"arms": ["new", "red"]}, headers=KEY)
    assert r.status_code == 200
    assert r.json()["added"] == ["new"]
    assert r.json()["banners"] == [*ARMS, "new"]
    # An unplayed arm has an infinite index: it is shown next.
    assert choose(client, "ucb")["banners"][0]["banner_id"] == "new"


def test_linucb_choices_equal_the_policy_scores(client: TestClient) -> None:
    spec = {"arms": ["a", "b"], "policy": "linucb", "params": {"n_features": 2, "alpha": 0.5}}
    assert put(client, "lin", **spec).status_code == 201
    oracle = LinUCB(["a", "b"], n_features=2, alpha=0.5).fit()
    chosen_for: dict[float, list[str]] = {1.0: [], 0.0: []}
    for i in range(24):
        x = np.array([1.0, 0.0]) if i % 2 else np.array([0.0, 1.0])
        got = choose(client, "lin", context=x.tolist())
        chosen = got["banners"][0]["banner_id"]
        # Ties go to the lower code in both.
        assert chosen == ["a", "b"][int(np.argmax(oracle.scores(x)))]
        assert got["banners"][0]["propensity"] == 1.0
        reward = 1.0 if (chosen == "a") == (x[0] == 1.0) else 0.0  # a pays on x0, b on x1
        assert feedback(client, "lin", got["decision_id"], reward).status_code == 200
        oracle.observe([chosen], reward, x)
        chosen_for[float(x[0])].append(chosen)
    # And it learned the rule.
    assert chosen_for[1.0][-3:] == ["a"] * 3
    assert chosen_for[0.0][-3:] == ["b"] * 3


def test_counts_after_n_feedbacks_equal_n_and_survive_a_restart(bandits_dir: Path) -> None:
    shown: dict[str, int] = dict.fromkeys(ARMS, 0)
    clicked: dict[str, float] = dict.fromkeys(ARMS, 0.0)
    n = 40
    with _client(bandits_dir) as client:
        spec = {"arms": ARMS, "policy": "uniform", "slate_size": 2}
        assert put(client, "u", **spec).status_code == 201
        rng = np.random.default_rng(1)
        for i in range(n + 5):
            got = choose(client, "u")
            if i >= n:
                continue  # decisions without feedback are not counted as pulls
            reward = [float(rng.random() < 0.3), float(rng.random() < 0.1)]
            r = feedback(client, "u", got["decision_id"], reward)
            assert r.status_code == 200 and r.json()["applied"]
            for b, rew in zip(got["banners"], reward, strict=True):
                assert b["propensity"] == pytest.approx(1 / len(ARMS))
                shown[b["banner_id"]] += 1
                clicked[b["banner_id"]] += rew
        before = client.get("/v1/banners/u/stats").json()
    with _client(bandits_dir) as client:
        after = client.get("/v1/banners/u/stats").json()
    assert after == before
    assert after["decisions"] == n + 5
    assert after["feedback"] == n
    assert sum(a["pulls"] for a in after["arms"]) == 2 * n
    for arm in after["arms"]:
        assert arm["pulls"] == shown[arm["banner_id"]]
        assert arm["rewards"] == pytest.approx(clicked[arm["banner_id"]])
        expected_ctr = clicked[arm["banner_id"]] / shown[arm["banner_id"]]
        assert arm["ctr"] == pytest.approx(expected_ctr)


def test_campaign_creation_is_idempotent_and_conflicts_are_409(client: TestClient) -> None:
    spec: dict[str, Any] = {"arms": ["a", "b"], "policy": "epsilon-greedy", "slate_size": 1}
    first = put(client, "c", **spec)
    assert first.status_code == 201 and first.json()["created"]
    # An alias and explicit defaults are the same configuration.
    again = put(client, "c", **{**spec, "policy": "egreedy", "params": {"epsilon": 0.1}})
    assert again.status_code == 200 and not again.json()["created"]
    other = put(client, "c", **{**spec, "params": {"epsilon": 0.3}})
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "campaign_conflict"
    assert other.json()["error"]["message"] == "campaign 'c' exists with a different params"


def test_admin_routes_need_the_key_and_choose_feedback_do_not(bandits_dir: Path) -> None:
    create_tiny_campaign(bandits_dir)
    with _client(bandits_dir) as client:
        spec = {"arms": ["a"]}
        assert client.put("/v1/admin/banners/x", json=spec).status_code == 401
        wrong = {"X-API-Key": "wrong"}
        assert client.put("/v1/admin/banners/x", json=spec, headers=wrong).status_code == 403
        arms = client.post("/v1/admin/banners/tiny/arms", json={"arms": ["z"]})
        assert arms.status_code == 401
        got = choose(client, "tiny")
        assert len(got["banners"]) == 2
        assert feedback(client, "tiny", got["decision_id"], [1, 0]).status_code == 200


def test_without_a_directory_banner_routes_are_503() -> None:
    with TestClient(create_app(ServiceSettings(api_keys=API_KEY))) as client:
        r = client.post("/v1/banners/choose", json={"campaign": "x"})
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "bandits_unavailable"


# (name, request, status, code, message) -- message is a substring of the error message.
Req = tuple[str, str, Any]
BAD: list[tuple[str, Req, int, str, str]] = [
    (
        "unknown_campaign",
        ("POST", "/v1/banners/choose", {"campaign": "nope"}),
        404,
        "campaign_not_found",
        "no banner campaign 'nope'",
    ),
    (
        "unknown_campaign_stats",
        ("GET", "/v1/banners/nope/stats", None),
        404,
        "campaign_not_found",
        "no banner campaign 'nope'",
    ),
    (
        "unknown_decision",
        ("POST", "/v1/banners/feedback", {"decision_id": "f00", "reward": [1, 0]}),
        404,
        "unknown_decision",
        "campaign 'tiny' has no decision 'f00'",
    ),
    (
        "duplicate_feedback",
        ("POST", "/v1/banners/feedback", {"decision_id": "{ANSWERED}", "reward": [0, 0]}),
        409,
        "duplicate_feedback",
        "already has reward [1.0, 0.0]; refusing a different reward [0.0, 0.0]",
    ),
    (
        "reward_above_range",
        ("POST", "/v1/banners/feedback", {"decision_id": "{OPEN}", "reward": [2, 0]}),
        422,
        "invalid_reward",
        "reward 2.0 at position 1 is outside [0, 1]",
    ),
    (
        "reward_negative",
        ("POST", "/v1/banners/feedback", {"decision_id": "{OPEN}", "reward": [0, -0.5]}),
        422,
        "invalid_reward",
        "reward -0.5 at position 2 is outside [0, 1]",
    ),
    (
        "reward_nan",
        ("POST", "/v1/banners/feedback", '{"decision_id": "{OPEN}", "reward": [NaN, 0]}'),
        422,
        "invalid_reward",
        "reward nan at position 1",
    ),
    (
        "reward_count",
        ("POST", "/v1/banners/feedback", {"decision_id": "{OPEN}", "reward": 1}),
        422,
        "invalid_reward",
        "a scalar reward was given for a slate of 2 arms",
    ),
    (
        "reward_text",
        ("POST", "/v1/banners/feedback", {"decision_id": "{OPEN}", "reward": "1"}),
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "k_above_slate",
        ("POST", "/v1/banners/choose", {"k": 3}),
        422,
        "invalid_k",
        "k=3 but campaign 'tiny' has 2 position(s)",
    ),
    (
        "bad_campaign_name",
        ("PUT", "/v1/admin/banners/..hidden", {"arms": ["a"]}),
        422,
        "validation_error",
        "the request is not valid",
    ),
    (
        "unknown_policy",
        ("PUT", "/v1/admin/banners/new", {"arms": ["a"], "policy": "greedy"}),
        422,
        "invalid_campaign",
        "unknown bandit policy 'greedy'",
    ),
    (
        "param_type",
        ("PUT", "/v1/admin/banners/new", {"arms": ["a"], "params": {"alpha": "x"}}),
        422,
        "invalid_campaign",
        "params.alpha must be a number, got 'x'",
    ),
    (
        "param_unknown",
        ("PUT", "/v1/admin/banners/new", {"arms": ["a"], "params": {"gamma": 1}}),
        422,
        "invalid_campaign",
        "unexpected keyword argument 'gamma'",
    ),
    (
        "duplicate_arms",
        ("PUT", "/v1/admin/banners/new", {"arms": ["a", "a"]}),
        422,
        "invalid_campaign",
        "arm id 'a' appears more than once",
    ),
    (
        "slate_above_arms",
        ("PUT", "/v1/admin/banners/new", {"arms": ["a"], "slate_size": 2}),
        422,
        "invalid_campaign",
        "slate_size=2 must be between 1 and the number of banners (1)",
    ),
    (
        "too_much_work",
        ("PUT", "/v1/admin/banners/new", {"arms": ["a"], "params": {"propensity_samples": 10**7}}),
        422,
        "invalid_campaign",
        "keep the product at most 4000000",
    ),
    (
        "context_missing",
        ("POST", "/v1/banners/choose", {"campaign": "lin"}),
        422,
        "invalid_context",
        "campaign 'lin' (linucb) needs a context of 2 numbers, got none",
    ),
]


@pytest.mark.parametrize(
    ("case", "request_", "status", "code", "message"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_inputs_get_clear_4xx(
    bandits_dir: Path, case: str, request_: Req, status: int, code: str, message: str
) -> None:
    name = create_tiny_campaign(bandits_dir)
    with _client(bandits_dir) as client:
        spec = {"arms": ["a", "b"], "policy": "linucb", "params": {"n_features": 2}}
        assert put(client, "lin", **spec).status_code == 201
        answered = choose(client, name)
        assert feedback(client, name, answered["decision_id"], [1, 0]).status_code == 200
        open_id = choose(client, name)["decision_id"]
        method, path, body = request_
        if body is None:
            r = client.request(method, path, headers=KEY)
        else:
            text = body if isinstance(body, str) else json.dumps(body)
            if path in ("/v1/banners/choose", "/v1/banners/feedback") and '"campaign"' not in text:
                text = '{"campaign": "tiny", ' + text[1:]
            text = text.replace("{OPEN}", open_id).replace("{ANSWERED}", answered["decision_id"])
            headers = {**KEY, "content-type": "application/json"}
            r = client.request(method, path, content=text, headers=headers)
        assert r.status_code == status, r.text
        error = r.json()["error"]
        assert error["code"] == code
        assert message in error["message"]
        # Nothing bad was learned: only the one good feedback is recorded.
        stats = client.get(f"/v1/banners/{name}/stats").json()
        assert stats["feedback"] == 1


def test_same_reward_again_is_acknowledged_without_learning_twice(bandits_dir: Path) -> None:
    name = create_tiny_campaign(bandits_dir)
    with _client(bandits_dir) as client:
        _retry(client, name)


def _retry(client: TestClient, name: str) -> None:
    got = choose(client, name)
    first = feedback(client, name, got["decision_id"], [1, 1])
    again = feedback(client, name, got["decision_id"], [1.0, 1.0])
    assert first.json()["applied"] and not again.json()["applied"]
    assert again.status_code == 200
    stats = client.get(f"/v1/banners/{name}/stats").json()
    assert stats["feedback"] == 1
    assert sum(a["pulls"] for a in stats["arms"]) == 2


def test_async_decisions_keep_feedback_exact(bandits_dir: Path) -> None:
    # sync_decisions=False: choose answers before its decision is committed; the feedback's
    # commit includes it. Counts must still be exact, also after a restart.
    from reclift.serving.bandit_hub import BanditHub

    app = create_app(ServiceSettings(bandits_dir=bandits_dir, api_keys=API_KEY))
    hub = BanditHub(bandits_dir, sync_decisions=False)
    app.state.bandits = hub
    rewards = []
    with TestClient(app) as client:
        assert put(client, "fast", arms=ARMS, policy="ucb1").status_code == 201
        for i in range(20):
            got = choose(client, "fast")
            rewards.append(float(i % 3 == 0))
            r = feedback(client, "fast", got["decision_id"], rewards[-1])
            assert r.status_code == 200 and r.json()["applied"]
        before = client.get("/v1/banners/fast/stats").json()
    hub.close()
    with _client(bandits_dir) as client:
        after = client.get("/v1/banners/fast/stats").json()
    assert after == before
    assert after["feedback"] == after["decisions"] == 20
    assert sum(a["rewards"] for a in after["arms"]) == sum(rewards)


@pytest.mark.parametrize("value", [True, False])
def test_sync_decisions_follows_the_setting(tmp_path: Path, value: bool) -> None:
    from reclift.serving.bandit_hub import BanditHub

    hub = BanditHub.from_settings(
        ServiceSettings(bandits_dir=tmp_path, bandit_sync_decisions=value)
    )
    assert hub.sync_decisions is value
