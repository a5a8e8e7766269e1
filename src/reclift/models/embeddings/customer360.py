"""Customer-360 vectors: item2vec over baskets plus an autoencoder over numeric profiles.

* item2vec: gensim ``Word2Vec`` (skip-gram) over each session's (or basket's) item sequence;
  a user's block is the mean vector of the items in their history;
* profile autoencoder (PyTorch, CPU): a user's numeric purchase metrics per category
  (``log1p`` event counts and the share of orders) compressed to ``profile_dim`` numbers.

Each block is L2-normalised and the blocks are concatenated, so cosine similarity weighs them
equally. :func:`save_vectors` / :func:`load_vectors` store them versioned in an artifact
store (``vectors.npz`` without pickle + ``ids.parquet``).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from reclift.errors import ArtifactError, SchemaError, require
from reclift.models.errors import InvalidParameterError
from reclift.models.persist import load_npz, resolve_artifact, save_npz
from reclift.workspace.artifacts import Artifact, ArtifactStore

FAMILY = "embeddings"


@dataclass(frozen=True)
class CustomerVectors:
    """Row ``i`` of ``vectors`` ``(n_users, dim)`` belongs to ``user_ids[i]``; ``blocks`` names
    the column ranges ``{name: (start, stop)}``."""

    user_ids: np.ndarray
    vectors: np.ndarray
    blocks: dict[str, tuple[int, int]]


def _l2(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.where(norm > 0, norm, 1.0), dtype=np.float32)


def _stable_hash(text: str) -> int:
    # gensim seeds each word's initial vector with hashfxn(word + seed); Python's own str
    # hash changes between processes, which would make the vectors irreproducible
    return zlib.crc32(text.encode("utf-8"))


def item2vec(
    events: pd.DataFrame,
    dim: int = 32,
    window: int = 5,
    epochs: int = 10,
    seed: int = 0,
    max_sequences: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Item vectors from gensim Word2Vec over sessions: ``(item_ids (m,), vectors (m, dim))``.

    Sessions are ``session_id`` when present, else a user's events; each sequence is ordered
    by ``ts`` and repeats of the same item in a row (view, click, cart of one item) count
    once. Items in no sequence of two or more are left out. ``max_sequences`` caps the
    sequences learned from (a seeded random sample) to bound the time on large logs.
    """
    gensim_models: Any = require("gensim.models", "recs")
    key = "session_id" if "session_id" in events.columns else "user_id"
    ev = events.sort_values([key, "ts"], kind="stable")
    keys = ev[key].astype(str).to_numpy()
    items = ev["item_id"].astype(str).to_numpy()
    # a funnel step on the same item is no new context: keep the first of each run
    first = np.ones(len(ev), dtype=bool)
    first[1:] = (keys[1:] != keys[:-1]) | (items[1:] != items[:-1])
    keys, items = keys[first], items[first]
    bounds = np.append(np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]), len(keys))
    chosen = np.flatnonzero(np.diff(bounds) > 1)
    if not chosen.size:
        raise SchemaError("events: no session with two or more items to learn item2vec from")
    if max_sequences is not None and chosen.size > max_sequences:
        rng = np.random.default_rng(seed)
        chosen = np.sort(rng.choice(chosen, max_sequences, replace=False))
    seqs = [items[bounds[i] : bounds[i + 1]].tolist() for i in chosen]
    w2v = gensim_models.Word2Vec(
        sentences=seqs,
        vector_size=dim,
        window=window,
        min_count=1,
        sg=1,
        epochs=epochs,
        seed=seed,
        workers=1,
        hashfxn=_stable_hash,
    )
    ids = np.array(w2v.wv.index_to_key, dtype=object)
    return ids, np.asarray(w2v.wv.vectors, dtype=np.float32)


def profile_matrix(
    events: pd.DataFrame, items: pd.DataFrame | None, users: np.ndarray
) -> np.ndarray:
    """Numeric profile per user: log1p counts per category, order share, log1p activity.

    Returns shape ``(len(users), n_categories + 2)``, categories in sorted order; users
    without events get zero rows.
    """
    # factorize items first (hashing), then map the few distinct items to categories
    item_codes, item_uniq = pd.factorize(events["item_id"].astype(str))
    if items is not None and "category" in items.columns:
        cat = items.set_index(items["item_id"].astype(str))["category"].astype(str)
        item_cat = pd.Series(item_uniq).map(cat).fillna("?").to_numpy(dtype=str)
    else:
        item_cat = np.full(len(item_uniq), "?")
    cats, cat_of_item = np.unique(item_cat, return_inverse=True)
    cidx = cat_of_item.ravel()[item_codes]
    uidx = pd.Index(users).get_indexer(events["user_id"].to_numpy())
    known = uidx >= 0
    counts = sp.csr_matrix(
        (np.ones(int(known.sum())), (uidx[known], cidx.ravel()[known])),
        shape=(len(users), len(cats)),
    ).toarray()
    total = counts.sum(axis=1)
    if "event_type" in events.columns:
        is_order = (events["event_type"] == "order").to_numpy(dtype=bool)
        orders = np.bincount(uidx[known & is_order], minlength=len(users)).astype(float)
    else:
        orders = np.zeros(len(users))
    share = orders / np.maximum(total, 1.0)
    return np.column_stack([np.log1p(counts), share, np.log1p(total)])


