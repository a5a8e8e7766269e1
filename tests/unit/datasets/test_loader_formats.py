"""Loaders on small made-up files in each public format (no real data needed), bad inputs."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from reclift.datasets import (
    crowdflower,
    dunnhumby,
    groceries,
    hillstrom,
    instacart,
    lenta,
    movielens,
    obd,
    online_retail,
    otto,
    yoochoose,
)
from reclift.datasets._base import DatasetError, build_table
from reclift.datasets.registry import DATASETS, is_present, load_dataset, load_dataset_result
from reclift.errors import ReclifError
from reclift.schema.tables import TABLES


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_gz(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)
    return path


def assert_canonical(tables: dict[str, pa.Table]) -> None:
    for name, table in tables.items():
        assert table.schema.equals(TABLES[name].schema), name
        assert [f.nullable for f in table.schema] == [f.nullable for f in TABLES[name].schema]


def by(table: pa.Table, **equal: object) -> list[dict[str, object]]:
    return [r for r in table.to_pylist() if all(r[k] == v for k, v in equal.items())]


# --- OTTO -------------------------------------------------------------------------------


def otto_lines() -> str:
    sessions = [
        {
            "session": 7,
            "events": [
                {"aid": 11, "ts": 1_700_000_000_123, "type": "clicks"},
                {"aid": 12, "ts": 1_700_000_100_000, "type": "carts"},
                {"aid": 12, "ts": 1_700_000_200_000, "type": "orders"},
            ],
        },
        {"session": 8, "events": [{"aid": 11, "ts": 1_700_000_300_000, "type": "clicks"}]},
    ]
    return "\n".join(json.dumps(s) for s in sessions) + "\n"


def test_otto_format(tmp_path: Path) -> None:
    write(tmp_path / "train_sample.jsonl", otto_lines())
    result = otto.load(tmp_path)
    assert_canonical(result.tables)
    events = result.tables["events"]
    assert events.num_rows == 4
    cart = by(events, session_id="7", event_type="cart")[0]
    assert cart["item_id"] == "12" and cart["user_id"] == "7"
    first = by(events, session_id="7", event_type="click")[0]
    assert first["ts"] == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)


def test_otto_gzip_file_and_unknown_type(tmp_path: Path) -> None:
    gz = write_gz(tmp_path / "x.jsonl.gz", otto_lines())
    assert otto.load(gz).tables["events"].num_rows == 4
    bad = write(
        tmp_path / "bad" / "train_sample.jsonl",
        json.dumps({"session": 1, "events": [{"aid": 1, "ts": 1, "type": "likes"}]}),
    )
    with pytest.raises(DatasetError, match="unknown event type"):
        otto.load(bad.parent)
    broken = write(tmp_path / "broken" / "train_sample.jsonl", '{"session": 1, "events": [\n')
    with pytest.raises(DatasetError, match="cannot parse"):
        otto.load(broken.parent)


# --- YooChoose ----------------------------------------------------------------------------


def test_yoochoose_format(tmp_path: Path) -> None:
    header = "SessionId\tItemId\tTime\n"
    write(
        tmp_path / "yoochoose-clicks-100k_train_full.txt",
        header + "3\t100\t1396437466.94\n3\t101\t1396437500.5\n",
    )
    write(tmp_path / "yoochoose-clicks-100k_test.txt", header + "9\t100\t1396860669.277\n")
    result = yoochoose.load(tmp_path)
    assert_canonical(result.tables)
    events = result.tables["events"]
    assert events.num_rows == 3
    row = by(events, session_id="9")[0]
    assert row["ts"] == datetime(2014, 4, 7, 8, 51, 9, 277000, tzinfo=UTC)
    assert row["event_type"] == "click" and row["user_id"] is None
    assert dict(zip(*result.extras["session_split"].to_pydict().values(), strict=True)) == {
        "3": "train",
        "9": "test",
    }
    assert yoochoose.load(tmp_path, split="test").tables["events"].num_rows == 1
    with pytest.raises(DatasetError, match="split='nope' is not one of"):
        yoochoose.load(tmp_path, split="nope")


def test_yoochoose_wrong_header(tmp_path: Path) -> None:
    write(tmp_path / "yoochoose-clicks-100k_train_full.txt", "a\tb\n1\t2\n")
    write(tmp_path / "yoochoose-clicks-100k_test.txt", "a\tb\n1\t2\n")
    with pytest.raises(DatasetError, match=r"lacks column\(s\) SessionId, ItemId, Time"):
        yoochoose.load(tmp_path)


# --- Hillstrom ------------------------------------------------------------------------------

HILLSTROM_HEADER = (
    "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,"
    "visit,conversion,spend\n"
)


def test_hillstrom_format(tmp_path: Path) -> None:
    write(
        tmp_path / "hillstrom.csv",
        HILLSTROM_HEADER
        + '3,"7) $1,000 +",1200.5,1,0,Urban,1,Web,Mens E-Mail,1,1,49.9\n'
        + "5,1) $0 - $100,50.0,0,1,Rural,0,Phone,Womens E-Mail,1,0,0\n"
        + "9,1) $0 - $100,20.0,0,1,Rural,0,Phone,No E-Mail,0,0,0\n",
    )
    result = hillstrom.load(tmp_path)
    assert_canonical(result.tables)
    users = result.tables["users"]
    assert json.loads(by(users, user_id="1")[0]["attributes"])["history_segment"] == "7) $1,000 +"
    exp = result.tables["exposures"]
    assert exp.num_rows == 4  # two treated + the control customer in both campaigns
    assert by(exp, user_id="1")[0] | {"ts": None} == {
        "user_id": "1",
        "campaign_id": "mens",
        "treatment": True,
        "ts": None,
        "converted": True,
        "revenue": 49.9,
    }
    assert {(r["campaign_id"], r["treatment"]) for r in by(exp, user_id="3")} == {
        ("mens", False),
        ("womens", False),
    }
    visit = hillstrom.load(tmp_path, outcome="visit", control="separate").tables["exposures"]
    assert by(visit, user_id="2")[0]["converted"] is True
    assert by(visit, user_id="3")[0]["campaign_id"] == "control"


def test_hillstrom_unknown_segment(tmp_path: Path) -> None:
    write(tmp_path / "hillstrom.csv", HILLSTROM_HEADER + "3,x,1,1,0,Urban,1,Web,SMS,0,0,0\n")
    with pytest.raises(DatasetError, match=r"unknown segment value\(s\) \['SMS'\]"):
        hillstrom.load(tmp_path)


# --- Lenta ----------------------------------------------------------------------------------


def test_lenta_format(tmp_path: Path) -> None:
    write(tmp_path / "lenta.csv", "group,response_att,age\ntest,1,30\ncontrol,0,41\n")
    result = lenta.load(tmp_path)
    assert_canonical(result.tables)
    exp = result.tables["exposures"].to_pylist()
    assert [(r["treatment"], r["converted"]) for r in exp] == [(True, True), (False, False)]


# --- Open Bandit ------------------------------------------------------------------------------


def obd_log(n_items: int) -> str:
    aff = ",".join(f"user-item_affinity_{i}" for i in range(n_items))
    head = f",timestamp,item_id,position,click,propensity_score,user_feature_0,{aff}\n"
    zeros = ",".join(["0.0"] * n_items)
    return (
        head
        + f"0,2019-11-24 00:00:01.5+00:00,1,2,1,0.5,abc,{zeros}\n"
        + f"1,2019-11-24 00:00:02+00:00,0,1,0,0.5,def,{zeros}\n"
    )


def test_obd_format(tmp_path: Path) -> None:
    folder = tmp_path / "obd" / "random" / "men"
    write(folder / "men.csv", obd_log(2))
    write(
        folder / "item_context.csv",
        ",item_id,item_feature_0,item_feature_1\n0,0,0.5,h0\n1,1,-1.0,h1\n",
    )
    result = obd.load(tmp_path)
    assert_canonical(result.tables)
    log = result.tables["banner_log"].to_pylist()
    assert log[0]["banner_id"] == "men-1" and log[0]["reward"] == 1.0
    assert log[0]["ts"] == datetime(2019, 11, 24, 0, 0, 1, 500000, tzinfo=UTC)
    ctx = json.loads(log[0]["context"])
    assert ctx["behavior_policy"] == "random" and ctx["user_feature_0"] == "abc"
    assert ctx["user_item_affinity"] == [0.0, 0.0]
    items = result.tables["items"].to_pylist()
    assert [i["item_id"] for i in items] == ["men-0", "men-1"]
    assert json.loads(items[1]["attributes"])["hashed_features"] == {"random": ["h1"]}


def test_obd_bad_propensity_and_empty(tmp_path: Path) -> None:
    folder = tmp_path / "obd" / "bts" / "all"
    write(folder / "all.csv", obd_log(1).replace("0.5,abc", "1.5,abc"))
    with pytest.raises(DatasetError, match=r"propensity outside \(0, 1\]"):
        obd.load(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no log found"):
        obd.load(tmp_path / "empty")


# --- CrowdFlower ------------------------------------------------------------------------------


def test_crowdflower_format(tmp_path: Path) -> None:
    write(
        tmp_path / "train.csv",
        "id,query,product_title,product_description,median_relevance,relevance_variance\n"
        '1,red shoes,Red Shoe,"A shoe, red",4,0.0\n'
        '2,blue shoes,Red Shoe,"A shoe, red",1,0.47\n'
        "3,blue shoes,Blue Shoe,,3,0.0\n",
    )
    write(tmp_path / "test.csv", "id,query,product_title,product_description\n9,hat,Hat,\n")
    result = crowdflower.load(tmp_path)
    assert_canonical(result.tables)
    items = result.tables["items"]
    assert items.num_rows == 3
    red = crowdflower.product_id("Red Shoe", "A shoe, red")
    assert json.loads(by(items, item_id=red)[0]["attributes"]) == {"description": "A shoe, red"}
    queries = result.tables["queries"]
    assert sorted(r["relevance"] for r in by(queries, item_id=red)) == [1.0, 4.0]
    assert by(queries, query="hat")[0]["relevance"] is None
    assert crowdflower.load(tmp_path, include_test=False).tables["queries"].num_rows == 3


# --- dunnhumby ------------------------------------------------------------------------------


def write_dunnhumby(root: Path) -> None:
    write_gz(
        root / "products.csv.gz",
        "product_id,manufacturer_id,department,brand,product_category,product_type,package_size\n"
        "10,2,GROCERY,National,SOUP,CANNED SOUP,10 OZ\n11,3,MISC,Private,,,\n",
    )
    write_gz(
        root / "transactions_sample.csv.gz",
        "household_id,store_id,basket_id,product_id,quantity,sales_value,retail_disc,"
        "coupon_disc,coupon_match_disc,week,transaction_timestamp\n"
        "1,300,555,10,2.0,3.0,0.0,0.0,0.0,1,2017-01-02 10:00:00+00:00\n"
        "1,300,555,11,0.0,0.0,0.0,0.0,0.0,1,2017-01-02 10:00:00+00:00\n"
        "7,300,556,10,1.0,1.5,0.0,0.0,0.0,1,2017-01-03 11:30:00+00:00\n",
    )
    write_gz(
        root / "campaign_descriptions.csv.gz",
        "campaign_id,campaign_type,start_date,end_date\n1,Type A,2017-02-01,2017-02-28\n",
    )
    write_gz(root / "campaigns.csv.gz", "campaign_id,household_id\n1,1\n1,7\n")
    write_gz(
        root / "coupon_redemptions.csv.gz",
        "household_id,coupon_upc,campaign_id,redemption_date\n7,999,1,2017-02-10\n",
    )
    write_gz(
        root / "demographics.csv.gz",
        "household_id,age,income,home_ownership,marital_status,household_size,"
        "household_comp,kids_count\n1,45-54,50-74K,Homeowner,Married,2,2 Adults No Kids,0\n",
    )


def test_dunnhumby_format(tmp_path: Path) -> None:
    write_dunnhumby(tmp_path)
    result = dunnhumby.load(tmp_path)
    assert_canonical(result.tables)
    t = result.tables
    assert by(t["items"], item_id="10")[0]["category"] == "GROCERY>SOUP>CANNED SOUP"
    assert by(t["items"], item_id="11")[0]["category"] == "MISC"
    ev = by(t["events"], item_id="10", session_id="555")[0]
    assert (ev["user_id"], ev["quantity"], ev["price"]) == ("1", 2, 1.5)
    assert by(t["events"], item_id="11")[0]["price"] is None  # quantity 0
    camp = t["campaigns"].to_pylist()[0]
    assert (camp["impressions"], camp["orders"]) == (2, 1)
    assert camp["end"] == datetime(2017, 3, 1, tzinfo=UTC)
    exp = {r["user_id"]: r["converted"] for r in t["exposures"].to_pylist()}
    assert exp == {"1": False, "7": True}
    attrs = {r["user_id"]: json.loads(r["attributes"]) for r in t["users"].to_pylist()}
    assert attrs["1"]["has_demographics"] and not attrs["7"]["has_demographics"]


# --- Online Retail ------------------------------------------------------------------------------


def test_online_retail_format(tmp_path: Path) -> None:
    write(
        tmp_path / "france.csv",
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "100,22728,ALARM CLOCK ,2,7/1/2011 9:30,3.75,12583,France\n"
        "100,POST,POSTAGE,1,7/1/2011 9:30,18.0,12583,France\n"
        'C101,22728,"ALARM, CLOCK",-1,7/2/2011 10:00,3.75,12583,France\n'
        "102,22728,ALARM CLOCK,1,1/5/2011 10:00,4.25,,France\n",
    )
    result = online_retail.load(tmp_path)
    assert_canonical(result.tables)
    events = result.tables["events"]
    assert events.num_rows == 2
    summer = by(events, session_id="100")[0]
    assert summer["ts"] == datetime(2011, 7, 1, 8, 30, tzinfo=UTC)  # BST is UTC+1
    winter = by(events, session_id="102")[0]
    assert winter["ts"] == datetime(2011, 1, 5, 10, 0, tzinfo=UTC) and winter["user_id"] is None
    item = result.tables["items"].to_pylist()[0]
    assert item["title"] == "ALARM CLOCK" and item["price"] == pytest.approx(4.0)
    assert any("1 cancellation" in n for n in result.notes)
    assert any("1 service" in n for n in result.notes)
    kept = online_retail.load(tmp_path, keep_service_lines=True).tables["events"]
    assert kept.num_rows == 3


def test_online_retail_bad_date(tmp_path: Path) -> None:
    write(
        tmp_path / "france.csv",
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        "100,22728,A,2,yesterday,3.75,1,France\n",
    )
    with pytest.raises(DatasetError, match="first at line 2"):
        online_retail.load(tmp_path)


# --- Groceries ---------------------------------------------------------------------------------


def test_groceries_format(tmp_path: Path) -> None:
    write(tmp_path / "groceries.csv", "whole milk,yogurt \nbeer\nyogurt,whole milk,yogurt\n")
    result = groceries.load(tmp_path)
    assert_canonical(result.tables)
    events = result.tables["events"]
    assert events.num_rows == 5  # the repeated yogurt in basket 3 counts once
    assert {r["item_id"] for r in by(events, session_id="basket-00001")} == {"whole milk", "yogurt"}
    third = by(events, session_id="basket-00003")[0]
    assert third["ts"] == datetime(2000, 1, 1, 0, 2, tzinfo=UTC)
    assert result.tables["items"].column("item_id").to_pylist() == ["beer", "whole milk", "yogurt"]


def test_groceries_empty(tmp_path: Path) -> None:
    write(tmp_path / "groceries.csv", "\n\n")
    with pytest.raises(DatasetError, match="holds no basket"):
        groceries.load(tmp_path)


# --- Instacart --------------------------------------------------------------------------------


def write_instacart(root: Path) -> None:
    write(root / "aisles.csv", "aisle_id,aisle\n1,fresh fruits\n")
    write(root / "departments.csv", "department_id,department\n4,produce\n")
    write(
        root / "products.csv",
        "product_id,product_name,aisle_id,department_id\n5,Banana,1,4\n6,Apple,1,4\n",
    )
    write(
        root / "orders.csv",
        "order_id,user_id,eval_set,order_number,order_dow,order_hour_of_day,days_since_prior_order\n"
        "20,1,prior,1,2,8,\n21,1,prior,2,3,7,15.0\n22,1,train,3,3,23,2.5\n23,2,test,1,0,10,\n",
    )
    write(
        root / "order_products__prior.csv",
        "order_id,product_id,add_to_cart_order,reordered\n20,5,1,0\n20,6,2,0\n21,5,1,1\n",
    )
    write(
        root / "order_products__train.csv",
        "order_id,product_id,add_to_cart_order,reordered\n22,6,1,1\n",
    )


def test_instacart_format(tmp_path: Path) -> None:
    write_instacart(tmp_path)
    result = instacart.load(tmp_path)
    assert_canonical(result.tables)
    t = result.tables
    assert by(t["items"], item_id="5")[0]["category"] == "produce>fresh fruits"
    ts = {(r["session_id"], r["item_id"]): r["ts"] for r in t["events"].to_pylist()}
    assert ts[("20", "5")] == datetime(2017, 1, 1, 8, tzinfo=UTC)
    assert ts[("20", "6")] == datetime(2017, 1, 1, 8, 0, 1, tzinfo=UTC)  # add-to-cart order
    assert ts[("21", "5")] == datetime(2017, 1, 16, 7, tzinfo=UTC)
    assert ts[("22", "6")] == datetime(2017, 1, 18, 23, tzinfo=UTC)  # 15 + 2.5 days, 23:00
    assert t["users"].num_rows == 2
    assert result.extras["orders"].num_rows == 4


# --- MovieLens -------------------------------------------------------------------------------


def write_movielens(root: Path) -> None:
    write(root / "u.data", "1\t1\t5\t881250949\n1\t2\t2\t881250950\n2\t1\t4\t881350949\n")
    flags = ["0"] * 19
    toy = flags.copy()
    toy[3] = toy[5] = "1"
    write(
        root / "u.item",
        "1|Toy Story (1995)|01-Jan-1995||http://x/1|" + "|".join(toy) + "\n"
        "2|Old One (1940)|||http://x/2|" + "|".join(flags) + "\n",
    )
    write(root / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
    write(root / "u1.test", "1\t2\t2\t881250950\n")
    write(root / "u1.base", "1\t1\t5\t881250949\n2\t1\t4\t881350949\n")


def test_movielens_format(tmp_path: Path) -> None:
    write_movielens(tmp_path)
    result = movielens.load(tmp_path)
    assert_canonical(result.tables)
    t = result.tables
    toy = by(t["items"], item_id="1")[0]
    assert toy["category"] == "Animation"
    assert json.loads(toy["attributes"])["genres"] == ["Animation", "Comedy"]
    assert json.loads(toy["attributes"])["year"] == 1995
    assert by(t["items"], item_id="2")[0]["category"] is None
    kinds = {(r["user_id"], r["item_id"]): r["event_type"] for r in t["events"].to_pylist()}
    assert kinds == {("1", "1"): "order", ("1", "2"): "view", ("2", "1"): "order"}
    assert by(t["events"], user_id="1")[0]["session_id"] == "1-19971204"
    all_orders = movielens.load(tmp_path, positive_threshold=None).tables["events"]
    assert set(all_orders.column("event_type").to_pylist()) == {"order"}
    ratings = result.extras["ratings"].to_pylist()
    assert {(r["item_id"], r["user_id"]): r["fold"] for r in ratings}[("2", "1")] == 1
    assert any("ua.test" in n for n in result.notes)
    train, test = movielens.load_split(tmp_path, "u1")
    assert (train.num_rows, test.num_rows) == (2, 1)
    with pytest.raises(DatasetError, match=r"file not found: .*ua\.base"):
        movielens.load_split(tmp_path, "ua")


def test_movielens_bad_rating(tmp_path: Path) -> None:
    write_movielens(tmp_path)
    write(tmp_path / "u.data", "1\t1\t5\t1\n1\t2\t9\t2\n")
    with pytest.raises(DatasetError, match=r"rating outside 1\.\.5 at line 2"):
        movielens.load(tmp_path)


# --- registry and missing data -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_missing_folder_names_path_and_download(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ReclifError) as err:
        load_dataset(name, missing)
    message = str(err.value)
    assert str(missing) in message
    assert DATASETS[name].download in message
    assert not is_present(name, missing)


@pytest.mark.parametrize("name", sorted(n for n in DATASETS if DATASETS[n].files))
def test_missing_file_names_path_and_download(name: str, tmp_path: Path) -> None:
    with pytest.raises(ReclifError) as err:
        load_dataset(name, tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message and DATASETS[name].download in message


def test_registry_info_is_complete() -> None:
    for name, info in DATASETS.items():
        assert info.name == name
        assert info.license and info.download and info.folder
        assert set(info.tables) <= set(TABLES)


def test_unknown_data_set_and_option(tmp_path: Path) -> None:
    with pytest.raises(ReclifError, match="unknown data set 'nope'; expected one of: otto"):
        load_dataset("nope")
    with pytest.raises(ReclifError, match=r"unknown option\(s\) colour; accepted: outcome"):
        load_dataset("hillstrom", tmp_path, colour="red")


def test_registry_loads_from_given_path(tmp_path: Path) -> None:
    write_movielens(tmp_path)
    result = load_dataset_result("movielens-100k", tmp_path, positive_threshold=5)
    assert sorted(result.tables) == ["events", "items", "users"]
    assert is_present("movielens-100k", tmp_path)


def test_default_data_dir_honours_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "groceries_arules" / "groceries.csv", "beer\n")
    monkeypatch.setenv("RECLIFT_DATA_DIR", str(tmp_path))
    assert load_dataset("groceries")["events"].num_rows == 1


def test_build_table_rejects_nulls_in_required_columns() -> None:
    with pytest.raises(ValueError, match="nulls in a required column"):
        build_table("users", {"user_id": [None, "a"]})
