"""Lookalike expansion of a seed audience, and its hidden-half evaluation.

Two expanders over customer vectors (``(n_users, dim)``, rows L2-normalised blocks):

* ``ann``: every candidate's score is its mean inner product with its ``n_neighbors`` nearest
  seed members (a faiss flat inner-product index over the seed);
* ``pu``: a positive-unlabelled logistic regression, seed = positive, everyone else =
  unlabelled, scored by the classifier's probability (class-weighted).

:func:`hidden_half_recall` hides half of a known audience, expands from the other half and
measures recall@k of the hidden half among non-seed users, next to ``random`` and
``popularity`` (most active users first) baselines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from reclift.errors import ReclifError, require
from reclift.models.errors import InvalidParameterError

Method = Literal["ann", "pu", "random", "popularity"]


def _seed_rows(user_ids: np.ndarray, seed: Sequence[str]) -> np.ndarray:
    lookup = {u: i for i, u in enumerate(np.asarray(user_ids).astype(str))}
    rows = [lookup[s] for s in map(str, seed) if s in lookup]
    if not rows:
        raise ReclifError("seed audience: none of its users has a customer vector")
    return np.unique(np.asarray(rows, dtype=np.int64))


def lookalike_scores(
    vectors: np.ndarray,
    seed_rows: np.ndarray,
    method: Method = "ann",
    *,
    n_neighbors: int = 10,
    activity: np.ndarray | None = None,
    random_state: int = 0,
    exclude_seed: bool = True,
) -> np.ndarray:
    """Scores ``(n_users,)`` of every user's likeness to the seed rows.

    Seed rows get ``-inf`` unless ``exclude_seed`` is false (then they are scored like every
    other user, e.g. with ``ann`` a seed member is its own nearest neighbour).
    """
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if method == "ann":
        faiss: Any = require("faiss", "search")
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x[seed_rows])
        k = min(n_neighbors, len(seed_rows))
        sims, _ = index.search(x, k)
        scores = sims.mean(axis=1).astype(np.float64)
    elif method == "pu":
        from sklearn.linear_model import LogisticRegression

        y = np.zeros(len(x), dtype=int)
        y[seed_rows] = 1
        clf = LogisticRegression(class_weight="balanced", max_iter=500).fit(x, y)
        scores = clf.predict_proba(x)[:, 1].astype(np.float64)
    elif method == "random":
        scores = np.random.default_rng(random_state).random(len(x))
    elif method == "popularity":
        if activity is None:
            raise InvalidParameterError("method 'popularity' needs the users' activity counts")
        scores = np.asarray(activity, dtype=np.float64).copy()
    else:
        raise InvalidParameterError(f"unknown lookalike method {method!r}")
    if exclude_seed:
        scores[seed_rows] = -np.inf
    return np.asarray(scores, dtype=np.float64)


def expand(
    user_ids: np.ndarray,
    vectors: np.ndarray,
    seed: Sequence[str],
    k: int,
    method: Method = "ann",
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best users: ``(user_ids (k,), scores (k,))``, ties by user id.

    Seed users are left out unless ``exclude_seed=False`` is among ``options`` (passed to
    :func:`lookalike_scores`).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidParameterError(f"k must be a positive integer, got {k!r}")
    rows = _seed_rows(user_ids, seed)
    scores = lookalike_scores(vectors, rows, method, **options)
    ids = np.asarray(user_ids).astype(str)
    order = np.lexsort((ids, -scores))
    order = order[np.isfinite(scores[order])][:k]
    return ids[order], scores[order]


def hidden_half_recall(
    user_ids: np.ndarray,
    vectors: np.ndarray,
    audience: Sequence[str],
    ks: Sequence[int],
    methods: Sequence[Method] = ("ann", "pu", "random", "popularity"),
    *,
    activity: np.ndarray | None = None,
    random_state: int = 0,
) -> dict[str, dict[int, float]]:
    """Recall@k of a hidden half of ``audience`` when expanding from the other half."""
    rows = _seed_rows(user_ids, audience)
    if len(rows) < 4:
        raise ReclifError(f"audience has {len(rows)} users with vectors; need at least 4")
    perm = np.random.default_rng(random_state).permutation(rows)
    seed, hidden = perm[: len(perm) // 2], perm[len(perm) // 2 :]
    is_hidden = np.zeros(len(user_ids), dtype=bool)
    is_hidden[hidden] = True
    out: dict[str, dict[int, float]] = {}
    for m in methods:
        s = lookalike_scores(vectors, seed, m, activity=activity, random_state=random_state)
        order = np.argsort(-s, kind="stable")
        out[m] = {int(k): float(is_hidden[order[:k]].sum() / len(hidden)) for k in ks}
    return out
