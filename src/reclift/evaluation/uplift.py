"""Uplift metrics: Qini and uplift curves, Qini coefficient, AUUC and uplift@k.

Every metric takes three arrays of the same length ``n``: the observed outcome ``y`` (0/1
conversions or a continuous amount such as revenue), the predicted ``uplift`` (any score:
higher = target first) and ``treatment`` (1 = treated, 0 = control; booleans accepted).
Customers are ranked by predicted uplift, best first; customers with *tied* scores are
taken together (the curves have one point per distinct score), so the result never
depends on an arbitrary order within ties.

Definitions (``n_t(x)``, ``n_c(x)``: treated and control customers among the top ``x``;
``Y_t(x)``, ``Y_c(x)``: their summed outcomes):

* Qini curve: ``Q(x) = Y_t(x) - Y_c(x) n_t(x) / n_c(x)`` (incremental outcomes in the
  treated part of the top ``x``; ``0`` where ``n_c(x) = 0``).
* Uplift curve: ``U(x) = (Y_t(x)/n_t(x) - Y_c(x)/n_c(x)) x`` (incremental outcomes had the
  whole top ``x`` been treated; a rate is ``0`` while its group is empty).
* Qini coefficient and AUUC: area between the model's curve and the straight line of
  random targeting, divided by the same area of the *perfect* curve: ranking by
  ``y t - y (1 - t)`` for Qini (treated responders first, control responders last) and,
  for AUUC on binary outcomes, Devriendt et al.'s optimal ordering. These follow
  scikit-uplift's ``qini_auc_score`` and ``uplift_auc_score`` (checked in the tests).
  For continuous outcomes AUUC's perfect ordering is the Qini one.
* uplift@k: the difference of the mean outcome of treated and control customers among
  the top ``k`` (``strategy="overall"``), or among the top ``k`` share of each group
  ranked separately (``strategy="by_group"``).

Bootstrap bands resample customers with replacement (:func:`bootstrap_curve`,
:func:`bootstrap_metric`). Plot helpers return matplotlib figures for
:class:`~reclift.evaluation.report.HtmlReport`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from reclift.errors import ReclifError


class UpliftMetricError(ReclifError):
    """Inputs of an uplift metric that cannot be evaluated."""


def check_inputs(
    y: object, uplift: object, treatment: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate and convert the three arrays to ``float64``, ``float64``, ``int64``.

    Raises
    ------
    UpliftMetricError
        Different lengths, empty input, non-finite values, treatment values other than
        0/1, or no treated or no control rows.
    """
    try:
        yv = np.asarray(y, dtype=np.float64).ravel()
        uv = np.asarray(uplift, dtype=np.float64).ravel()
        tr = np.asarray(treatment)
    except (TypeError, ValueError) as exc:
        raise UpliftMetricError(f"uplift metric inputs must be numeric: {exc}") from None
    tr = tr.ravel()
    if not (yv.size == uv.size == tr.size):
        raise UpliftMetricError(
            f"y, uplift and treatment must have the same length, got "
            f"{yv.size}, {uv.size} and {tr.size}"
        )
    if yv.size == 0:
        raise UpliftMetricError("uplift metrics need at least one row")
    for name, arr in (("y", yv), ("uplift", uv)):
        bad = ~np.isfinite(arr)
        if bad.any():
            raise UpliftMetricError(f"{name}, row {int(np.flatnonzero(bad)[0])}: not finite")
    if tr.dtype == bool:
        tv = tr.astype(np.int64)
    else:
        try:
            tf = tr.astype(np.float64)
        except (TypeError, ValueError):
            raise UpliftMetricError(
                "treatment must hold 0 (control) and 1 (treated); got "
                f"{sorted({str(v) for v in tr.tolist()})[:5]}"
            ) from None
        bad = ~np.isin(tf, (0.0, 1.0))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise UpliftMetricError(f"treatment, row {row}: {tr[row].item()!r} is not 0 or 1")
        tv = tf.astype(np.int64)
    if not tv.any():
        raise UpliftMetricError("treatment has no treated rows (all 0)")
    if tv.all():
        raise UpliftMetricError("treatment has no control rows (all 1)")
    return yv, uv, tv


def _cumulative(y: np.ndarray, uplift: np.ndarray, treatment: np.ndarray) -> tuple[np.ndarray, ...]:
    """Cumulative counts and sums at each distinct score, best first (ties grouped)."""
    order = np.argsort(-uplift, kind="stable")
    ys, us, ts = y[order], uplift[order], treatment[order]
    ends = np.r_[np.flatnonzero(np.diff(us) != 0), us.size - 1]
    n_t = np.cumsum(ts)[ends].astype(np.float64)
    y_t = np.cumsum(ys * ts)[ends]
    y_c = np.cumsum(ys * (1 - ts))[ends]
    n_all = (ends + 1).astype(np.float64)
    return n_all, n_t, n_all - n_t, y_t, y_c


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b != 0)
    return out


