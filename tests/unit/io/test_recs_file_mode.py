"""``reclift recs fit/predict`` (file mode) and ``reclift train`` end to end through main()."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reclift.cli.main import main
from reclift.models.recs import PopularRecommender, load_recommender
from reclift.workspace.artifacts import ArtifactStore
from reclift.workspace.ingest import ingest
from reclift.workspace.store import Workspace

EVENTS_CSV = """customer,sku,kind,when
007,a,view,2024-01-01T00:00:00Z
007,b,order,2024-01-01T00:00:00Z
8,b,click,2024-01-01T00:00:00Z
8,c,cart,2024-01-01T00:00:00Z
9,c,view,2024-01-01T00:00:00Z
"""
ITEMS_CSV = """sku,cat
a,shoes>running
b,shoes>trail
c,bags
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0), capsys.readouterr().err


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "ev.csv").write_text(EVENTS_CSV)
    (tmp_path / "items.csv").write_text(ITEMS_CSV)
    (tmp_path / "users.csv").write_text("customer\n007\n8\nnew\n")
    return tmp_path


def fit_args(d: Path) -> list[str]:
    return [
        "recs", "fit", "--events", str(d / "ev.csv"), "--items", str(d / "items.csv"),
        "--model", str(d / "model"), "--user-col", "customer", "--item-col", "sku",
        "--event-type-col", "kind", "--ts-col", "when", "--category-col", "cat",
    ]  # fmt: skip


