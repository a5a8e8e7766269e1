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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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


def item2vec(
    events: pd.DataFrame, dim: int = 32, window: int = 5, epochs: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Item vectors from gensim Word2Vec over sessions: ``(item_ids (m,), vectors (m, dim))``.

    Sessions are ``session_id`` when present, else a user's events; each sequence is ordered
    by ``ts``. Items in no sequence of two or more are left out.
    """
    gensim_models: Any = require("gensim.models", "recs")
    key = "session_id" if "session_id" in events.columns else "user_id"
    ev = events.sort_values([key, "ts"], kind="stable")
    seqs = [s for s in ev.groupby(key, sort=False)["item_id"].agg(list) if len(s) > 1]
    if not seqs:
        raise SchemaError("events: no session with two or more items to learn item2vec from")
    w2v = gensim_models.Word2Vec(
        sentences=[[str(i) for i in s] for s in seqs],
        vector_size=dim,
        window=window,
        min_count=1,
        sg=1,
        epochs=epochs,
        seed=seed,
        workers=1,
    )
    ids = np.array(w2v.wv.index_to_key, dtype=object)
    return ids, np.asarray(w2v.wv.vectors, dtype=np.float32)


def profile_matrix(
    events: pd.DataFrame, items: pd.DataFrame | None, users: np.ndarray
) -> np.ndarray:
    """Numeric profile per user: log1p counts per category, order share, log1p activity."""
    ev = events.copy()
    if items is not None and "category" in items.columns:
        cat = items.set_index(items["item_id"].astype(str))["category"].astype(str)
        ev["category"] = ev["item_id"].astype(str).map(cat).fillna("?")
    else:
        ev["category"] = "?"
    counts = pd.crosstab(ev["user_id"], ev["category"]).reindex(users, fill_value=0)
    total = counts.sum(axis=1).to_numpy(dtype=float)
    orders = (
        ev[ev["event_type"] == "order"].groupby("user_id").size().reindex(users, fill_value=0)
        if "event_type" in ev.columns
        else pd.Series(0, index=users)
    )
    share = orders.to_numpy(dtype=float) / np.maximum(total, 1.0)
    return np.column_stack([np.log1p(counts.to_numpy(dtype=float)), share, np.log1p(total)])


def autoencode(x: np.ndarray, dim: int = 8, epochs: int = 200, seed: int = 0) -> np.ndarray:
    """Codes ``(n, dim)`` of a standardised matrix ``x`` ``(n, f)`` from a small autoencoder."""
    torch: Any = require("torch", "torch")
    torch.manual_seed(seed)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    z = torch.from_numpy(((x - mu) / np.where(sd > 0, sd, 1.0)).astype(np.float32))
    f = z.shape[1]
    enc = torch.nn.Sequential(torch.nn.Linear(f, 32), torch.nn.ReLU(), torch.nn.Linear(32, dim))
    dec = torch.nn.Sequential(torch.nn.Linear(dim, 32), torch.nn.ReLU(), torch.nn.Linear(32, f))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=0.01)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(dec(enc(z)), z)
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
) -> CustomerVectors:
    """Concatenated, block-normalised customer vectors for every user in ``events``.

    Parameters
    ----------
    events
        ``user_id, item_id, ts`` (+ ``session_id``, ``event_type`` when present).
    items
        Optional ``item_id, category`` for the per-category profile.
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
    ids, vecs = item2vec(ev, dim=item_dim, seed=seed)
    pos = pd.Index(ids).get_indexer(ev["item_id"].to_numpy())
    ok = pos >= 0
    uidx = pd.Index(users).get_indexer(ev["user_id"].to_numpy())[ok]
    sums = np.zeros((len(users), item_dim), dtype=np.float64)
    np.add.at(sums, uidx, vecs[pos[ok]])
    item_block = _l2(sums)
    prof_block = _l2(autoencode(profile_matrix(ev, items, users), dim=profile_dim, seed=seed))
    vectors = np.hstack([item_block, prof_block])
    return CustomerVectors(
        users, vectors, {"item2vec": (0, item_dim), "profile": (item_dim, item_dim + profile_dim)}
    )


def save_vectors(
    cv: CustomerVectors, store: ArtifactStore | str | Path, name: str = "customer360"
) -> Artifact:
    """Publish vectors (npz, no pickle) and their id map (Parquet) as a new version."""
    store = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
    meta = {"family": FAMILY, "blocks": {k: list(v) for k, v in cv.blocks.items()}}
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
