"""Deterministic top-k: a total order (score, then id) so every engine picks the same rows."""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from reclift.pipelines._common import PipelineError, null_safe_keys, require_columns


def rank_by(
    table: ir.Table,
    score: str,
    *,
    id_col: str = "item_id",
    by: Sequence[str] = (),
    descending: bool = True,
    name: str = "rank",
) -> ir.Table:
    """Add a 1-based rank by ``score`` (descending by default), ties broken by ``id_col`` asc.

    Parameters
    ----------
    table
        Input table; ``score`` and ``id_col`` must not be null (null scores rank last).
    score
        Column to rank by.
    id_col
        Tie-breaking id column (ascending).
    by
        Rank within groups of these columns (e.g. ``["category"]``).
    descending
        Highest score first.
    name
        Name of the rank column (``int64``, 1 = best).
    """
    require_columns(table, [score, id_col, *by], "rank_by input")
    col = table[score]
    keys: list[ir.Value] = [col.isnull(), col.desc() if descending else col.asc(), table[id_col]]
    window = ibis.window(group_by=[table[c] for c in by] or None, order_by=keys)
    rank = (ibis.row_number().over(window) + 1).cast("int64")
    return table.mutate(**{name: rank})


def top_k(
    table: ir.Table,
    k: int,
    score: str,
    *,
    id_col: str = "item_id",
    by: Sequence[str] = (),
    descending: bool = True,
    name: str = "rank",
) -> ir.Table:
    """The ``k`` best rows by ``score`` (per group of ``by``), ties broken by ``id_col``.

    Returns the rows with a ``rank`` column (1..k), ordered by ``by``, rank. Parameters as in
    :func:`rank_by`.

    Raises
    ------
    PipelineError
        When ``k`` is not a positive integer.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise PipelineError(f"top_k needs a positive integer k, got {k!r}")
    ranked = rank_by(table, score, id_col=id_col, by=by, descending=descending, name=name)
    kept = ranked.filter(ranked[name] <= k)
    return kept.order_by([*[key for c in by for key in null_safe_keys(kept[c])], kept[name]])
