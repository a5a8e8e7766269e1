"""``reclift sessions fit|predict`` on files: column mapping, type spellings, OTTO output."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from reclift.cli.main import main
from reclift.evaluation.sessions import otto_score, read_submission, truncate_sessions
from reclift.io import read_table

T0 = int(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp())


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0), capsys.readouterr().err


def write_log(path: Path, *, with_types: bool = True) -> Path:
    rows: dict[str, list[str]] = {"sess": [], "product": [], "when": []}
    if with_types:
        rows["action"] = []
    t = T0
    for s in range(30):
        for j in range(4):
            a = (s + j) % 6 * 2
            for item, kind in ((a, "clicks"), (a + 1, "Carts"), (a + 1, "orders")):
                t += 60
                rows["sess"].append(f"S{s}")
                rows["product"].append(f"p{item}")
                rows["when"].append(str(t))
                if with_types:
                    rows["action"].append(kind)
    pacsv.write_csv(pa.table(rows), path)
    return path


COLS = ["--session-col", "sess", "--item-col", "product", "--time-col", "when"]


@pytest.mark.parametrize("algo", ["covisitation", pytest.param("ranker", marks=pytest.mark.slow)])
def test_fit_predict_with_mapped_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], algo: str
) -> None:
    log = write_log(tmp_path / "log.csv")
    code, err = run(
        ["sessions", "fit", "--events", str(log), "--model-dir", str(tmp_path / "m"),
         "--algo", algo, *COLS, "--type-col", "action"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    # predict reuses the fit's mapping: no column options needed.
    code, err = run(
        ["sessions", "predict", "--model-dir", str(tmp_path / "m"), "--events", str(log),
         "--out", str(tmp_path / "p.csv"), "--k", "5"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    out = read_table(tmp_path / "p.csv")
    assert out.column_names == ["session_type", "labels"]
    assert out.num_rows == 30 * 3
    first = out.column("session_type").to_pylist()[:3]
    assert first == ["S0_clicks", "S0_carts", "S0_orders"]
    assert all(len(v.split()) == 5 for v in out.column("labels").to_pylist())


def test_click_only_log_writes_clicks_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_log(tmp_path / "log.csv", with_types=False)
    assert run(
        ["sessions", "fit", "--events", str(log), "--model-dir", str(tmp_path / "m"),
         "--algo", "covisitation", *COLS],
        capsys,
    )[0] == 0  # fmt: skip
    code, err = run(
        ["sessions", "predict", "--model-dir", str(tmp_path / "m"), "--events", str(log),
         "--out", str(tmp_path / "p.csv")],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    keys = read_table(tmp_path / "p.csv").column("session_type").to_pylist()
    assert keys and all(k.endswith("_clicks") for k in keys)


def test_bad_inputs_exit_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = write_log(tmp_path / "log.csv")
    cases = [
        (["--events", str(log), *COLS, "--type-col", "nope"], "nope"),
        (["--events", str(log), "--session-col", "sess"], "item"),
        (["--events", str(tmp_path / "missing.csv"), *COLS], "missing.csv"),
        (["--events", str(log), *COLS, "--type-col", "action", "--algo", "magic"], "magic"),
    ]
    for args, needle in cases:
        code, err = run(["sessions", "fit", *args, "--model-dir", str(tmp_path / "m")], capsys)
        assert code == 2 and needle in err, err
    bad = pa.table({"sess": ["a"], "product": ["x"], "when": [str(T0)], "action": ["wishlist"]})
    pacsv.write_csv(bad, tmp_path / "bad.csv")
    code, err = run(
        ["sessions", "fit", "--events", str(tmp_path / "bad.csv"), *COLS, "--type-col", "action",
         "--model-dir", str(tmp_path / "m")],
        capsys,
    )  # fmt: skip
    assert code == 2 and "row 0: event type 'wishlist'" in err
    code, err = run(
        ["sessions", "predict", "--model-dir", str(tmp_path / "none"), "--events", str(log),
         "--out", str(tmp_path / "p.csv")],
        capsys,
    )  # fmt: skip
    assert code == 2 and "no such model directory" in err


def write_catalog(path: Path) -> Path:
    products = [f"p{i}" for i in range(12)]
    pacsv.write_csv(
        pa.table(
            {
                "product": products,
                "category": [f"dept{i % 2}>sub{i % 4}>leaf{i % 6}" for i in range(12)],
                "brand": [f"b{i % 3}" for i in range(12)],
                "price": [float(10 + i) for i in range(12)],
            }
        ),
        path,
    )
    return path


@pytest.mark.slow
def test_ranker_fits_with_an_item_catalogue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, catalog = write_log(tmp_path / "log.csv"), write_catalog(tmp_path / "items.csv")
    code, err = run(
        ["sessions", "fit", "--events", str(log), "--model-dir", str(tmp_path / "m"),
         "--algo", "ranker", *COLS, "--type-col", "action", "--items", str(catalog)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    code, err = run(
        ["sessions", "predict", "--model-dir", str(tmp_path / "m"), "--name", "ranker",
         "--events", str(log), "--out", str(tmp_path / "p.csv"), "--k", "5"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert read_table(tmp_path / "p.csv").num_rows == 30 * 3


def test_bad_catalogue_options_exit_2_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, catalog = write_log(tmp_path / "log.csv"), write_catalog(tmp_path / "items.csv")
    pacsv.write_csv(pa.table({"sku": ["p1"], "category": ["a>b>c"]}), tmp_path / "sku.csv")
    cases = [
        (["--algo", "covisitation", "--items", str(catalog)], "--items does not apply"),
        (["--algo", "ranker", "--items", str(tmp_path / "sku.csv")], "no column 'product'"),
        (["--algo", "ranker", "--items", str(tmp_path / "nope.csv")], "nope.csv"),
    ]
    for args, needle in cases:
        code, err = run(
            ["sessions", "fit", "--events", str(log), *COLS, "--type-col", "action", *args,
             "--model-dir", str(tmp_path / "m")],
            capsys,
        )  # fmt: skip
        assert code == 2 and needle in err, err


@pytest.mark.data
def test_otto_fixture_end_to_end(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reclift.datasets.otto import load as load_otto

    source = data_dir / "otto_recsys" / "train_sample.jsonl"
    if not source.is_file():
        pytest.skip(f"OTTO fixture not found: {source}")
    events = load_otto(source).tables["events"]
    history, labels = truncate_sessions(events, seed=0)
    hist_path = tmp_path / "history.parquet"
    import pyarrow.parquet as pq

    pq.write_table(history.select(["session_id", "item_id", "event_type", "ts"]), hist_path)
    code, err = run(
        ["sessions", "fit", "--events", str(source), "--model-dir", str(tmp_path / "m"),
         "--algo", "covisitation"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    out = tmp_path / "sub.csv"
    code, err = run(
        ["sessions", "predict", "--model-dir", str(tmp_path / "m"), "--events", str(hist_path),
         "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    preds = read_submission(read_table(out))
    assert len(preds) == 20 and all(set(v) == {"clicks", "carts", "orders"} for v in preds.values())
    # The model saw these sessions whole, so the next click is mostly among its top 20.
    assert otto_score(preds, labels).recall["clicks"] >= 0.5


@pytest.mark.slow
@pytest.mark.data
def test_yoochoose_txt_files(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = data_dir / "yoochoose_rsc15_100k_sessionrec"
    test_file = folder / "yoochoose-clicks-100k_test.txt"
    if not test_file.is_file():
        pytest.skip(f"YooChoose sample not found in {folder}")
    cols = ["--session-col", "SessionId", "--item-col", "ItemId", "--time-col", "Time"]
    code, err = run(
        ["sessions", "fit", "--events", str(test_file), "--model-dir", str(tmp_path / "m"),
         "--algo", "covisitation", *cols],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    code, err = run(
        ["sessions", "predict", "--model-dir", str(tmp_path / "m"), "--events", str(test_file),
         "--out", str(tmp_path / "p.csv"), "--k", "20"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    out = read_table(tmp_path / "p.csv")
    assert out.num_rows == 3416  # one clicks row per test session


def test_parquet_log_reads_only_the_mapped_columns_but_errors_list_them_all(
    tmp_path: Path,
) -> None:
    import pyarrow.parquet as pq

    from reclift.cli.sessions import load_events

    log = pa.table(
        {
            "sess": ["a", "a", "b"],
            "product": ["x", "y", "x"],
            "when": [str(T0), str(T0 + 60), str(T0 + 120)],
            "action": [" Clicks", "CARTS", "orders"],
            "unused": [1, 2, 3],
        }
    )
    pq.write_table(log, tmp_path / "log.parquet")
    over = {"session": "sess", "item": "product", "time": "when", "type": "action"}
    events, used = load_events(tmp_path / "log.parquet", over)  # type: ignore[arg-type]
    assert events.column_names == ["session_id", "item_id", "event_type", "ts"]
    assert events.column("event_type").to_pylist() == ["click", "cart", "order"]
    assert used == over
    with pytest.raises(Exception, match=r"missing column 'nope'.*'unused'"):
        load_events(tmp_path / "log.parquet", {**over, "session": "nope"})  # type: ignore[arg-type]
