"""Scoring tables and campaign audiences: the calls a CLI command or a service endpoint makes.

:func:`score_table` turns a fitted model and features into one row per customer (uplift of
the best treatment, one column per treatment, the best treatment); :func:`select_audience`
picks the customers to contact by top-k, top share, threshold or budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from reclift.models.errors import InvalidParameterError
from reclift.models.targeting.base import UpliftModel


def score_table(
    model: UpliftModel,
    X: object,  # noqa: N803
    ids: Sequence[object] | None = None,
    *,
    id_column: str = "id",
) -> pa.Table:
    """Uplift of every row, in input order.

    Parameters
    ----------
    model
        A fitted uplift model.
    X
        Features, shape ``(n, d)``.
    ids
        Optional customer ids, length ``n`` (written first, as strings).
    id_column
        Name of the id column.

    Returns
    -------
    pyarrow.Table
        ``[id_column,] uplift, uplift_<treatment>..., best_treatment``; ``n`` rows.
    """
    tau = model.predict(X)
    n = tau.shape[0]
    if ids is not None and len(ids) != n:
        raise InvalidParameterError(f"ids has {len(ids)} values but X has {n} rows")
    idx = np.argmax(tau, axis=1) if n else np.zeros(0, dtype=np.int64)
    cols: dict[str, pa.Array] = {}
    if ids is not None:
        cols[id_column] = pa.array([None if v is None else str(v) for v in ids], pa.string())
    cols["uplift"] = pa.array(tau[np.arange(n), idx], pa.float64())
    for k, t in enumerate(model.treatments_):
        cols[f"uplift_{t}"] = pa.array(tau[:, k], pa.float64())
    best = np.asarray(model.treatments_, dtype=object)[idx]
    cols["best_treatment"] = pa.array(best.tolist(), pa.string())
    return pa.table(cols)


def select_audience(
    gain: np.ndarray,
    *,
    top_k: int | None = None,
    top_share: float | None = None,
    threshold: float | None = None,
    budget: float | None = None,
    cost_per_contact: float | None = None,
    include_negative: bool = False,
) -> np.ndarray:
    """Row indices of the customers to contact, best expected gain first.

    Exactly one of ``top_k``, ``top_share``, ``threshold`` and ``budget`` (with
    ``cost_per_contact``) chooses the size. Customers whose gain is not positive are left
    out unless ``include_negative``: contacting them is expected to cost conversions.

    Parameters
    ----------
    gain
        Expected gain per customer (uplift of the best treatment), shape ``(n,)``.

    Returns
    -------
    numpy.ndarray
        ``int64`` indices into ``gain``, sorted by decreasing gain (ties: input order).
    """
    given = [o for o in (top_k, top_share, threshold, budget) if o is not None]
    if len(given) != 1:
        raise InvalidParameterError(
            "give exactly one of top_k, top_share, threshold, budget (CLI: --top-k, "
            "--top-share, --threshold, --budget)"
        )
    g = np.asarray(gain, dtype=np.float64).ravel()
    order = np.argsort(-g, kind="stable")
    if not include_negative:
        order = order[g[order] > 0]
    if top_k is not None:
        if top_k < 1:
            raise InvalidParameterError(f"top_k must be >= 1, got {top_k}")
        return order[:top_k]
    if top_share is not None:
        if not 0 < top_share <= 1:
            raise InvalidParameterError(f"top_share must be in (0, 1], got {top_share}")
        return order[: int(g.size * top_share)]
    if threshold is not None:
        return order[g[order] > threshold]
    if cost_per_contact is None or not cost_per_contact > 0:
        raise InvalidParameterError("budget needs cost_per_contact > 0 (CLI: --cost-per-contact)")
    assert budget is not None
    if budget < 0:
        raise InvalidParameterError(f"budget must be >= 0, got {budget}")
    return order[: int(budget // cost_per_contact)]