def qini_curve(y: object, uplift: object, treatment: object) -> tuple[np.ndarray, np.ndarray]:
    """Points of the Qini curve.

    Returns
    -------
    x : numpy.ndarray
        Number of customers targeted, shape ``(m + 1,)`` starting at 0 (``m`` distinct
        scores), ``float64``.
    q : numpy.ndarray
        Incremental outcomes ``Y_t - Y_c n_t / n_c`` at each ``x``, shape ``(m + 1,)``.
    """
    yv, uv, tv = check_inputs(y, uplift, treatment)
    n_all, n_t, n_c, y_t, y_c = _cumulative(yv, uv, tv)
    q = y_t - y_c * _safe_div(n_t, n_c)
    return np.r_[0.0, n_all], np.r_[0.0, q]


def uplift_curve(y: object, uplift: object, treatment: object) -> tuple[np.ndarray, np.ndarray]:
    """Points of the uplift curve ``(rate_t - rate_c) x``; shapes as :func:`qini_curve`."""
    yv, uv, tv = check_inputs(y, uplift, treatment)
    n_all, n_t, n_c, y_t, y_c = _cumulative(yv, uv, tv)
    u = (_safe_div(y_t, n_t) - _safe_div(y_c, n_c)) * n_all
    return np.r_[0.0, n_all], np.r_[0.0, u]


def _area_above_random(x: np.ndarray, v: np.ndarray) -> float:
    return float(np.trapezoid(v, x) - 0.5 * x[-1] * v[-1])


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all())


