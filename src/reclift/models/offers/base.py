"""The offer-targeting family: score every user for an offer written in the offer language.

An *offer* is a set of items given by an expression over item attributes
(:mod:`reclift.models.offers.language`). Every model of the family learns from events
(``user_id, item_id, ts[, event_type]``) and an items frame holding the offer attributes
(scalars, or lists for multi-valued ones such as genres), then
:meth:`OfferModel.score` returns one score per user for any expression, cold-start offers
included. User histories are split per user in time: the earlier ``history_fraction`` of a
user's events are the features, the later ``order`` events (all events when there is no
``event_type``) are the targets.

Every implementation must pass ``tests/unit/models/offers/test_conformance.py``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from reclift.errors import ReclifError, SchemaError
from reclift.models.errors import InvalidParameterError, NotFittedError
from reclift.models.offers.language import (
    AttributeSpec,
    Node,
    OfferSchema,
    evaluate,
    parse,
    validate,
)
from reclift.models.persist import load_npz, resolve_artifact, save_npz
from reclift.workspace.artifacts import Artifact, ArtifactStore

FAMILY = "offers"
N_PRICE_BANDS = 8


def _as_frame(data: object, what: str, required: Sequence[str]) -> pd.DataFrame:
    if isinstance(data, pa.Table):
        data = data.to_pandas()
    if not isinstance(data, pd.DataFrame):
        raise SchemaError(f"{what} must be a pandas.DataFrame or pyarrow.Table")
    missing = [c for c in required if c not in data.columns]
    if missing:
        raise SchemaError(f"{what}: missing column(s) {missing}; it has {list(data.columns)}")
    if len(data) == 0:
        raise SchemaError(f"{what} is empty: nothing to fit on")
    for col in ("user_id", "item_id"):
        if col in data.columns and data[col].isna().any():
            row = int(np.flatnonzero(data[col].isna().to_numpy())[0])
            raise SchemaError(f"{what}: column {col!r} is null at row {row}")
    return data


def split_user_history(
    events: pd.DataFrame, history_fraction: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split each user's events in time: ``(history, targets)``.

    The first ``ceil(history_fraction * n_u)`` events of a user (by ``ts``, ties by item) are
    history; among the rest, ``order`` events (all when there is no ``event_type``) are targets.
    """
    ev = events.sort_values(["user_id", "ts", "item_id"], kind="stable")
    pos = ev.groupby("user_id", sort=False).cumcount().to_numpy()
    size = ev.groupby("user_id", sort=False)["item_id"].transform("size").to_numpy()
    is_hist = pos < np.ceil(history_fraction * size)
    hist = ev[is_hist]
    tgt = ev[~is_hist]
    if "event_type" in tgt.columns:
        tgt = tgt[tgt["event_type"] == "order"]
    return hist.reset_index(drop=True), tgt.reset_index(drop=True)


