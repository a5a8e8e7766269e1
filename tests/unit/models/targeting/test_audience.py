"""Audience selection and score tables (the calls behind CLI segment/predict and the service)."""

from __future__ import annotations

import numpy as np
import pytest

from reclift.models.errors import InvalidParameterError
from reclift.models.targeting import TLearner
from reclift.models.targeting.audience import score_table, select_audience
from reclift.models.targeting.synthetic import make_uplift_data

GAIN = np.array([0.3, -0.1, 0.5, 0.0, 0.3, 0.2])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"top_k": 2}, [2, 0]),
        ({"top_k": 10}, [2, 0, 4, 5]),  # never the non-positive ones
        ({"top_k": 10, "include_negative": True}, [2, 0, 4, 5, 3, 1]),
        ({"top_share": 0.5}, [2, 0, 4]),
        ({"threshold": 0.25}, [2, 0, 4]),  # ties keep input order
        ({"budget": 5.0, "cost_per_contact": 2.0}, [2, 0]),
        ({"budget": 0.0, "cost_per_contact": 2.0}, []),
    ],
)
def test_select_audience(kwargs: dict[str, float], expected: list[int]) -> None:
    assert select_audience(GAIN, **kwargs).tolist() == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of"),
        ({"top_k": 1, "threshold": 0.1}, "exactly one of"),
        ({"top_k": 0}, "top_k must be >= 1"),
        ({"top_share": 1.5}, "top_share must be in"),
        ({"budget": 10.0}, "cost_per_contact > 0"),
        ({"budget": -1.0, "cost_per_contact": 1.0}, "budget must be >= 0"),
    ],
)
def test_select_audience_errors(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        select_audience(GAIN, **kwargs)  # type: ignore[arg-type]


def test_score_table() -> None:
    d = make_uplift_data(800, n_treatments=2, seed=9)
    model = TLearner(base="linear").fit(d.X, d.y, d.treatment)
    table = score_table(model, d.X.head(5), [f"c{i}" for i in range(5)], id_column="cust")
    assert table.column_names == ["cust", "uplift", "uplift_t1", "uplift_t2", "best_treatment"]
    tau = model.predict(d.X.head(5))
    np.testing.assert_allclose(table.column("uplift").to_numpy(), tau.max(axis=1))
    best = np.where(tau[:, 0] >= tau[:, 1], "t1", "t2").tolist()
    assert table.column("best_treatment").to_pylist() == best
    assert score_table(model, d.X.head(3)).num_rows == 3
    with pytest.raises(InvalidParameterError, match="ids has 2 values but X has 3"):
        score_table(model, d.X.head(3), ["a", "b"])