def _perfect_qini_score(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    return np.asarray(y * t - y * (1 - t), dtype=np.float64)


def _perfect_uplift_score(y: np.ndarray, t: np.ndarray) -> np.ndarray:
    if not _is_binary(y):
        return _perfect_qini_score(y, t)
    # Devriendt et al.: treated responders and control non-responders first; which of the
    # two "wrong" groups goes last depends on which is larger.
    control_responders = np.sum((y == 1) & (t == 0))
    treated_non_responders = np.sum((y == 0) & (t == 1))
    summand = y if control_responders > treated_non_responders else t.astype(np.float64)
    return np.asarray(2.0 * (y == t) + summand, dtype=np.float64)


def qini_coefficient(y: object, uplift: object, treatment: object) -> float:
    """Normalised area between the Qini curve and random targeting (1 = perfect ranking).

    Equals scikit-uplift's ``qini_auc_score(..., negative_effect=True)`` on binary outcomes.
    """
    yv, uv, tv = check_inputs(y, uplift, treatment)
    actual = _area_above_random(*qini_curve(yv, uv, tv))
    perfect = _area_above_random(*qini_curve(yv, _perfect_qini_score(yv, tv), tv))
    if perfect == 0:
        raise UpliftMetricError("the perfect Qini curve has no area: y shows no uplift at all")
    return actual / perfect


def auuc(y: object, uplift: object, treatment: object, *, normalize: bool = True) -> float:
    """Area under the uplift curve above random targeting.

    Parameters
    ----------
    normalize
        Divide by the perfect curve's area (scikit-uplift's ``uplift_auc_score`` on binary
        outcomes); otherwise divide by ``n**2``, the mean incremental outcome per customer
        over all targeting depths.
    """
    yv, uv, tv = check_inputs(y, uplift, treatment)
    actual = _area_above_random(*uplift_curve(yv, uv, tv))
    if not normalize:
        return actual / float(yv.size) ** 2
    perfect = _area_above_random(*uplift_curve(yv, _perfect_uplift_score(yv, tv), tv))
    if perfect == 0:
        raise UpliftMetricError("the perfect uplift curve has no area: y shows no uplift at all")
    return actual / perfect


def _top_count(k: float | int, n: int) -> int:
    if isinstance(k, (bool, np.bool_)):
        raise UpliftMetricError(f"k must be a share in (0, 1] or a count, got {k!r}")
    if isinstance(k, (int, np.integer)):
        if not 0 < k <= n:
            raise UpliftMetricError(f"k={k} must be between 1 and the number of rows {n}")
        return int(k)
    if not 0 < float(k) <= 1:
        raise UpliftMetricError(f"k={k} must be a share in (0, 1] or a positive count")
    return int(n * float(k))


def uplift_at_k(
    y: object,
    uplift: object,
    treatment: object,
    k: float | int = 0.3,
    *,
    strategy: Literal["overall", "by_group"] = "overall",
) -> float:
    """Observed uplift among the top-``k`` customers.

    Parameters
    ----------
    k
        A share in ``(0, 1]`` (``int(n * k)`` rows) or an absolute count.
    strategy
        ``"overall"``: rank everyone, take the top ``k``, compare treated and control means
        there. ``"by_group"``: take the top ``k`` share of the treated and of the control
        customers separately (``int(n_t k)`` and ``int(n_c k)`` rows).

    Raises
    ------
    UpliftMetricError
        Bad ``k``/``strategy``, or a group without rows in the top ``k``.
    """
    yv, uv, tv = check_inputs(y, uplift, treatment)
    order = np.argsort(-uv, kind="stable")
    ys, ts = yv[order], tv[order]
    if strategy == "overall":
        top = _top_count(k, yv.size)
        yt, tt = ys[:top], ts[:top]
        if not tt.any() or tt.all():
            raise UpliftMetricError(
                f"the top {top} rows hold no {'treated' if not tt.any() else 'control'} "
                "customers; uplift@k is undefined"
            )
        return float(yt[tt == 1].mean() - yt[tt == 0].mean())
    if strategy == "by_group":
        treated, control = ys[ts == 1], ys[ts == 0]
        if isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            n_t = n_c = _top_count(k, min(treated.size, control.size))
        else:
            n_t, n_c = _top_count(k, treated.size), _top_count(k, control.size)
        if n_t == 0 or n_c == 0:
            raise UpliftMetricError(f"k={k} selects no rows of one group")
        return float(treated[:n_t].mean() - control[:n_c].mean())
    raise UpliftMetricError(f"strategy must be 'overall' or 'by_group', got {strategy!r}")


# ---------------------------------------------------------------------- bootstrap
@dataclass(frozen=True)
class CurveBand:
    """A curve on a grid of targeted shares with a bootstrap band.

    Attributes
    ----------
    share
        Targeted share of customers, shape ``(g,)`` from 0 to 1.
    value
        The curve on the full sample, divided by ``n`` (incremental outcome per customer
        in the population), shape ``(g,)``.
    lower, upper
        Pointwise percentile band, shape ``(g,)``.
    """

    share: np.ndarray
    value: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


CURVES: dict[str, Callable[[object, object, object], tuple[np.ndarray, np.ndarray]]] = {
    "qini": qini_curve,
    "uplift": uplift_curve,
}


def _on_grid(x: np.ndarray, v: np.ndarray, grid: np.ndarray) -> np.ndarray:
    n = x[-1]
    return np.asarray(np.interp(grid, x / n, v / n), dtype=np.float64)


def bootstrap_curve(
    y: object,
    uplift: object,
    treatment: object,
    *,
    curve: Literal["qini", "uplift"] = "qini",
    n_boot: int = 200,
    level: float = 0.9,
    grid: int = 101,
    seed: int = 0,
) -> CurveBand:
    """A Qini or uplift curve with a pointwise bootstrap band (customers resampled)."""
    if curve not in CURVES:
        raise UpliftMetricError(f"curve must be 'qini' or 'uplift', got {curve!r}")
    yv, uv, tv = check_inputs(y, uplift, treatment)
    fn = CURVES[curve]
    share = np.linspace(0.0, 1.0, grid)
    value = _on_grid(*fn(yv, uv, tv), share)
    rng = np.random.default_rng(seed)
    draws = np.empty((n_boot, grid))
    for b in range(n_boot):
        idx = rng.integers(0, yv.size, yv.size)
        t = tv[idx]
        if not t.any() or t.all():
            draws[b] = np.nan
            continue
        draws[b] = _on_grid(*fn(yv[idx], uv[idx], t), share)
    alpha = (1 - level) / 2
    lower, upper = np.nanquantile(draws, [alpha, 1 - alpha], axis=0)
    return CurveBand(share=share, value=value, lower=lower, upper=upper)


def bootstrap_metric(
    metric: Callable[[np.ndarray, np.ndarray, np.ndarray], float],
    y: object,
    uplift: object,
    treatment: object,
    *,
    n_boot: int = 200,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float, float]:
    """A metric on the full sample and its percentile bootstrap interval.

    Returns
    -------
    tuple of float
        ``(estimate, lower, upper)``.
    """
    yv, uv, tv = check_inputs(y, uplift, treatment)
    est = float(metric(yv, uv, tv))
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, yv.size, yv.size)
        try:
            values.append(float(metric(yv[idx], uv[idx], tv[idx])))
        except UpliftMetricError:
            continue
    if not values:
        raise UpliftMetricError("every bootstrap sample was degenerate")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return est, float(lo), float(hi)


# ---------------------------------------------------------------------- plots
def plot_curves(
    bands: Mapping[str, CurveBand],
    *,
    title: str = "Qini curve",
    ylabel: str = "incremental outcome per customer",
) -> Any:
    """A matplotlib figure: one line (and shaded band) per model plus random targeting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    end = 0.0
    for label, band in bands.items():
        (line,) = ax.plot(band.share, band.value, label=label)
        ax.fill_between(band.share, band.lower, band.upper, color=line.get_color(), alpha=0.15)
        end = float(band.value[-1])
    ax.plot([0, 1], [0, end], linestyle="--", color="grey", label="random")
    ax.set_xlabel("share of customers targeted (by predicted uplift)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig
