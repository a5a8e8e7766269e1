"""KeywordSuggester (merge + rank) and ``reclift keywords fit|suggest`` on tiny files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from reclift.cli.main import main
from reclift.models.keywords.errors import KeywordInputError
from reclift.models.keywords.suggest import KeywordSuggester

NOUNS = ["running shoe", "leather wallet", "garden hose", "coffee grinder", "yoga mat",
         "desk lamp", "water bottle", "phone case", "wool scarf", "camping tent"]  # fmt: skip
ADJ = ["red", "blue", "black", "small", "large", "cheap", "premium", "classic"]


def shop(seed: int = 0) -> tuple[pa.Table, pa.Table]:
    """Products ``<adj> <noun> ...`` and a query log where each noun's query leads to its
    products (clicks, some orders) plus junk impressions."""
    rng = np.random.default_rng(seed)
    ids, texts, q, it, act = [], [], [], [], []
    for i in range(80):
        n = i % len(NOUNS)
        pid = f"p{i:03d}"
        ids.append(pid)
        texts.append(f"{ADJ[i % len(ADJ)]} {NOUNS[n]} model {i}")
        for _ in range(3):
            q.append(NOUNS[n] if rng.random() < 0.5 else NOUNS[n] + "s")
            it.append(pid)
            act.append("order" if rng.random() < 0.3 else "click")
        q.append("free shipping")
        it.append(pid)
        act.append("impression")
    return (
        pa.table({"sku": ids, "title": texts}),
        pa.table({"query": q, "sku": it, "action": act}),
    )


def test_suggester_finds_each_products_noun_and_ranks_with_reasons(tmp_path: Path) -> None:
    prods, log = shop()
    p = pa.table({"item_id": prods["sku"], "text": prods["title"]})
    weights = {"click": 1.0, "order": 4.0, "impression": 0.0}
    inter = pa.table(
        {"keyword": log["query"], "item_id": log["sku"],
         "weight": [weights[a] for a in log["action"].to_pylist()]}
    )  # fmt: skip
    s = KeywordSuggester(("dense", "bm25", "collaborative"), encoder="hashing", ranker="lr")
    s.fit(p, None, inter)
    # plural queries were merged into their singular keyword by hygiene
    assert "running shoe" in s.keywords_.tolist() and "running shoes" not in s.keywords_.tolist()
    new = pa.table({"item_id": ["x1", "x2"], "text": ["green garden hose 30m", "steel desk lamp"]})
    out = s.suggest(new, 3)
    top = {r["item_id"]: r["keyword"] for r in out.to_pylist() if r["rank"] == 1}
    assert top == {"x1": "garden hose", "x2": "desk lamp"}
    reasons = json.loads(out.column("reasons")[0].as_py())
    assert len(reasons) == 3 and set(reasons) <= set(s.ranker_.feature_names_)  # type: ignore[union-attr]
    assert s.ranker_ is not None and "word_overlap" in s.ranker_.coefficients()
    art = s.save(tmp_path / "m")
    back = KeywordSuggester.load(art)
    again = back.suggest(new, 3)
    assert again.column("keyword").to_pylist() == out.column("keyword").to_pylist()
    np.testing.assert_allclose(again["score"].to_numpy(), out["score"].to_numpy(), rtol=1e-5)
    # candidates: rank only the seller's list, including a keyword never seen before
    cand = pa.table(
        {"item_id": ["x1", "x1", "x1"], "keyword": ["free shipping", "Garden Hoses", "hose pipe"]}
    )
    ranked = s.suggest(new, 5, candidates=cand).to_pylist()
    assert next(r["keyword"] for r in ranked) == "garden hose"
    assert {r["keyword"] for r in ranked} == {"free shipping", "garden hose", "hose pipe"}


def test_suggester_without_evidence_uses_fusion() -> None:
    p = pa.table({"item_id": ["a", "b"], "text": ["red running shoes", "yoga mat thick"]})
    s = KeywordSuggester(encoder="hashing").fit(p, ["running shoe", "yoga mat", "tent"])
    assert s.ranker_ is None and s.retriever_names_ == ["dense", "bm25"]
    assert s.notes_ == ["collaborative dropped: no interactions"]
    out = s.suggest(p, 1)
    assert out.column("keyword").to_pylist() == ["running shoe", "yoga mat"]
    with pytest.raises(KeywordInputError, match="no keywords"):
        KeywordSuggester(encoder="hashing").fit(p)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return int(info.value.code or 0), capsys.readouterr().err


def test_cli_fit_and_suggest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prods, log = shop()
    pacsv.write_csv(prods, tmp_path / "products.csv")
    pacsv.write_csv(log, tmp_path / "log.csv")
    model = tmp_path / "model"
    code, err = run(
        ["keywords", "fit", "--products", str(tmp_path / "products.csv"), "--id-col", "sku",
         "--text-cols", "title", "--query-log", str(tmp_path / "log.csv"), "--item-col", "sku",
         "--action-col", "action", "--encoder", "hashing", "--ranker", "lr",
         "--model-dir", str(model)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    new = tmp_path / "new.csv"
    new.write_text("sku,title\nx1,blue camping tent 2 person\nx2,wool scarf winter\n")
    out = tmp_path / "out.csv"
    code, err = run(
        ["keywords", "suggest", "--model-dir", str(model), "--products", str(new), "--k", "2",
         "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    got = pacsv.read_csv(out)
    assert got.column_names == ["item_id", "keyword", "rank", "score"]
    first = {r["item_id"]: r["keyword"] for r in got.to_pylist() if r["rank"] == 1}
    assert first == {"x1": "camping tent", "x2": "wool scarf"}
    # bad inputs: one line, exit 2, naming the problem
    empty = tmp_path / "empty.csv"
    empty.write_text("sku,title\nx1,\n")
    code, err = run(
        ["keywords", "suggest", "--model-dir", str(model), "--products", str(empty),
         "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 2 and "product 'x1' (row 0) has empty text" in err
    code, err = run(
        ["keywords", "fit", "--products", str(tmp_path / "products.csv"), "--id-col", "sku",
         "--model-dir", str(model)],
        capsys,
    )  # fmt: skip
    assert code == 2 and "--query-log FILE or --keywords FILE" in err
    code, err = run(
        ["keywords", "fit", "--products", str(tmp_path / "products.csv"), "--id-col", "sku",
         "--query-log", str(tmp_path / "log.csv"), "--item-col", "nope",
         "--model-dir", str(model)],
        capsys,
    )  # fmt: skip
    assert code == 2 and "no column 'nope'" in err
