"""``reclift offers fit/score`` end to end through main(), on a planted shop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from reclift.cli.main import main


def _write(tmp_path: Path) -> tuple[Path, Path]:
    """Customers c00-c09 buy only shoes, c10-c19 only bags (ground truth)."""
    rng = np.random.default_rng(0)
    lines = ["customer,sku,when,kind"]
    for u in range(20):
        pool = ["s1", "s2", "s3"] if u < 10 else ["b1", "b2", "b3"]
        for h in range(8):
            lines.append(f"c{u:02d},{rng.choice(pool)},2026-01-01T{h:02d}:00:00Z,order")
    events = tmp_path / "events.csv"
    events.write_text("\n".join(lines) + "\n")
    items = tmp_path / "items.csv"
    items.write_text(
        "sku,category,tags,price\n"
        "s1,shoes,red|sale,30\ns2,shoes,blue,60\ns3,shoes,red,90\n"
        "b1,bags,red,20\nb2,bags,blue|sale,40\nb3,bags,green,70\n"
    )
    return events, items


def _fit(tmp_path: Path, model: str) -> Path:
    events, items = _write(tmp_path)
    out = tmp_path / f"model-{model}"
    args = [
        "offers", "fit", "--events", str(events), "--items", str(items),
        "--user-col", "customer", "--item-col", "sku", "--time-col", "when",
        "--event-type-col", "kind", "--offer-cols", "category,tags,price",
        "--multi-cols", "tags", "--model-dir", str(out), "--model", model,
    ]  # fmt: skip
    if model != "mono":
        args += ["--epochs", "12"]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 0
    return out


@pytest.mark.parametrize("model", ["universal", "mono"])
def test_fit_then_score_ranks_planted_buyers_first(tmp_path: Path, model: str) -> None:
    model_dir = _fit(tmp_path, model)
    out = tmp_path / "scores.csv"
    offer = 'category = "shoes"' if model == "mono" else 'category = "shoes" AND price < 80'
    with pytest.raises(SystemExit) as info:
        main(
            ["offers", "score", "--model-dir", str(model_dir), "--offer", offer, "--out", str(out)]
        )
    assert info.value.code == 0
    table = pacsv.read_csv(out)
    assert table.column_names == ["user_id", "score"]
    top = [str(u) for u in table.column("user_id").to_pylist()[:10]]
    assert sorted(top) == [f"c{u:02d}" for u in range(10)]
    scores = table.column("score").to_numpy()
    assert (np.diff(scores) <= 0).all()


def test_score_errors_are_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = _fit(tmp_path, "mono")
    users = tmp_path / "users.csv"
    users.write_text("user_id\nc01\nghost\n")
    out = tmp_path / "s.csv"
    cases = [
        ('category = "shoe"', "unknown value 'shoe' of attribute 'category'"),
        ("category = ", "position 11: expected a value"),
        ('colour = "red"', "unknown attribute 'colour'"),
    ]
    for expr, message in cases:
        with pytest.raises(SystemExit) as info:
            main(
                [
                    "offers",
                    "score",
                    "--model-dir",
                    str(model_dir),
                    "--offer",
                    expr,
                    "--out",
                    str(out),
                ]
            )
        assert info.value.code == 2
        assert message in capsys.readouterr().err.replace("\n", "")
    with pytest.raises(SystemExit) as info:
        main(
            ["offers", "score", "--model-dir", str(model_dir), "--offer", 'category = "bags"',
             "--users", str(users), "--out", str(out)]
        )  # fmt: skip
    assert info.value.code == 0
    assert sorted(pacsv.read_csv(out).column("user_id").to_pylist()) == ["c01", "ghost"]