@dataclass
class OfferCatalog:
    """Items and their offer attributes encoded as value codes.

    Attributes
    ----------
    item_ids
        Sorted external item ids, shape ``(n_items,)``; an item's code is its position.
    attributes
        Offer attribute names, in model order.
    vocab
        Per attribute, its value strings (numeric attributes: band labels); code = position.
    item_values
        Per attribute, CSR ``(n_items, n_values)`` with each item's row summing to 1 (an item
        with no value has an empty row).
    frame
        The items frame (``item_id`` + attributes) the offer language evaluates against.
    schema
        The :class:`OfferSchema` for validation.
    """

    item_ids: np.ndarray
    attributes: list[str]
    vocab: dict[str, np.ndarray]
    item_values: dict[str, sp.csr_matrix]
    frame: pd.DataFrame
    schema: OfferSchema
    band_edges: dict[str, np.ndarray]

    @classmethod
    def build(cls, items: pd.DataFrame, attributes: Sequence[str]) -> OfferCatalog:
        """Encode ``items`` (an ``item_id`` column plus ``attributes``)."""
        if not attributes:
            raise InvalidParameterError("offer attributes: give at least one column")
        frame = _as_frame(items, "items", ["item_id", *attributes])
        # the item id may itself be an offer attribute (single-item offers)
        frame = frame[["item_id", *[a for a in attributes if a != "item_id"]]].copy()
        frame["item_id"] = frame["item_id"].astype(str)
        dup = frame["item_id"].duplicated()
        if dup.any():
            row = int(np.flatnonzero(dup.to_numpy())[0])
            raise SchemaError(
                f"items: duplicate item_id {frame['item_id'].iloc[row]!r} at row {row}"
            )
        frame = frame.sort_values("item_id", kind="stable").reset_index(drop=True)
        schema = OfferSchema.from_items(frame, attributes)
        vocab: dict[str, np.ndarray] = {}
        mats: dict[str, sp.csr_matrix] = {}
        edges: dict[str, np.ndarray] = {}
        for a in attributes:
            spec = schema.attributes[a]
            if spec.kind == "numeric" and a != "item_id":
                num = pd.to_numeric(frame[a], errors="coerce").to_numpy(dtype=float)
                finite = num[np.isfinite(num)]
                e = (
                    np.unique(np.quantile(finite, np.linspace(0, 1, N_PRICE_BANDS + 1)[1:-1]))
                    if finite.size
                    else np.array([])
                )
                edges[a] = e
                band = np.searchsorted(e, num, side="right")
                lists = [
                    [f"band{b}"] if np.isfinite(x) else [] for b, x in zip(band, num, strict=True)
                ]
            elif spec.multi:
                lists = [[str(v) for v in row] if row is not None else [] for row in frame[a]]
            else:
                lists = [[str(v)] if pd.notna(v) else [] for v in frame[a]]
            values = np.array(sorted({v for row in lists for v in row}), dtype=object)
            index = {v: i for i, v in enumerate(values)}
            rows = np.repeat(np.arange(len(lists)), [len(r) for r in lists])
            cols = np.array([index[v] for r in lists for v in r], dtype=np.int64)
            w = np.concatenate([np.full(len(r), 1.0 / len(r)) for r in lists if r] or [np.zeros(0)])
            mats[a] = sp.csr_matrix((w, (rows, cols)), shape=(len(lists), len(values)))
            vocab[a] = values
        return cls(
            np.asarray(frame["item_id"].to_numpy(), dtype=object),
            list(attributes),
            vocab,
            mats,
            frame,
            schema,
            edges,
        )

    def encode_items(self, ids: np.ndarray) -> np.ndarray:
        """Codes of external item ids, ``-1`` for unknown ones."""
        lookup = self.item_ids.astype(str)
        vals = np.asarray(ids, dtype=str)
        pos = np.minimum(np.searchsorted(lookup, vals), len(lookup) - 1)
        return np.where(lookup[pos] == vals, pos, -1).astype(np.int64)

    def compile(self, offer: str | Node) -> Node:
        """Parse (when a string) and validate an offer against this catalog."""
        node = parse(offer) if isinstance(offer, str) else offer
        return validate(node, self.schema)

    def item_mask(self, offer: str | Node) -> np.ndarray:
        """Boolean mask over item codes, shape ``(n_items,)``."""
        return evaluate(self.compile(offer), self.frame, self.schema)

    def histories(self, events: pd.DataFrame, user_ids: np.ndarray) -> dict[str, sp.csr_matrix]:
        """Per attribute, CSR ``(n_users, n_values)``: each user's history as value shares.

        Rows of users without (known) events are empty; each non-empty row sums to 1.
        """
        uidx = pd.Index(np.asarray(user_ids, dtype=str))
        u = uidx.get_indexer(events["user_id"].astype(str).to_numpy())
        it = self.encode_items(events["item_id"].astype(str).to_numpy())
        ok = (u >= 0) & (it >= 0)
        ui = sp.csr_matrix(
            (np.ones(int(ok.sum())), (u[ok], it[ok])), shape=(len(uidx), len(self.item_ids))
        )
        out: dict[str, sp.csr_matrix] = {}
        for a in self.attributes:
            h = sp.csr_matrix(ui @ self.item_values[a])
            tot = np.asarray(h.sum(axis=1)).ravel()
            inv = np.divide(1.0, tot, out=np.zeros_like(tot), where=tot > 0)
            out[a] = sp.csr_matrix(sp.diags(inv) @ h).astype(np.float32)
        return out

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> dict[str, Any]:
        """Write the catalog into ``directory``; returns its JSON metadata."""
        arrays: dict[str, np.ndarray] = {}
        for i, a in enumerate(self.attributes):
            m = self.item_values[a]
            arrays[f"iv{i}_data"], arrays[f"iv{i}_indices"] = m.data, m.indices
            arrays[f"iv{i}_indptr"] = m.indptr
            arrays[f"edges{i}"] = self.band_edges.get(a, np.zeros(0))
        save_npz(directory / "catalog.npz", arrays)
        pq.write_table(
            pa.Table.from_pandas(self.frame, preserve_index=False), directory / "items.parquet"
        )
        vocab = pa.table(
            {
                "attribute": [a for a in self.attributes for _ in self.vocab[a]],
                "value": [str(v) for a in self.attributes for v in self.vocab[a]],
            }
        )
        pq.write_table(vocab, directory / "vocab.parquet")
        return {
            "attributes": self.attributes,
            "specs": {
                a: {"kind": s.kind, "multi": s.multi} for a, s in self.schema.attributes.items()
            },
        }

    @classmethod
    def load(cls, art: Artifact, meta: dict[str, Any]) -> OfferCatalog:
        """Inverse of :meth:`save`."""
        arrays = load_npz(art.file("catalog.npz"))
        frame = pq.read_table(art.file("items.parquet")).to_pandas()
        vt = pq.read_table(art.file("vocab.parquet")).to_pandas()
        attributes = list(meta["attributes"])
        vocab = {
            a: np.asarray(vt.loc[vt["attribute"] == a, "value"], dtype=object) for a in attributes
        }
        specs: dict[str, AttributeSpec] = {}
        for a, s in meta["specs"].items():
            if s["kind"] == "numeric":
                specs[a] = AttributeSpec(a, "numeric")
            else:
                col = frame[a].dropna()
                vals = {str(v) for row in col for v in row} if s["multi"] else set(col.astype(str))
                specs[a] = AttributeSpec(a, "categorical", frozenset(vals), bool(s["multi"]))
        mats = {}
        for i, a in enumerate(attributes):
            mats[a] = sp.csr_matrix(
                (arrays[f"iv{i}_data"], arrays[f"iv{i}_indices"], arrays[f"iv{i}_indptr"]),
                shape=(len(frame), len(vocab[a])),
            )
        edges = {a: arrays[f"edges{i}"] for i, a in enumerate(attributes)}
        return cls(
            np.asarray(frame["item_id"].astype(str).to_numpy(), dtype=object),
            attributes,
            vocab,
            mats,
            frame,
            OfferSchema(specs),
            edges,
        )


class OfferModel(ABC):
    """Base class: ``fit(events, items)`` then ``score(offer, users)`` for any offer.

    Parameters are stored by ``__init__`` only (see subclasses).
    """

    name: ClassVar[str]
    attributes: Sequence[str]
    history_fraction: float

    catalog_: OfferCatalog
    user_ids_: np.ndarray
    user_hist_: dict[str, sp.csr_matrix]

    def _prepare(
        self, events: object, items: object
    ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        if not 0.0 < float(self.history_fraction) < 1.0:
            raise InvalidParameterError(
                f"history_fraction must be in (0, 1), got {self.history_fraction!r}"
            )
        ev = _as_frame(events, "events", ["user_id", "item_id", "ts"]).copy()
        ev["user_id"] = ev["user_id"].astype(str)
        ev["item_id"] = ev["item_id"].astype(str)
        it = _as_frame(items, "items", ["item_id", *self.attributes])
        self.catalog_ = OfferCatalog.build(it, list(self.attributes))
        unknown = self.catalog_.encode_items(ev["item_id"].to_numpy()) < 0
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            raise SchemaError(
                f"events: item_id {ev['item_id'].iloc[row]!r} at row {row} is not in items"
            )
        hist, tgt = split_user_history(ev, self.history_fraction)
        if len(tgt) == 0:
            raise SchemaError("events: no target events after the per-user history split")
        self.user_ids_ = np.array(sorted(ev["user_id"].unique()), dtype=object)
        # scoring uses every event a user has: the split only serves training
        self.user_hist_ = self.catalog_.histories(ev, self.user_ids_)
        return ev, hist, tgt

    def refresh_histories(self, events: object) -> Self:
        """Replace the users and histories scored by default with those of ``events``.

        The learned weights stay as they are: e.g. fit on a training window, then score every
        user on all of their events. ``events`` needs ``user_id, item_id``; items unknown to
        the catalog are ignored.
        """
        self._check_fitted()
        ev = _as_frame(events, "events", ["user_id", "item_id"])
        self.user_ids_ = np.array(sorted(ev["user_id"].astype(str).unique()), dtype=object)
        self.user_hist_ = self.catalog_.histories(ev, self.user_ids_)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "catalog_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit first")

    @abstractmethod
    def fit(self, events: object, items: object) -> Self:
        """Learn from ``events`` (``user_id, item_id, ts[, event_type]``) and ``items``."""

    @abstractmethod
    def _score_hist(self, offer: Node, hist: dict[str, sp.csr_matrix]) -> np.ndarray:
        """Scores, shape ``(n_users,)``, for users given by their history matrices."""

    def score(
        self,
        offer: str | Node,
        users: Sequence[str] | None = None,
        history: pd.DataFrame | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score users for one offer.

        Parameters
        ----------
        offer
            An expression in the offer language (or a parsed tree).
        users
            External user ids; default every user seen at fit (or in ``history``).
        history
            Optional events (``user_id, item_id``) to build the users' histories from,
            instead of the ones stored at fit (e.g. for users unseen at fit).

        Returns
        -------
        (user_ids, scores)
            Shapes ``(n,)``; users without any known history get the offer's base score.
        """
        ids, scores = self.score_many([offer], users, history)
        return ids, scores[:, 0]

    def score_many(
        self,
        offers: Sequence[str | Node],
        users: Sequence[str] | None = None,
        history: pd.DataFrame | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Score users for several offers at once: ``(user_ids (n,), scores (n, n_offers))``.

        Raises
        ------
        OfferSyntaxError
            An offer that does not parse or names an unknown attribute or value.
        ReclifError
            An offer that covers no item of the catalog.
        """
        self._check_fitted()
        nodes = []
        for offer in offers:
            node = self.catalog_.compile(offer)
            if not self.catalog_.item_mask(node).any():
                raise ReclifError(f"offer {offer!s} covers no item of the catalog")
            nodes.append(node)
        if history is not None:
            h = _as_frame(history, "history", ["user_id", "item_id"])
            ids = np.array(sorted(h["user_id"].astype(str).unique()), dtype=object)
            hist = self.catalog_.histories(h, ids)
        else:
            ids, hist = self.user_ids_, self.user_hist_
        if users is not None:
            want = np.asarray(list(users), dtype=object)
            pos = pd.Index(ids.astype(str)).get_indexer(want.astype(str))
            rows = np.where(pos >= 0, pos, 0)
            hist = {a: _rows_or_empty(m, rows, pos >= 0) for a, m in hist.items()}
            ids = want
        if not len(ids):
            return ids, np.empty((0, len(nodes)), dtype=np.float32)
        return ids, self._score_nodes(nodes, hist)

    def _score_nodes(self, nodes: Sequence[Node], hist: dict[str, sp.csr_matrix]) -> np.ndarray:
        """Scores ``(n_users, n_offers)``; models override it to share work across offers."""
        return np.stack([self._score_hist(node, hist) for node in nodes], axis=1)

    # ------------------------------------------------------------------ persistence

    def _params(self) -> dict[str, Any]:
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        params = {n: getattr(self, n) for n in names}
        params["attributes"] = list(params["attributes"])
        return params

    @abstractmethod
    def _save_state(self, directory: Path) -> None: ...

    @abstractmethod
    def _load_state(self, art: Artifact) -> None: ...

    def save(
        self,
        store: ArtifactStore | str | Path,
        name: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Artifact:
        """Publish the model into an artifact store (safe formats only)."""
        self._check_fitted()
        store = store if isinstance(store, ArtifactStore) else ArtifactStore(store)
        name = name or self.name
        info: dict[str, Any] = {"family": FAMILY, "model": self.name, "params": self._params()}
        with store.publish(name, meta={**info, **(meta or {})}) as tmp:
            info["catalog"] = self.catalog_.save(tmp)
            h = self.user_hist_
            arrays: dict[str, np.ndarray] = {}
            for i, a in enumerate(self.catalog_.attributes):
                arrays[f"h{i}_data"], arrays[f"h{i}_indices"] = h[a].data, h[a].indices
                arrays[f"h{i}_indptr"] = h[a].indptr
            save_npz(tmp / "histories.npz", arrays)
            pq.write_table(
                pa.table({"user_id": self.user_ids_.astype(str).tolist()}), tmp / "users.parquet"
            )
            (tmp / "catalog.json").write_text(json.dumps(info["catalog"]), encoding="utf-8")
            self._save_state(tmp)
        return store.load(name)

    @classmethod
    def load(cls, source: Artifact | ArtifactStore | str | Path, name: str | None = None) -> Self:
        """Load a model saved by :meth:`save`."""
        art = resolve_artifact(source, name)
        if art.meta.get("family") != FAMILY or art.meta.get("model") != cls.name:
            raise ReclifError(
                f"{art.path}: not a {cls.name!r} offer model (meta {art.meta.get('model')!r})"
            )
        model = cls(**art.meta["params"])
        cat_meta = json.loads(art.file("catalog.json").read_text(encoding="utf-8"))
        model.catalog_ = OfferCatalog.load(art, cat_meta)
        model.user_ids_ = np.asarray(
            pq.read_table(art.file("users.parquet")).column("user_id").to_pylist(), dtype=object
        )
        arrays = load_npz(art.file("histories.npz"))
        model.user_hist_ = {
            a: sp.csr_matrix(
                (arrays[f"h{i}_data"], arrays[f"h{i}_indices"], arrays[f"h{i}_indptr"]),
                shape=(len(model.user_ids_), len(model.catalog_.vocab[a])),
            )
            for i, a in enumerate(model.catalog_.attributes)
        }
        model._load_state(art)
        return model


def _rows_or_empty(m: sp.csr_matrix, rows: np.ndarray, known: np.ndarray) -> sp.csr_matrix:
    out = sp.csr_matrix(m[rows])
    if not known.all():
        out = sp.csr_matrix(sp.diags(known.astype(np.float32)) @ out)
        out.eliminate_zeros()
    return out
