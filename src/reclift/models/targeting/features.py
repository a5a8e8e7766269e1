"""Feature handling of the uplift family: any table in, a LightGBM-ready frame out.

Users hand in whatever they have (a pandas DataFrame, a pyarrow Table, a 2-D NumPy array).
:class:`FeatureSpec` learns at fit time which columns are numeric and which are categorical
(strings, booleans are numeric), the levels of each categorical, and which columns are
constant (dropped with a warning: they carry no signal and some learners choke on them).
At predict time the same columns are required by name; unseen categorical levels and
missing values become ``NaN``, which LightGBM routes natively and the linear baseline
imputes. The spec is plain JSON so artifacts never pickle.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from reclift.errors import SchemaError

# More levels than this in a string column is almost certainly an id, not a feature.
MAX_LEVELS = 1000


class ConstantFeatureWarning(UserWarning):
    """Some feature columns are constant and were dropped."""


def to_frame(
    X: object,  # noqa: N803
    what: str = "X",
) -> pd.DataFrame:
    """Accept a DataFrame, an Arrow table or a 2-D array and return a DataFrame.

    Raises
    ------
    SchemaError
        Unsupported type, or an array that is not 2-D.
    """
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    if isinstance(X, pa.Table):
        frame: pd.DataFrame = X.to_pandas()
        return frame.reset_index(drop=True)
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise SchemaError(f"{what} must be 2-D (n_rows, n_features), got shape {X.shape}")
        return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    raise SchemaError(
        f"{what} must be a pandas.DataFrame, pyarrow.Table or 2-D numpy array, "
        f"got {type(X).__module__}.{type(X).__qualname__}"
    )


def _is_numeric(s: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype))


@dataclass
class FeatureSpec:
    """Learned description of the feature columns.

    Attributes
    ----------
    numeric
        Names of numeric feature columns, in model order.
    categorical
        Categorical column name -> its sorted levels (strings).
    order
        All kept feature names in model order.
    dropped
        Constant columns dropped at fit time.
    """

    numeric: list[str] = field(default_factory=list)
    categorical: dict[str, list[str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @classmethod
    def fit(cls, frame: pd.DataFrame, what: str = "X") -> FeatureSpec:
        """Learn the spec from training features, shape ``(n_rows, n_columns)``.

        Raises
        ------
        SchemaError
            No columns, a string column with more than :data:`MAX_LEVELS` levels, or every
            column constant.
        """
        if frame.shape[1] == 0:
            raise SchemaError(f"{what} has no feature columns")
        spec = cls()
        for name in frame.columns:
            col = frame[name]
            key = str(name)
            if col.nunique(dropna=False) <= 1:
                spec.dropped.append(key)
                continue
            if _is_numeric(col):
                spec.numeric.append(key)
            else:
                levels = sorted({str(v) for v in col.dropna().tolist()})
                if len(levels) > MAX_LEVELS:
                    raise SchemaError(
                        f"{what}: column {key!r} has {len(levels)} distinct text values; "
                        f"a categorical feature may have at most {MAX_LEVELS}",
                        hint="it looks like an id: leave it out of the feature columns",
                    )
                spec.categorical[key] = levels
            spec.order.append(key)
        if not spec.order:
            raise SchemaError(
                f"{what}: every feature column is constant ({spec.dropped}); "
                "nothing to learn uplift from"
            )
        if spec.dropped:
            warnings.warn(
                f"{what}: dropped constant feature column(s) {spec.dropped}",
                ConstantFeatureWarning,
                stacklevel=3,
            )
        return spec

    def transform(self, frame: pd.DataFrame, what: str = "X") -> pd.DataFrame:
        """Model frame: numeric columns ``float64``, categoricals ``category`` with fixed levels.

        Raises
        ------
        SchemaError
            A feature column seen at fit time is missing, or a numeric column holds text.
        """
        missing = [c for c in self.order if c not in frame.columns]
        if missing:
            raise SchemaError(
                f"{what}: missing feature column(s) {missing}; it has {list(frame.columns)}"
            )
        out: dict[str, Any] = {}
        for name in self.order:
            col = frame[name]
            if name in self.categorical:
                levels = self.categorical[name]
                text = col.astype(object).where(col.notna(), None)
                strs = np.asarray(
                    [None if v is None else str(v) for v in text.tolist()], dtype=object
                )
                codes = pd.Index(levels).get_indexer(pd.Index(strs))  # unseen/missing -> -1
                out[name] = pd.Categorical.from_codes(
                    np.asarray(codes), categories=pd.Index(levels)
                )
            else:
                try:
                    out[name] = pd.to_numeric(col, errors="raise").astype(np.float64).to_numpy()
                except (ValueError, TypeError):
                    bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
                    row = int(np.flatnonzero(bad.to_numpy())[0])
                    raise SchemaError(
                        f"{what}: column {name!r}, row {row}: {col.iloc[row]!r} is not numeric "
                        "(the column was numeric when the model was fitted)"
                    ) from None
        return pd.DataFrame(out)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "numeric": self.numeric,
            "categorical": self.categorical,
            "order": self.order,
            "dropped": self.dropped,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_json`."""
        return cls(
            numeric=list(data["numeric"]),
            categorical={str(k): list(v) for k, v in data["categorical"].items()},
            order=list(data["order"]),
            dropped=list(data.get("dropped", [])),
        )
