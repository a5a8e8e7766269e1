"""Customer features from canonical users and events, checked by hand."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from reclift.errors import SchemaError
from reclift.models.targeting.customers import customer_features
from reclift.schema.tables import TIMESTAMP

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def test_attributes_and_behaviour() -> None:
    users = pa.table(
        {
            "user_id": ["a", "b", "c"],
            "attributes": [
                '{"device": "mobile", "newsletter": true, "signup_date": "2024-04-21"}',
                '{"device": "desktop", "newsletter": false}',
                None,
            ],
        }
    )
    events = pa.table(
        {
            "user_id": ["a", "a", "a", "b", None, "b"],
            "session_id": ["s1", "s1", "s2", "s3", "s4", "s3"],
            "item_id": ["i1", "i2", "i1", "i3", "i1", "i3"],
            "event_type": ["view", "order", "order", "view", "view", "view"],
            "ts": pa.array(
                [T0 - dt.timedelta(days=d) for d in (5, 4, 2, 1, 1, -1)], type=TIMESTAMP
            ),
            "price": [10.0, 10.0, 20.0, 5.0, 1.0, 5.0],
            "quantity": [1, 2, None, 1, 1, 1],
        }
    )
    f = customer_features(users, events, as_of=T0)
    assert f.index.tolist() == ["a", "b", "c"]
    assert f.loc["a", "n_events"] == 3 and f.loc["a", "n_order"] == 2
    assert f.loc["a", "n_sessions"] == 2 and f.loc["a", "n_items"] == 2
    assert f.loc["a", "spend"] == pytest.approx(10 * 2 + 20 * 1)  # null quantity counts as 1
    assert f.loc["a", "days_since_last"] == pytest.approx(2.0)
    assert f.loc["a", "signup_date"] == 10.0  # dates become days before as_of
    assert f.loc["b", "n_events"] == 1  # the event after as_of is ignored
    assert f.loc["c", "n_events"] == 0 and np.isnan(f.loc["c", "days_since_last"])
    assert f.loc["a", "device"] == "mobile" and f.loc["b", "newsletter"] == 0.0


def test_bad_users() -> None:
    with pytest.raises(SchemaError, match="missing column 'user_id'"):
        customer_features(pa.table({"id": ["a"]}))
    with pytest.raises(SchemaError, match="row 0: attributes is not a JSON object"):
        customer_features(pa.table({"user_id": ["a"], "attributes": ["{oops"]}))
