"""``reclift search index|query|similar`` end to end through main()."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pcsv
import pytest

from reclift.cli.main import main

ITEMS = """sku,name,brand,cat,cost
s1,red running shoes,acme,shoes>road,50
s2,blue leather bag,bagco,bags,80
s3,trail running shoe,acme,shoes>trail,70
s4,coffee mug,home,home,5
"""


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0), capsys.readouterr().err


@pytest.fixture
def indexed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    (tmp_path / "items.csv").write_text(ITEMS)
    code, err = run(
        ["search", "index", "--items", str(tmp_path / "items.csv"), "--id-col", "sku",
         "--text-cols", "name,brand", "--category-col", "cat", "--price-col", "cost",
         "--model-dir", str(tmp_path / "m"), "--encoder", "hashing"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    (tmp_path / "q.csv").write_text("q\nrunning shoes\nmug\n")
    return tmp_path


def test_query_writes_query_item_rank_score(
    indexed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = indexed / "out.csv"
    code, err = run(["search", "query", "--model-dir", str(indexed / "m"), "--queries",
                     str(indexed / "q.csv"), "--query-col", "q", "--k", "2", "--mode", "bm25",
                     "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    rows = pcsv.read_csv(out).to_pylist()
    assert list(rows[0]) == ["query", "item_id", "rank", "score"]
    assert [(r["query"], r["item_id"], r["rank"]) for r in rows] == [
        ("running shoes", "s1", 1), ("running shoes", "s3", 2), ("mug", "s4", 1)]  # fmt: skip
    code, err = run(["search", "query", "--model-dir", str(indexed / "m"), "--queries",
                     str(indexed / "q.csv"), "--query-col", "q", "--k", "3",
                     "--max-price", "60", "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    assert {r["item_id"] for r in pcsv.read_csv(out).to_pylist()} <= {"s1", "s4"}


def test_query_reranks_candidates(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (indexed / "c.csv").write_text("q,item_id\nrunning shoes,s4\nrunning shoes,s3\nmug,s2\n")
    out = indexed / "out.parquet"
    code, err = run(["search", "query", "--model-dir", str(indexed / "m"), "--queries",
                     str(indexed / "q.csv"), "--query-col", "q", "--candidates",
                     str(indexed / "c.csv"), "--mode", "bm25", "--out", str(out)],
                    capsys)  # fmt: skip
    assert code == 0, err
    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    assert [(r["query"], r["item_id"]) for r in rows] == [
        ("running shoes", "s3"), ("running shoes", "s4"), ("mug", "s2")]  # fmt: skip


def test_similar_and_errors(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (indexed / "i.csv").write_text("item_id\ns1\n")
    out = indexed / "sim.csv"
    code, err = run(["search", "similar", "--model-dir", str(indexed / "m"), "--items",
                     str(indexed / "i.csv"), "-k", "1", "--out", str(out)], capsys)  # fmt: skip
    assert code == 0, err
    assert pcsv.read_csv(out).to_pylist()[0]["item_id"] == "s3"
    code, err = run(["search", "query", "--model-dir", str(indexed / "m"), "--queries",
                     str(indexed / "q.csv"), "--query-col", "nope", "--out", str(out)],
                    capsys)  # fmt: skip
    assert code == 2 and "missing column 'nope'" in " ".join(err.split())
    code, err = run(["search", "index", "--items", str(indexed / "items.csv"), "--id-col",
                     "sku", "--text-cols", "title", "--model-dir", str(indexed / "x")],
                    capsys)  # fmt: skip
    assert code == 2 and "missing column 'title'" in " ".join(err.split())
    code, err = run(["search", "query", "--model-dir", str(indexed / "m"), "--queries",
                     str(indexed / "q.csv"), "--query-col", "q", "--mode", "magic",
                     "--out", str(out)], capsys)  # fmt: skip
    assert code == 2 and "--mode must be one of" in err
