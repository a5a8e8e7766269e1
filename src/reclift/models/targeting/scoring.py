"""Fast scoring of uplift models: features as one ``float64`` matrix, and stored customers.

The frame path (:meth:`UpliftModel.predict`) builds pandas frames and lets LightGBM convert
them back, which costs milliseconds per call; a service answering batches of 100 customers
cannot afford that. Here features are *encoded* once into the matrix LightGBM reads
natively: numeric columns as they are, categorical columns as the index of their level in
:attr:`FeatureSpec.categorical` (``NaN`` when missing or unseen), columns in
:attr:`FeatureSpec.order`. LightGBM maps pandas categories to exactly these codes, so both
paths give identical predictions.

:class:`CustomerTable` keeps the feature table a model was trained from (one row per
customer, saved as Parquet inside the model's artifact) so customers can be scored by id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from reclift.errors import SchemaError
from reclift.models.targeting.features import FeatureSpec
from reclift.workspace.artifacts import Artifact

CUSTOMERS_FILE = "customers.parquet"
ID_COLUMN = "user_id"


class FeatureValueError(SchemaError):
    """One feature value of one input row cannot be used.

    Attributes
    ----------
    row
        0-based index of the row.
    feature
        The feature's name.
    """

    def __init__(self, message: str, *, row: int, feature: str) -> None:
        super().__init__(message)
        self.row = row
        self.feature = feature


def encode_frame(spec: FeatureSpec, frame: pd.DataFrame) -> np.ndarray:
    """Encoded features of a frame holding the spec's columns.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, len(spec.order))`` ``float64``.
    """
    feats = spec.transform(frame)
    out = np.empty((len(feats), len(spec.order)), dtype=np.float64)
    for j, name in enumerate(spec.order):
        col = feats[name]
        if name in spec.categorical:
            codes = np.asarray(col.cat.codes, dtype=np.float64)
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = col.to_numpy(dtype=np.float64)
    return out


def decode_matrix(spec: FeatureSpec, matrix: np.ndarray) -> pd.DataFrame:
    """Inverse of :func:`encode_frame`: the model frame of an encoded matrix ``(n, d)``."""
    cols: dict[str, object] = {}
    for j, name in enumerate(spec.order):
        x = matrix[:, j]
        if name in spec.categorical:
            codes = np.where(np.isnan(x), -1, x).astype(np.int64)
            cols[name] = pd.Categorical.from_codes(
                codes, categories=pd.Index(spec.categorical[name])
            )
        else:
            cols[name] = x
    return pd.DataFrame(cols)


def encode_records(spec: FeatureSpec, rows: Sequence[Mapping[str, object]]) -> np.ndarray:
    """Encode feature rows given as mappings (a JSON request) without building a frame.

    Every row must name every feature of :attr:`FeatureSpec.order` (``None`` = missing);
    features dropped as constant at fit time are accepted and ignored. Numeric features take
    finite numbers or booleans, categorical features take strings (an unseen level counts
    as missing, as in :meth:`FeatureSpec.transform`).

    Returns
    -------
    numpy.ndarray
        Shape ``(len(rows), len(spec.order))`` ``float64``.

    Raises
    ------
    FeatureValueError
        A row misses a feature, names an unknown one, or holds a value of the wrong type, a
        NaN or an infinity; the message names the row and the feature.
    """
    order = spec.order
    known = set(order) | set(spec.dropped)
    levels = {
        name: {v: float(i) for i, v in enumerate(lv)} for name, lv in spec.categorical.items()
    }
    out = np.empty((len(rows), len(order)), dtype=np.float64)
    for i, row in enumerate(rows):
        if len(row) != len(order) or not known.issuperset(row):
            extra = sorted(k for k in row if k not in known)
            if extra:
                raise FeatureValueError(
                    f"rows[{i}]: unknown feature {extra[0]!r}; the model uses {order}",
                    row=i,
                    feature=extra[0],
                )
        for j, name in enumerate(order):
            if name not in row:
                raise FeatureValueError(
                    f"rows[{i}]: missing feature {name!r} (send null for an unknown value)",
                    row=i,
                    feature=name,
                )
            value = row[name]
            if value is None:
                out[i, j] = np.nan
                continue
            cats = levels.get(name)
            if cats is not None:
                if not isinstance(value, str):
                    raise FeatureValueError(
                        f"rows[{i}].{name}: expected text (a categorical feature), got "
                        f"{type(value).__name__}",
                        row=i,
                        feature=name,
                    )
                out[i, j] = cats.get(value, np.nan)
                continue
            if isinstance(value, str) or not isinstance(value, (bool, int, float)):
                raise FeatureValueError(
                    f"rows[{i}].{name}: expected a number (a numeric feature), got "
                    f"{type(value).__name__}",
                    row=i,
                    feature=name,
                )
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise FeatureValueError(
                    f"rows[{i}].{name}: {value!r} is not a finite number", row=i, feature=name
                )
            out[i, j] = number
    return out


class CustomerTable:
    """Stored features of known customers, encoded for one model's :class:`FeatureSpec`.

    Parameters
    ----------
    ids
        Customer ids, shape ``(n,)`` (unique strings).
    matrix
        Encoded features, shape ``(n, d)`` (see :func:`encode_frame`).
    """

    def __init__(self, ids: Sequence[str], matrix: np.ndarray) -> None:
        self.ids = list(ids)
        self.matrix = matrix
        self.index = {u: i for i, u in enumerate(self.ids)}
        self._uplift: np.ndarray | None = None
        if len(self.index) != len(self.ids):
            raise SchemaError("customer table: user ids are not unique")
        if matrix.shape[0] != len(self.ids):
            raise SchemaError(f"customer table: {len(self.ids)} ids but {matrix.shape[0]} rows")

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def write(frame: pd.DataFrame, directory: Path) -> str:
        """Write the raw feature frame (indexed by ``user_id``) as Parquet; returns the name."""
        data = frame.copy()
        data.index = pd.Index([str(u) for u in data.index], name=ID_COLUMN)
        table = pa.Table.from_pandas(data.reset_index(), preserve_index=False)
        pq.write_table(table, directory / CUSTOMERS_FILE)
        return CUSTOMERS_FILE

    @classmethod
    def read(cls, artifact: Artifact, spec: FeatureSpec) -> CustomerTable | None:
        """The artifact's customer table encoded for ``spec``; ``None`` when it has none."""
        if CUSTOMERS_FILE not in artifact.files:
            return None
        frame = pq.read_table(artifact.file(CUSTOMERS_FILE)).to_pandas()
        if ID_COLUMN not in frame.columns:
            raise SchemaError(f"{CUSTOMERS_FILE}: missing column {ID_COLUMN!r}")
        ids = [str(u) for u in frame[ID_COLUMN].tolist()]
        return cls(ids, encode_frame(spec, frame.drop(columns=[ID_COLUMN])))

    def lookup(self, user_ids: Sequence[str]) -> tuple[np.ndarray, list[int], list[str]]:
        """Rows of the known ``user_ids``, their positions in ``user_ids``, and the unknown ids.

        Returns
        -------
        rows : numpy.ndarray
            ``int64`` rows of :attr:`matrix` of the known ids, in input order.
        positions : list of int
            Index in ``user_ids`` of each known id (same order as ``rows``).
        unknown : list of str
            The ids not in the table, in input order.
        """
        rows: list[int] = []
        positions: list[int] = []
        unknown: list[str] = []
        for pos, u in enumerate(user_ids):
            i = self.index.get(u)
            if i is None:
                unknown.append(u)
            else:
                rows.append(i)
                positions.append(pos)
        return np.asarray(rows, dtype=np.int64), positions, unknown

    def uplift(self, predict: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Uplift of every stored customer, ``(n, n_treatments)``, computed once.

        ``predict`` is the owning model's :meth:`~UpliftModel.predict_encoded`; the table
        belongs to one immutable model, so caching is safe (two threads racing both compute
        the same array).
        """
        if self._uplift is None:
            self._uplift = predict(self.matrix)
        return self._uplift