def autoencode(
    x: np.ndarray,
    dim: int = 8,
    epochs: int = 200,
    seed: int = 0,
    batch_size: int | None = None,
) -> np.ndarray:
    """Codes ``(n, dim)`` of a standardised matrix ``x`` ``(n, f)`` from a small autoencoder.

    Each of the ``epochs`` steps fits all rows, or a random ``batch_size`` of them when given
    (bounds the time on many users; every row is still encoded).
    """
    torch: Any = require("torch", "torch")
    torch.manual_seed(seed)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    z = torch.from_numpy(((x - mu) / np.where(sd > 0, sd, 1.0)).astype(np.float32))
    f = z.shape[1]
    enc = torch.nn.Sequential(torch.nn.Linear(f, 32), torch.nn.ReLU(), torch.nn.Linear(32, dim))
    dec = torch.nn.Sequential(torch.nn.Linear(dim, 32), torch.nn.ReLU(), torch.nn.Linear(32, f))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=0.01)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        zb = z
        if batch_size is not None and batch_size < len(z):
            zb = z[torch.from_numpy(rng.choice(len(z), batch_size, replace=False))]
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(dec(enc(zb)), zb)
        loss.backward()
        opt.step()
    with torch.no_grad():
        return np.asarray(enc(z).numpy(), dtype=np.float32)


def build_customer_vectors(
    events: pd.DataFrame,
    items: pd.DataFrame | None = None,
    *,
    item_dim: int = 32,
    profile_dim: int = 8,
    seed: int = 0,
    item2vec_epochs: int = 10,
    max_sequences: int | None = None,
    profile_batch: int | None = None,
) -> CustomerVectors:
    """Concatenated, block-normalised customer vectors for every user in ``events``.

    Parameters
    ----------
    events
        ``user_id, item_id, ts`` (+ ``session_id``, ``event_type`` when present).
    items
        Optional ``item_id, category`` for the per-category profile.
    item2vec_epochs, max_sequences
        Passes over the sessions and the most sessions item2vec learns from (see
        :func:`item2vec`); every event still counts in its user's vector.
    profile_batch
        Rows per autoencoder step (default: all users; see :func:`autoencode`).

    Returns
    -------
    CustomerVectors
        ``vectors`` of shape ``(n_users, item_dim + profile_dim)``, users sorted by id.
    """
    missing = [c for c in ("user_id", "item_id", "ts") if c not in events.columns]
    if missing:
        raise SchemaError(f"events: missing column(s) {missing}; it has {list(events.columns)}")
    if len(events) == 0:
        raise SchemaError("events is empty: no customer to embed")
    if item_dim < 1 or profile_dim < 1:
        raise InvalidParameterError("item_dim and profile_dim must be positive")
    ev = events.assign(user_id=events["user_id"].astype(str), item_id=events["item_id"].astype(str))
    users = np.array(sorted(ev["user_id"].unique()), dtype=object)
    ids, vecs = item2vec(
        ev, dim=item_dim, epochs=item2vec_epochs, seed=seed, max_sequences=max_sequences
    )
    pos = pd.Index(ids).get_indexer(ev["item_id"].to_numpy())
    ok = pos >= 0
    uidx = pd.Index(users).get_indexer(ev["user_id"].to_numpy())[ok]
    # user x item counts times item vectors = the sum of a user's item vectors
    counts = sp.csr_matrix(
        (np.ones(len(uidx)), (uidx, pos[ok])), shape=(len(users), len(ids)), dtype=np.float64
    )
    item_block = _l2(np.asarray(counts @ vecs.astype(np.float64)))
    profile = profile_matrix(ev, items, users)
    prof_block = _l2(autoencode(profile, dim=profile_dim, seed=seed, batch_size=profile_batch))
    vectors = np.hstack([item_block, prof_block])
    return CustomerVectors(
        users, vectors, {"item2vec": (0, item_dim), "profile": (item_dim, item_dim + profile_dim)}
    )


def save_vectors(
    cv: CustomerVectors,
    store: ArtifactStore | str | Path,
    name: str = "customer360",
    meta: dict[str, Any] | None = None,
) -> Artifact:
    """Publish vectors (npz, no pickle) and their id map (Parquet) as a new version.

    ``meta`` adds JSON metadata (e.g. offline metrics) to the artifact's own.
    """
    store = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
    meta = {
        **(meta or {}),
        "family": FAMILY,
        "blocks": {k: list(v) for k, v in cv.blocks.items()},
    }
    with store.publish(name, meta=meta) as tmp:
        save_npz(tmp / "vectors.npz", {"vectors": cv.vectors})
        pq.write_table(pa.table({"user_id": cv.user_ids.astype(str).tolist()}), tmp / "ids.parquet")
    return store.load(name)


def load_vectors(
    source: Artifact | ArtifactStore | str | Path, name: str | None = None
) -> CustomerVectors:
    """Inverse of :func:`save_vectors`."""
    art = resolve_artifact(source, name)
    if art.meta.get("family") != FAMILY:
        raise ArtifactError(f"{art.path}: not a customer-vector artifact")
    vectors = load_npz(art.file("vectors.npz"))["vectors"]
    ids = np.asarray(
        pq.read_table(art.file("ids.parquet")).column("user_id").to_pylist(), dtype=object
    )
    if len(ids) != len(vectors):
        raise ArtifactError(f"{art.path}: {len(ids)} ids for {len(vectors)} vectors")
    blocks = {k: (int(v[0]), int(v[1])) for k, v in art.meta["blocks"].items()}
    return CustomerVectors(ids, vectors, blocks)
