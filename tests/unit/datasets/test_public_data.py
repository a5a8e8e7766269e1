"""Loaders against the real public data sets in ../shared/data (marker ``data``).

Each test skips with the folder it looked for when the data set is absent. Expected counts
come from the data README, the publishers' documentation or the files themselves.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from reclift.datasets.registry import DATASETS, LoadResult, load_dataset_result
from reclift.schema.tables import TABLES

pytestmark = pytest.mark.data

REPO_ROOT = Path(__file__).resolve().parents[3]


def data_root() -> Path:
    env = os.environ.get("RECLIFT_DATA_DIR")
    return Path(env) if env else REPO_ROOT / ".." / "shared" / "data"


def folder_of(name: str) -> Path:
    path = data_root() / DATASETS[name].folder
    if not path.is_dir():
        pytest.skip(
            f"data set {name!r} not found at {path} (set RECLIFT_DATA_DIR; download: "
            f"{DATASETS[name].download})"
        )
    return path


_CACHE: dict[tuple[str, tuple[tuple[str, object], ...]], LoadResult] = {}


def loaded(name: str, **options: object) -> LoadResult:
    key = (name, tuple(sorted(options.items())))
    if key not in _CACHE:
        _CACHE[key] = load_dataset_result(name, folder_of(name), **options)
    return _CACHE[key]


def check_contract(name: str, table: pa.Table) -> None:
    """The table obeys the canonical schema and the rules of its TableSpec."""
    spec = TABLES[name]
    assert table.schema.equals(spec.schema, check_metadata=False), (table.schema, spec.schema)
    assert [f.nullable for f in table.schema] == [f.nullable for f in spec.schema]
    for col in spec.required:
        assert table.column(col).null_count == 0, col
    for col, allowed in spec.enums.items():
        values = set(pc.unique(table.column(col).drop_null()).to_pylist())
        assert values <= set(allowed), (col, values)
    for col in spec.non_negative:
        if table.num_rows and table.column(col).null_count < table.num_rows:
            assert pc.min(table.column(col)).as_py() >= 0, col
    for col in spec.open_unit_interval:
        arr = table.column(col)
        assert pc.min(arr).as_py() > 0 and pc.max(arr).as_py() <= 1, col
    for col in spec.json_columns:
        sample = table.column(col).drop_null().to_pylist()[:200]
        assert all(isinstance(json.loads(v), dict) for v in sample), col
    if spec.key and table.num_rows:
        keys = table.select(list(spec.key)).group_by(list(spec.key)).aggregate([])
        assert keys.num_rows == table.num_rows, f"{name}: duplicate keys"


def check_all(result: LoadResult, name: str) -> None:
    assert set(result.tables) == set(DATASETS[name].tables)
    for table_name, table in result.tables.items():
        check_contract(table_name, table)


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def rows_where(table: pa.Table, **equal: object) -> list[dict[str, object]]:
    mask = None
    for col, value in equal.items():
        cond = pc.equal(table.column(col), pa.scalar(value))
        mask = cond if mask is None else pc.and_(mask, cond)
    return table.filter(mask).to_pylist()


def test_otto_fixture() -> None:
    folder = folder_of("otto")
    result = loaded("otto")
    check_all(result, "otto")
    events = result.tables["events"]
    lines = [json.loads(x) for x in (folder / "train_sample.jsonl").read_text().splitlines()]
    assert events.num_rows == sum(len(s["events"]) for s in lines)
    assert pc.count_distinct(events.column("session_id")).as_py() == len(lines) == 20
    first = lines[0]["events"][0]
    got = rows_where(events, session_id="0", item_id=str(first["aid"]))
    assert any(
        r["ts"] == datetime.fromtimestamp(first["ts"] / 1000, UTC) and r["event_type"] == "click"
        for r in got
    )
    assert events.column("user_id").equals(events.column("session_id"))
    kinds = {s["type"][:-1] for line in lines for s in line["events"]}
    assert set(pc.unique(events.column("event_type")).to_pylist()) == kinds


def test_yoochoose_splits() -> None:
    folder = folder_of("yoochoose")
    counts = {
        part: count_lines(folder / f"yoochoose-clicks-100k_{part}.txt") - 1
        for part in ("train_full", "test", "train_tr", "train_valid")
    }
    result = loaded("yoochoose")
    check_all(result, "yoochoose")
    events = result.tables["events"]
    assert events.num_rows == counts["train_full"] + counts["test"] == 83_846
    assert set(pc.unique(events.column("event_type")).to_pylist()) == {"click"}
    assert events.column("user_id").null_count == events.num_rows
    first = rows_where(events, session_id="1", item_id="214536502")
    assert first[0]["ts"] == datetime(2014, 4, 7, 8, 51, 9, 277000, tzinfo=UTC)
    test = loaded("yoochoose", split="test").tables["events"]
    assert test.num_rows == counts["test"]
    assert loaded("yoochoose", split="train_tr").tables["events"].num_rows == counts["train_tr"]
    split = result.extras["session_split"].to_pandas()
    assert set(split["split"]) == {"train", "test"}
    assert not split["session_id"].duplicated().any()  # train and test sessions are disjoint


def test_hillstrom_arms_and_outcomes() -> None:
    folder_of("hillstrom")
    result = loaded("hillstrom")
    check_all(result, "hillstrom")
    users = result.tables["users"]
    assert users.num_rows == 64_000
    attrs = json.loads(rows_where(users, user_id="1")[0]["attributes"])
    assert attrs == {
        "recency": 10,
        "history_segment": "2) $100 - $200",
        "history": 142.44,
        "mens": 1,
        "womens": 0,
        "zip_code": "Surburban",
        "newbie": 0,
        "channel": "Phone",
    }
    exp = result.tables["exposures"].to_pandas()
    treated = exp[exp.treatment].groupby("campaign_id").size().to_dict()
    controls = exp[~exp.treatment].groupby("campaign_id").size().to_dict()
    assert treated == {"mens": 21_307, "womens": 21_387}
    assert controls == {"mens": 21_306, "womens": 21_306}
    # every customer is in exactly one arm
    arm_of = exp[exp.treatment].set_index("user_id")["campaign_id"]
    assert arm_of.index.is_unique and len(arm_of) + 21_306 == 64_000
    # row 1 is a Womens E-Mail customer who neither visited nor bought
    assert arm_of["1"] == "womens"
    assert exp.revenue.sum() == pytest.approx(
        exp[exp.treatment].revenue.sum()
        + 2 * exp[(~exp.treatment) & (exp.campaign_id == "mens")].revenue.sum()
    )
    visits = loaded("hillstrom", outcome="visit", control="separate").tables["exposures"]
    assert visits.num_rows == 64_000
    assert set(pc.unique(visits.column("campaign_id")).to_pylist()) == {"mens", "womens", "control"}
    assert (
        pc.sum(visits.column("converted")).as_py()
        > pc.sum(result.tables["exposures"].column("converted")).as_py() / 2
    )  # visits are far more frequent than conversions


def test_lenta_subset() -> None:
    folder_of("lenta")
    result = loaded("lenta")
    check_all(result, "lenta")
    assert result.tables["users"].num_rows == 1_117
    exp = result.tables["exposures"]
    assert 0 < pc.sum(exp.column("treatment")).as_py() < exp.num_rows
    assert set(json.loads(result.tables["users"].column("attributes")[0].as_py())) == {
        "food_share_15d",
        "age",
        "is_women",
    }


def test_open_bandit_dataset() -> None:
    folder_of("obd")
    result = loaded("obd")
    check_all(result, "obd")
    log = result.tables["banner_log"]
    assert log.num_rows == 6 * 10_000
    assert set(pc.unique(log.column("position")).to_pylist()) == {1, 2, 3}
    assert set(pc.unique(log.column("reward")).to_pylist()) <= {0.0, 1.0}
    policy = pc.extract_regex(
        log.column("context").combine_chunks(), r'"behavior_policy":"(?P<p>[a-z]+)"'
    )
    campaign = pc.extract_regex(
        log.column("context").combine_chunks(), r'"campaign":"(?P<c>[a-z]+)"'
    )
    keyed = pa.table(
        {
            "policy": policy.field("p"),
            "campaign": campaign.field("c"),
            "propensity": log["propensity"],
        }
    )
    pairs = {
        (r["policy"], r["campaign"])
        for r in keyed.group_by(["policy", "campaign"]).aggregate([]).to_pylist()
    }
    assert pairs == {(p, c) for p in ("random", "bts") for c in ("all", "men", "women")}
    # uniform random logging: propensity is 1/80 (all), 1/34 (men), 1/46 (women)
    random_props = (
        keyed.filter(pc.equal(keyed["policy"], "random"))
        .group_by("campaign")
        .aggregate([("propensity", "min"), ("propensity", "max")])
    )
    for row in random_props.to_pylist():
        n = {"all": 80, "men": 34, "women": 46}[row["campaign"]]
        assert row["propensity_min"] == pytest.approx(1 / n) == row["propensity_max"]
    when = datetime(2019, 11, 24, 0, 0, 34, 762830, tzinfo=UTC)
    is_first = (pc.field("banner_id") == "all-14") & (pc.field("ts") == pa.scalar(when))
    first = log.filter(is_first).to_pylist()
    assert len(first) == 1 and first[0]["position"] == 3
    assert first[0]["propensity"] == pytest.approx(0.0125) and first[0]["reward"] == 0.0
    ctx = json.loads(first[0]["context"])
    assert (ctx["behavior_policy"], ctx["campaign"], ctx["row"]) == ("random", "all", 0)
    assert ctx["user_feature_0"] == "81ce123cbb5bd8ce818f60fb3586bba5"
    assert len(ctx["user_item_affinity"]) == 80
    items = result.tables["items"]
    assert items.num_rows == 80 + 34 + 46


def test_crowdflower() -> None:
    folder_of("crowdflower")
    result = loaded("crowdflower")
    check_all(result, "crowdflower")
    queries = result.tables["queries"]
    assert queries.num_rows == 6_948
    assert pc.count_distinct(queries.column("query")).as_py() == 183
    assert set(pc.unique(queries.column("relevance")).to_pylist()) == {1.0, 2.0, 3.0, 4.0}
    items = result.tables["items"].to_pandas().set_index("item_id")
    lights = rows_where(queries, query="led christmas lights")
    titles = {items.loc[r["item_id"], "title"] for r in lights}
    assert "Set of 10 Battery Operated Multi LED Train Christmas Lights - Clear Wire" in titles
    assert set(queries.column("item_id").to_pylist()) <= set(items.index)


def test_dunnhumby() -> None:
    folder_of("dunnhumby")
    result = loaded("dunnhumby")
    check_all(result, "dunnhumby")
    t = result.tables
    assert t["items"].num_rows == 92_331
    assert t["events"].num_rows == 75_000
    assert t["campaigns"].num_rows == 27
    assert t["exposures"].num_rows == 6_589
    assert pc.all(t["exposures"].column("treatment")).as_py()
    item = rows_where(t["items"], item_id="25671")[0]
    assert item["category"] == "GROCERY>FRZN ICE>ICE - CRUSHED/CUBED"
    assert json.loads(item["attributes"])["package_size"] == "22 LB"
    line = rows_where(t["events"], session_id="31625220889", item_id="940996")[0]
    assert line["user_id"] == "2261" and line["quantity"] == 1
    assert line["price"] == pytest.approx(3.86)
    assert line["ts"] == datetime(2017, 1, 28, 19, 6, 53, tzinfo=UTC)
    camp = rows_where(t["campaigns"], campaign_id="1")[0]
    assert camp["start"] == datetime(2017, 3, 3, tzinfo=UTC)
    assert camp["end"] == datetime(2017, 4, 10, tzinfo=UTC)
    assert sum(t["campaigns"].column("impressions").to_pylist()) == 6_589
    assert sum(t["campaigns"].column("orders").to_pylist()) == 2_102
    users = t["users"].to_pandas()
    with_demo = users.attributes.map(lambda a: json.loads(a)["has_demographics"])
    assert with_demo.sum() == 801
    assert pc.sum(t["exposures"].column("converted")).as_py() > 0


def test_online_retail_france() -> None:
    folder_of("online-retail-france")
    result = loaded("online-retail-france")
    check_all(result, "online-retail-france")
    events = result.tables["events"]
    notes = " ".join(result.notes)
    assert "skipped 149 cancellation" in notes
    assert "skipped 308 service" in notes
    assert events.num_rows == 8_557 - 149 - 308
    assert not any(s.startswith("C") for s in events.column("session_id").to_pylist())
    line = rows_where(events, session_id="536370", item_id="22728")[0]
    assert line["quantity"] == 24 and line["price"] == pytest.approx(3.75)
    assert line["user_id"] == "12583"
    assert line["ts"] == datetime(2010, 12, 1, 8, 45, tzinfo=UTC)  # GMT in winter
    summer = rows_where(events, session_id="556924")
    assert summer and summer[0]["user_id"] is None  # lines without CustomerID keep a null user
    assert summer[0]["ts"] == datetime(2011, 6, 15, 13, 14, tzinfo=UTC)  # BST -> UTC
    items = result.tables["items"].to_pandas().set_index("item_id")
    assert items.loc["22728", "title"] == "ALARM CLOCK BAKELIKE PINK"
    assert "POST" not in items.index


def test_groceries() -> None:
    folder_of("groceries")
    result = loaded("groceries")
    check_all(result, "groceries")
    events = result.tables["events"]
    assert pc.count_distinct(events.column("session_id")).as_py() == 9_835
    assert result.tables["items"].num_rows == 169
    assert events.num_rows == 43_367
    milk = events.filter(pc.equal(events.column("item_id"), "whole milk"))
    assert pc.count_distinct(milk.column("session_id")).as_py() == 2_513
    first = rows_where(events, session_id="basket-00001")
    assert {r["item_id"] for r in first} == {
        "citrus fruit",
        "semi-finished bread",
        "margarine",
        "ready soups",
    }
    second = rows_where(events, session_id="basket-00002")
    assert second[0]["ts"] - first[0]["ts"] == datetime(2000, 1, 1, 0, 1) - datetime(2000, 1, 1)


def test_instacart() -> None:
    folder = folder_of("instacart")
    result = loaded("instacart")
    check_all(result, "instacart")
    t = result.tables
    assert t["users"].num_rows == 64
    lines = sum(count_lines(folder / f"order_products__{s}.csv") - 1 for s in ("prior", "train"))
    assert t["events"].num_rows == lines
    assert result.extras["orders"].num_rows == 1_000
    product = rows_where(t["items"], item_id="23")[0]
    assert product["title"] == "Organic Turkey Burgers"
    assert product["category"].count(">") == 1
    # user 1: first order (day 0, 08:00); second is 15 days later at 07:00
    first = rows_where(t["events"], session_id="2539329")
    second = rows_where(t["events"], session_id="2398795")
    assert min(r["ts"] for r in first) == datetime(2017, 1, 1, 8, tzinfo=UTC)
    assert min(r["ts"] for r in second) == datetime(2017, 1, 16, 7, tzinfo=UTC)
    assert {r["user_id"] for r in first} == {"1"}


def test_movielens_100k() -> None:
    folder_of("movielens-100k")
    result = loaded("movielens-100k")
    check_all(result, "movielens-100k")
    t = result.tables
    assert t["events"].num_rows == 100_000
    assert t["users"].num_rows == 943
    assert t["items"].num_rows == 1_682
    toy = rows_where(t["items"], item_id="1")[0]
    assert toy["title"] == "Toy Story (1995)" and toy["category"] == "Animation"
    assert json.loads(toy["attributes"])["genres"] == ["Animation", "Children's", "Comedy"]
    assert json.loads(rows_where(t["users"], user_id="1")[0]["attributes"]) == {
        "age": 24,
        "gender": "M",
        "occupation": "technician",
        "zip_code": "85711",
    }
    ev = rows_where(t["events"], user_id="196", item_id="242")[0]
    assert ev["event_type"] == "view"  # rated 3
    assert ev["ts"] == datetime.fromtimestamp(881250949, UTC)
    ratings = result.extras["ratings"].to_pandas()
    assert (ratings.rating >= 4).sum() == pc.sum(
        pc.equal(t["events"].column("event_type"), "order")
    ).as_py()
    assert ratings.fold.value_counts().to_dict() == {k: 20_000 for k in range(1, 6)}
    assert ratings.ua_test.sum() == ratings.ub_test.sum() == 9_430
    assert not (ratings.ua_test & ratings.ub_test).any()


def test_movielens_official_split() -> None:
    from reclift.datasets.movielens import load_split

    train, test = load_split(folder_of("movielens-100k"), "u1")
    assert (train.num_rows, test.num_rows) == (80_000, 20_000)
    train, test = load_split(folder_of("movielens-100k"), "ua")
    assert (train.num_rows, test.num_rows) == (90_570, 9_430)
    assert set(pc.value_counts(test.column("user_id")).field("counts").to_pylist()) == {10}


def test_every_registered_data_set_loads() -> None:
    """Done means every data set in ../shared/data loads."""
    for name in DATASETS:
        result = loaded(name)
        check_all(result, name)
        assert all(t.num_rows > 0 for t in result.tables.values()), name
