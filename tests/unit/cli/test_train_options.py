"""``reclift train -o KEY=VALUE``: values are JSON when they parse, text otherwise."""

from __future__ import annotations

import pytest

from reclift.cli.recs import parse_options
from reclift.errors import ReclifError


@pytest.mark.parametrize(
    ("pair", "key", "value"),
    [
        ("uplift_outcome=revenue", "uplift_outcome", "revenue"),
        ("sessions_ranker=false", "sessions_ranker", False),
        ('recs_models=["ease","itemknn"]', "recs_models", ["ease", "itemknn"]),
        ("half_life_days=7.5", "half_life_days", 7.5),
        ("seed=3", "seed", 3),
        ("note=a=b", "note", "a=b"),
        ("empty=", "empty", ""),
    ],
)
def test_values(pair: str, key: str, value: object) -> None:
    assert parse_options([pair]) == {key: value}


def test_later_pairs_win() -> None:
    assert parse_options(["seed=1", "seed=2"]) == {"seed": 2}


@pytest.mark.parametrize("pair", ["novalue", "=x", "two words=1", "1st=x"])
def test_bad_pairs_name_the_pair(pair: str) -> None:
    with pytest.raises(ReclifError, match=f"--option '{pair}': expected KEY=VALUE"):
        parse_options([pair])
