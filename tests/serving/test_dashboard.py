"""``GET /dashboard`` and ``reclift report``: tables, model metrics and curves as inline SVG,
bandit CTR and regret, refresh runs; everything read from a trained workspace."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from reclift.cli.main import build_app, main
from reclift.jobs.dashboard import (
    BanditSummary,
    Curve,
    bandit_curves,
    build_dashboard,
    group_curves,
    parse_curves,
)
from reclift.jobs.runs import FamilyOutcome, RunRecord, save_run
from reclift.jobs.train import train_workspace
from reclift.models.bandits.registry import get_policy
from reclift.models.bandits.store import DurableBandit
from reclift.models.recs import PopularRecommender
from reclift.serving.app import create_app
from reclift.serving.settings import ServiceSettings
from reclift.workspace.store import Workspace

CURVES = {
    "recall_at_k": {
        "x": [1, 5, 10, 20],
        "y": {"clicks": [0.1, 0.2, 0.3, 0.4], "orders": [0.05, 0.1, 0.2, 0.25]},
        "x_label": "k",
        "y_label": "recall@k",
    },
    "qini <script>": {"x": [0, 0.5, 1], "y": [0, 0.4, 0.5], "x_label": "share", "y_label": "q"},
    "broken": {"x": [1, 2], "y": [1], "x_label": "", "y_label": ""},
}
ARM_CTR = {"a": 0.05, "b": 0.20, "c": 0.10}
N_DECISIONS = 400


@pytest.fixture(scope="module")
def trained(sim_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("dash") / "ws"
    shutil.copytree(sim_workspace, root)
    ws = Workspace.open(root)
    result = train_workspace(ws, families=["recs"])
    # A second artifact with metrics and curves, as the trainers publish them.
    events = ws.read_table("events")
    scored = PopularRecommender().fit(events)
    old = scored.save(ws.artifacts, "scored", meta={"metrics": {"recall@20": 0.11}})
    new = scored.save(
        ws.artifacts,
        "scored",
        meta={"metrics": {"recall@20": 0.1234, "ndcg@20": 0.0567}, "curves": CURVES},
    )
    # A bandit that served a campaign: known arm CTRs, feedback recorded.
    rng = np.random.default_rng(3)
    rewards: list[float] = []
    store = DurableBandit.create(
        root / "bandits" / "spring-sale.sqlite", get_policy("thompson", arms=sorted(ARM_CTR))
    )
    with store:
        for _ in range(N_DECISIONS):
            decision = store.select()
            reward = float(rng.random() < ARM_CTR[decision.actions[0]])
            store.update(decision.decision_id, reward)
            rewards.append(reward)
    run = RunRecord.start("schedule")
    run.status = "failed"
    run.reason = "PostgreSQL postgresql://u@db:5432/shop is unreachable: connection refused"
    run.families = {"recs": FamilyOutcome("kept", "recall worse")}
    save_run(root, run)
    return {
        "root": root,
        "popular": result.artifacts["popular"],
        "scored_old": old.version,
        "scored": new.version,
        "rewards": rewards,
        "run": run,
        "events": ws.row_count("events"),
    }


@pytest.fixture(scope="module")
def client(trained: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(workspace=trained["root"], api_keys="k"))) as c:
        yield c


def cell_after(page: str, caption: str) -> str:
    """The HTML of the table whose caption is ``caption``."""
    start = page.index(f"<caption>{html.escape(caption)}</caption>")
    return page[start : page.index("</table>", start)]


def rows_of(table: str) -> list[list[str]]:
    return [
        [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", table)
        if "<td" in row
    ]


def test_dashboard_page(client, trained):
    response = client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    page = response.text
    assert "<script" not in page  # curve names are escaped, never markup
    assert "qini &lt;script&gt;" in page

    # Workspace tables: the row counts of the workspace itself.
    tables = {
        r[0]: r
        for r in rows_of(cell_after(page, "Canonical tables: rows, time range and freshness"))
    }
    assert tables["events"][1] == f"{trained['events']:,}"
    assert set(tables) >= {"events", "items", "users", "exposures"}

    # Models: both artifacts, the version the service loaded, metric history newest first.
    models = {r[0]: r for r in rows_of(cell_after(page, "Published artifacts (CURRENT version)"))}
    assert models["popular"][2] == trained["popular"] == models["popular"][4]  # version, served
    assert models["scored"][2] == trained["scored"]
    assert models["scored"][3] == "2"  # versions
    history = rows_of(cell_after(page, "scored: offline metrics of the newest versions"))
    assert history[0][0] == f"{trained['scored']} (current)"
    header = re.findall(
        r"<th>(.*?)</th>", cell_after(page, "scored: offline metrics of the newest versions")
    )
    assert header == ["version", "refresh run", "ndcg@20", "recall@20"]
    assert history[0][2:] == ["0.0567", "0.1234"]
    assert history[1][0] == trained["scored_old"] and history[1][2:] == ["–", "0.11"]

    # One inline SVG per well-formed curve plus the bandit plot; the broken curve is named.
    figures = re.findall(
        r'<figure class="plot">(<svg.*?</svg>)\s*<figcaption>(.*?)</figcaption>', page, re.S
    )
    captions = [html.unescape(c) for _, c in figures]
    store = Workspace.open(trained["root"]).artifacts
    expected = [
        f"{name}: {curve.name}"
        for name in store.names()
        for curve in group_curves(parse_curves(store.load(name).meta)[0])
    ]
    comparisons = [c for c in captions if c.endswith(" by model")]
    assert len(comparisons) == 1 and comparisons[0].startswith("recs: ")
    assert captions == [*comparisons, *expected, "spring-sale: CTR and regret over time"]
    compared = rows_of(cell_after(page, "recs: serving models compared (offline metrics)"))
    assert sorted(r[0] for r in compared) == sorted(
        n for n in store.names() if store.load(n).meta.get("metrics")
    )
    assert {"scored: recall_at_k", "scored: qini <script>"} <= set(captions)
    assert all(svg.count("<path") >= 4 for svg, _ in figures)
    assert "curve skipped: broken: x and y must be numeric lists of the same length" in page

    # Bandits: counts and CTR equal what was fed to the store.
    (bandit,) = rows_of(cell_after(page, "Banner campaigns (rewards of recorded feedback)"))
    rewards = trained["rewards"]
    assert bandit[:5] == ["spring-sale", "thompson", "3", str(N_DECISIONS), str(N_DECISIONS)]
    assert bandit[5] == f"{np.mean(rewards):.4g}"

    # Runs: the failed run with its reason.
    (run,) = rows_of(cell_after(page, "Newest first"))
    assert run[0] == trained["run"].run_id and run[2] == "failed"
    assert "unreachable: connection refused" in run[-1]
    assert 'data-kpi="last refresh"><b>failed</b>' in page


def test_dashboard_is_cached_until_the_workspace_changes(client, trained):
    first = client.get("/dashboard").text
    assert client.get("/dashboard").text == first  # same bytes: served from the cache
    extra = RunRecord.start()
    extra.status = "no_new_data"
    save_run(trained["root"], extra)
    try:
        page = client.get("/dashboard").text
        assert extra.run_id in page and page != first
    finally:
        (trained["root"] / "runs" / f"{extra.run_id}.json").unlink()


def test_dashboard_without_workspace_is_a_clear_404(tmp_path):
    settings = ServiceSettings(artifacts=tmp_path / "store", api_keys="k")
    with TestClient(create_app(settings)) as c:
        response = c.get("/dashboard")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "no_workspace"


def test_report_command_writes_the_same_page(client, trained, tmp_path):
    out = tmp_path / "sub" / "report.html"
    result = CliRunner().invoke(build_app(), ["report", str(trained["root"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"report written: {out}" in result.output
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    served = client.get("/dashboard").text
    assert page.count('<figure class="plot"><svg') == served.count('<figure class="plot"><svg') > 2
    assert "<title>reclift workspace report</title>" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)  # nothing fetched


def test_report_on_a_missing_workspace_exits_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "x.html")])
    assert info.value.code == 2
    assert "nope is not a reclift workspace: no such directory" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()


def test_models_of_a_family_are_compared_on_their_primary_metric(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    for name, auc, primary in [("a", 0.61, None), ("b", 0.72, "auc"), ("c", 0.55, None)]:
        meta: dict[str, Any] = {"family": "targeting", "metrics": {"auc": auc, "n_rows": 9.0}}
        if primary:
            meta["primary_metric"] = primary
        meta["metrics"]["logloss" if name == "c" else "brier"] = 0.2
        with ws.artifacts.publish(name, meta) as out:
            (out / "w.json").write_text("{}")
    page = build_dashboard(ws.root).render()
    table = cell_after(page, "targeting: serving models compared (offline metrics)")
    assert re.findall(r"<th>(.*?)</th>", table) == ["model", "auc", "brier", "n_rows", "logloss"]
    assert rows_of(table) == [
        ["a", "0.61", "0.2", "9", "–"],
        ["b", "0.72", "0.2", "9", "–"],
        ["c", "0.55", "–", "9", "0.2"],
    ]
    assert "<figcaption>targeting: auc by model</figcaption>" in page


def test_empty_workspace_renders_guidance(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    page = build_dashboard(ws.root).render()
    assert f"No model published yet. Train some: reclift train {ws.root}" in page
    assert "No banner campaign has a bandit yet" in page
    assert "No refresh has run yet" in page


def test_bandit_curves_against_a_direct_computation():
    rewards = [0.0, 1.0, 1.0, 0.0]
    summary = BanditSummary(
        campaign="c",
        policy="p",
        arms=["a", "b"],
        decisions=4,
        feedback=4,
        pulls={"a": 2, "b": 2},
        mean_reward={"a": 0.5, "b": 0.5},
        rewards=rewards,
    )
    xs, ctr, regret = bandit_curves(summary)
    assert xs == [1, 2, 3, 4]
    assert ctr == [0.0, 0.5, 2 / 3, 0.5]
    assert regret == [0.5, 0.0, -0.5, 0.0]  # best mean 0.5 minus each reward, summed


@pytest.mark.parametrize(
    ("curves", "names", "problems"),
    [
        (None, [], []),
        ({"a": {"x": [1, 2], "y": [3, 4]}}, ["a"], []),
        ({"a": {"x": [1, 2], "y": {"s": [3, 4], "t": [1, 1]}}}, ["a"], []),
        ({"a": {"x": [], "y": []}}, [], ["a"]),
        ({"a": {"x": [1, "2"], "y": [3, 4]}}, [], ["a"]),
        ({"a": {"x": [1, True], "y": [3, 4]}}, [], ["a"]),
        ({"a": [1, 2]}, [], ["a"]),
        ({"a": {"x": [1, 2], "y": {"s": [3]}}}, [], ["a"]),
    ],
)
def test_parse_curves_accepts_only_well_formed_curves(curves, names, problems):
    parsed, bad = parse_curves({} if curves is None else {"curves": curves})
    assert [c.name for c in parsed] == names
    assert [b.split(":")[0] for b in bad] == problems


class PrivateDashboardSettings(ServiceSettings):
    """What the settings look like once ``dashboard_public`` exists (default: public)."""

    dashboard_public: bool = False


def test_private_dashboard_needs_the_api_key(trained):
    settings = PrivateDashboardSettings(workspace=trained["root"], api_keys="k")
    with TestClient(create_app(settings)) as c:
        missing = c.get("/dashboard")
        wrong = c.get("/dashboard", headers={"X-API-Key": "nope"})
        right = c.get("/dashboard", headers={"X-API-Key": "k"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (401, "unauthorized")
    assert (wrong.status_code, wrong.json()["error"]["code"]) == (403, "forbidden")
    assert right.status_code == 200 and "reclift dashboard" in right.text


def _curve(name: str, x: list[float], y_label: str, x_label: str = "k") -> Curve:
    return Curve(name, x, {name: [float(v) for v in x]}, x_label, y_label)


def test_curves_sharing_their_axes_are_overlaid():
    per_target = [
        _curve("recall@k_clicks", [5, 10], "recall@k (clicks)"),
        _curve("recall@k_carts", [5, 10], "recall@k (carts)"),
        _curve("recall@k_orders", [5, 10], "recall@k (orders)"),
    ]
    baseline = [
        _curve("profit_vs_budget", [1, 2, 3], "profit (uplift)", "budget"),
        _curve("profit_vs_budget_random", [1, 2, 3], "profit (random)", "budget"),
    ]
    apart = [
        _curve("qini", [0, 1], "incremental conversions", "share"),
        _curve("gain", [0, 1], "incremental revenue", "share"),  # other unit: own plot
        _curve("recall@k_other_x", [5, 20], "recall@k (clicks)"),  # other x: own plot
    ]
    grouped = group_curves([*per_target, *baseline, *apart])
    assert [(c.name, list(c.series), c.y_label) for c in grouped] == [
        ("recall@k", ["clicks", "carts", "orders"], "recall@k"),
        ("profit_vs_budget", ["profit_vs_budget", "random"], "profit"),
        ("qini", ["qini"], "incremental conversions"),
        ("gain", ["gain"], "incremental revenue"),
        ("recall@k_other_x", ["recall@k_other_x"], "recall@k (clicks)"),
    ]
    assert grouped[0].series["carts"] == [5.0, 10.0] and grouped[0].x == [5, 10]