def test_fit_then_predict_with_fit_time_columns(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(fit_args(files), capsys)
    assert code == 0, err
    meta = ArtifactStore(files / "model").load("popular").meta
    assert meta["file_mode"]["columns"]["events"]["user"] == "customer"
    out = files / "out.csv"
    code, err = run(
        ["recs", "predict", "--model", str(files / "model"), "--users", str(files / "users.csv"),
         "--out", str(out), "-k", "2", "--exclude-seen"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    rows = pa.csv.read_csv(out, convert_options=pa.csv.ConvertOptions(
        column_types={"user_id": pa.string()})).to_pylist()  # fmt: skip
    # scores: b = 8 + 2 = 10, c = 4 + 1 = 5, a = 1
    assert rows == [
        {"user_id": "007", "rank": 1, "item_id": "c", "score": 5.0},
        {"user_id": "8", "rank": 1, "item_id": "a", "score": 1.0},
        {"user_id": "new", "rank": 1, "item_id": "b", "score": 10.0},
        {"user_id": "new", "rank": 2, "item_id": "c", "score": 5.0},
    ]


def test_predict_parquet_category_and_user_id_default(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(fit_args(files), capsys)[0] == 0
    (files / "u.csv").write_text("user_id\nx\n")
    out = files / "out.parquet"
    code, err = run(
        ["recs", "predict", "--model", str(files / "model"), "--users", str(files / "u.csv"),
         "--out", str(out), "--category", "shoes"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    table = pq.read_table(out)
    assert table.column_names == ["user_id", "item_id", "rank", "score"]
    assert table.schema.field("rank").type == pa.int32()
    assert table.schema.field("score").type == pa.float32()
    assert table.column("item_id").to_pylist() == ["b", "a"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--user-col", "nope"], "ev.csv: missing column 'nope' for role 'user'"),
        (["--event-weights", "view=x"], "--event-weights: cannot parse 'view=x'"),
        (["--event-weights", "buy=1"], "unknown event type 'buy'"),
        (["--half-life-days", "-1"], "half_life_days must be a positive number"),
        (["--algo", "magic"], "unknown recommender 'magic'"),
        (["--ts-col", "sku"], "ev.csv: column 'sku', row 1: 'a' is not a timestamp"),
    ],
)
def test_fit_errors_exit_2_with_one_line(
    files: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    base = ["recs", "fit", "--events", str(files / "ev.csv"), "--model", str(files / "m"),
            "--item-col", "sku", "--event-type-col", "kind"]  # fmt: skip
    code, err = run(base + argv, capsys)
    assert code == 2
    assert message in " ".join(err.split())
    assert "Traceback" not in err


def test_fit_without_mapping_names_the_option(
    files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(
        ["recs", "fit", "--events", str(files / "ev.csv"), "--model", str(files / "m")], capsys
    )
    assert code == 2
    assert "missing column 'item_id' for role 'item' (map another column with --item-col)" in (
        " ".join(err.split())
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-k", "0"], "k must be a positive integer, got 0"),
        (["--user-col", "zz"], "users.csv: missing column 'zz' for role 'user'"),
        (["--category", "toys"], "unknown category 'toys'"),
    ],
)
def test_predict_errors(
    files: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert run(fit_args(files), capsys)[0] == 0
    code, err = run(
        ["recs", "predict", "--model", str(files / "model"), "--users", str(files / "users.csv"),
         "--out", str(files / "o.csv"), *extra],
        capsys,
    )  # fmt: skip
    assert code == 2
    assert message in " ".join(err.split())
    assert not (files / "o.csv").exists()


def test_predict_missing_model(files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(
        ["recs", "predict", "--model", str(files / "nothing"), "--users",
         str(files / "users.csv"), "--out", str(files / "o.csv")],
        capsys,
    )  # fmt: skip
    assert code == 2 and "no such model directory" in err


WS_EVENTS = """user_id,session_id,item_id,event_type,ts,quantity,price,query
u1,s1,a,view,2024-01-01T00:00:00Z,,,
u1,s1,b,view,2024-01-01T00:01:00Z,,,
u2,s2,b,order,2024-01-01T00:02:00Z,1,9.5,
"""
WS_ITEMS = """item_id,title,category,brand,price,attributes
a,A,x>1,,1.0,
b,B,y,,2.0,
"""


def make_workspace(root: Path, with_events: bool = True) -> Workspace:
    # ingestion validates through reclift.schema.validate (written in parallel)
    pytest.importorskip("reclift.schema.validate", reason="reclift.schema.validate not built yet")
    ws = Workspace.init(root / "ws")
    (root / "events.csv").write_text(WS_EVENTS)
    (root / "items.csv").write_text(WS_ITEMS)
    if with_events:
        ingest(ws, "events", root / "events.csv", progress=False)
    ingest(ws, "items", root / "items.csv", progress=False)
    return ws


def test_train_publishes_popular_into_the_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = make_workspace(tmp_path)
    code, err = run(["train", str(ws.root), "--engine", "duckdb"], capsys)
    assert code == 0, err
    artifact = ws.artifacts.load("popular")
    assert artifact.meta["engine"] == "duckdb" and artifact.meta["n_events"] == 3
    model = load_recommender(ws.artifacts, "popular")
    assert isinstance(model, PopularRecommender)
    assert model.top(2)[0].tolist() == ["b", "a"]
    assert model.top(2)[1].tolist() == [9.0, 1.0]
    assert model.top(2, category="x")[0].tolist() == ["a"]
    code, err = run(["train", str(ws.root), "--engine", "flink"], capsys)
    assert code == 2 and "--engine must be duckdb or spark" in err


def test_train_without_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ws = make_workspace(tmp_path, with_events=False)
    code, err = run(["train", str(ws.root)], capsys)
    assert code == 2 and "no events ingested" in err


def test_train_and_serve_refuse_a_non_workspace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["train", str(tmp_path)], ["serve", str(tmp_path)]):
        code, err = run(argv, capsys)
        assert code == 2
        assert "is not a reclift workspace" in err


RATINGS_CSV = """uid,mid,stars,t,extra
1,m1,5,881250949,x
1,m2,3,881250950,x
2,m1,4,881250951,x
2,m3,2,881250952,x
3,m2,4,881250953,x
3,m3,5,881250954,x
4,m1,1,881250955,x
"""
MOVIES_CSV = """mid,genre,cost
m1,drama,3.0
m2,comedy,12.0
m3,drama,8.0
m4,comedy,1.0
"""


def new_fit(d: Path, *extra: str) -> list[str]:
    (d / "r.csv").write_text(RATINGS_CSV)
    (d / "movies.csv").write_text(MOVIES_CSV)
    return [
        "recs", "fit", "--interactions", str(d / "r.csv"), "--user-col", "uid",
        "--item-col", "mid", "--rating-col", "stars", "--time-col", "t",
        "--model-dir", str(d / "md"), "--items", str(d / "movies.csv"),
        "--category-col", "genre", "--item-price-col", "cost", *extra,
    ]  # fmt: skip


def read_out(path: Path) -> list[dict[str, object]]:
    opts = pa.csv.ConvertOptions(column_types={"user_id": pa.string()})
    return pa.csv.read_csv(path, convert_options=opts).to_pylist()


def test_interactions_model_dir_auto_and_all_users(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = run(new_fit(tmp_path, "--algo", "auto"), capsys)
    assert code == 0, err
    artifact = ArtifactStore(tmp_path / "md").load("ease")  # auto: users known, tiny catalog
    assert artifact.meta["file_mode"]["algo"] == "auto"
    assert artifact.meta["file_mode"]["columns"]["events"]["rating"] == "stars"
    out = tmp_path / "o.csv"
    code, err = run(["recs", "predict", "--model-dir", str(tmp_path / "md"), "--k", "10",
                     "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    rows = read_out(out)
    assert list(rows[0]) == ["user_id", "item_id", "rank", "score"]
    seen = {("1", "m1"), ("1", "m2"), ("2", "m1"), ("2", "m3"), ("3", "m2"), ("3", "m3"),
            ("4", "m1")}  # fmt: skip
    got = {(str(r["user_id"]), str(r["item_id"])) for r in rows}
    # every fitted user answered, seen items excluded by default; m4 has no interactions
    assert {u for u, _ in got} == {"1", "2", "3", "4"}
    assert not got & seen
    assert got == {("1", "m3"), ("2", "m2"), ("3", "m1"), ("4", "m2"), ("4", "m3")}
    code, err = run(["recs", "predict", "--model-dir", str(tmp_path / "md"), "--k", "3",
                     "--out", str(out), "--include-seen"], capsys)  # fmt: skip
    assert code == 0, err
    assert seen <= {(str(r["user_id"]), str(r["item_id"])) for r in read_out(out)}


def test_predict_filters_price_allow_and_exclude(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(new_fit(tmp_path, "--algo", "popular"), capsys)[0] == 0
    (tmp_path / "u.csv").write_text("uid\nnew\n")
    (tmp_path / "stock.csv").write_text("item_id\nm1\nm3\n")
    (tmp_path / "deny.csv").write_text("sku\nm1\n")
    out = tmp_path / "o.csv"
    base = ["recs", "predict", "--model-dir", str(tmp_path / "md"), "--users",
            str(tmp_path / "u.csv"), "--out", str(out)]  # fmt: skip
    # ratings as weights: m1 = 5 + 4 + 1 = 10, m2 = 3 + 4 = 7, m3 = 2 + 5 = 7
    assert run(base, capsys)[0] == 0
    assert [r["item_id"] for r in read_out(out)] == ["m1", "m2", "m3"]
    assert run([*base, "--max-price", "10"], capsys)[0] == 0
    assert [r["item_id"] for r in read_out(out)] == ["m1", "m3"]
    assert run([*base, "--allow-items", str(tmp_path / "stock.csv")], capsys)[0] == 0
    assert [r["item_id"] for r in read_out(out)] == ["m1", "m3"]
    assert run([*base, "--exclude-items", str(tmp_path / "deny.csv")], capsys)[0] == 0
    assert [r["item_id"] for r in read_out(out)] == ["m2", "m3"]
    assert run([*base, "--category", "comedy"], capsys)[0] == 0
    assert [r["item_id"] for r in read_out(out)] == ["m2"]
    code, err = run([*base, "--min-price", "9", "--max-price", "2"], capsys)
    assert code == 2 and "min_price 9.0 is above max_price 2.0" in err


def test_similar_and_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(new_fit(tmp_path, "--algo", "copurchase", "--param", '"basket"="user"'),
               capsys)[0] == 2  # fmt: skip
    code, err = run(new_fit(tmp_path, "--algo", "copurchase", "--param", "basket=user",
                            "--param", "similarity=count"), capsys)  # fmt: skip
    assert code == 0, err
    (tmp_path / "q.csv").write_text("item_id\nm1\n")
    out = tmp_path / "sim.csv"
    code, err = run(["recs", "similar", "--model-dir", str(tmp_path / "md"), "--items",
                     str(tmp_path / "q.csv"), "--out", str(out), "-k", "2"], capsys)  # fmt: skip
    assert code == 0, err
    rows = pa.csv.read_csv(out).to_pylist()
    # user baskets: {m1,m2}, {m1,m3}, {m2,m3}, {m1}: m1 pairs once with m2 and once with m3
    assert [(r["source_item_id"], r["item_id"], r["score"]) for r in rows] == [
        ("m1", "m2", 1.0), ("m1", "m3", 1.0)]  # fmt: skip
    code, err = run(["recs", "rules", "--model-dir", str(tmp_path / "md"), "--out",
                     str(tmp_path / "rules.csv"), "--min-confidence", "0.5"], capsys)  # fmt: skip
    assert code == 0, err
    got = {(r["antecedent"], r["consequent"]): r["confidence"]
           for r in pa.csv.read_csv(tmp_path / "rules.csv").to_pylist()}  # fmt: skip
    assert got == {("m2", "m1"): 0.5, ("m2", "m3"): 0.5, ("m3", "m1"): 0.5, ("m3", "m2"): 0.5}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--algo", "ease", "--param", "depth=3"], "--algo ease has no parameter(s) ['depth']"),
        (["--algo", "ease", "--param", "nonsense"], "--param: cannot parse 'nonsense'"),
        (["--algo", "als", "--param", "factors=0"], "factors must be a positive integer"),
        (["--rating-col", "extra"], "column 'extra', row 1: 'x' is not a valid double"),
    ],
)
def test_new_fit_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, err = run(new_fit(tmp_path, *extra), capsys)
    assert code == 2
    assert message in " ".join(err.split())
