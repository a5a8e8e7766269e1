"""MONO baseline: one single-purpose model per offer attribute (softmax over its values).

For the attribute ``target``, the model predicts which of its values a user's next target
event has, from the user's history shares over *all* offer attributes. An offer is scored
as the summed probability over the values it covers: when every condition of the offer is
on ``target``, the covered values are those satisfying it; when ``target`` is the item id
(MONO-product), any offer works through the items it covers. A value never seen in
training keeps zero weights, so it ranks all users alike (the baseline's cold-start limit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reclift.errors import ReclifError, require
from reclift.models.errors import InvalidParameterError
from reclift.models.offers.base import OfferModel
from reclift.models.offers.language import Node, conditions
from reclift.models.persist import load_npz, save_npz
from reclift.workspace.artifacts import Artifact


class MonoOfferModel(OfferModel):
    """Softmax (multinomial logistic) regression over the values of ``target``, per event.

    Trained like the seed's single-purpose models: each target event is a row, its label is
    the value of ``target`` its item has (items with several values spread the row's weight),
    features are the user's history shares over all offer attributes. ``P(value | user)`` is
    then exactly the question the per-event AUC asks. Implemented as a linear layer over a
    sparse bag (PyTorch ``EmbeddingBag``) so thousands of values stay cheap.

    Parameters
    ----------
    attributes
        Offer attribute columns (features use all of them).
    target
        The attribute whose values are the classes; must be in ``attributes``.
    epochs, batch_size, lr, l2
        Adam schedule and L2 penalty on the weights.
    history_fraction
        Share of each user's earliest events used as features while training.
    seed
        Random seed.
    """

    name: ClassVar[str] = "mono"

    def __init__(
        self,
        attributes: list[str] | tuple[str, ...] = ("item_id",),
        *,
        target: str = "item_id",
        epochs: int = 10,
        batch_size: int = 512,
        lr: float = 0.05,
        l2: float = 1e-5,
        history_fraction: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.attributes = attributes
        self.target = target
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.l2 = l2
        self.history_fraction = history_fraction
        self.seed = seed

    def _features(self, hist: dict[str, sp.csr_matrix]) -> sp.csr_matrix:
        return sp.csr_matrix(sp.hstack([hist[a] for a in self.catalog_.attributes]))

    def fit(self, events: object, items: object) -> Self:
        """Fit the softmax regression of the target's value on the user's history."""
        torch: Any = require("torch", "torch")
        if self.target not in self.attributes:
            raise InvalidParameterError(
                f"target {self.target!r} is not one of the attributes {list(self.attributes)}"
            )
        for p in ("epochs", "batch_size"):
            v = getattr(self, p)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{p} must be a positive integer, got {v!r}")
        _, hist_ev, tgt = self._prepare(events, items)
        cat = self.catalog_
        users = np.array(sorted(tgt["user_id"].unique()), dtype=object)
        x = self._features(cat.histories(hist_ev, users))
        u = pd.Index(users.astype(str)).get_indexer(tgt["user_id"].to_numpy())
        # one (row, value, weight) triple per value of the event's item
        y = sp.csr_matrix(cat.item_values[self.target][cat.encode_items(tgt["item_id"].to_numpy())])
        rows = np.repeat(np.arange(y.shape[0]), np.diff(y.indptr))
        r_user, r_val, r_w = u[rows], y.indices.astype(np.int64), y.data.astype(np.float32)
        n_values = max(1, len(cat.vocab[self.target]))
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        lin = torch.nn.EmbeddingBag(x.shape[1], n_values, mode="sum")
        torch.nn.init.zeros_(lin.weight)
        prior = np.bincount(r_val, weights=r_w, minlength=n_values) + 0.1
        bias = torch.nn.Parameter(torch.from_numpy(np.log(prior / prior.sum()).astype(np.float32)))
        opt = torch.optim.Adam([lin.weight, bias], lr=self.lr)
        for _ in range(self.epochs):
            order = rng.permutation(len(r_user))
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                xb = sp.csr_matrix(x[r_user[idx]])
                logits = (
                    lin(
                        torch.from_numpy(xb.indices.astype(np.int64)),
                        torch.from_numpy(xb.indptr[:-1].astype(np.int64)),
                        per_sample_weights=torch.from_numpy(xb.data.astype(np.float32)),
                    )
                    + bias
                )
                nll = -torch.log_softmax(logits, dim=1)[
                    torch.arange(len(idx)), torch.from_numpy(r_val[idx])
                ]
                w = torch.from_numpy(r_w[idx])
                loss = (nll * w).sum() / w.sum() + self.l2 * (lin.weight**2).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.coef_ = lin.weight.detach().numpy().astype(np.float32)  # (n_features, n_values)
        self.intercept_ = bias.detach().numpy().astype(np.float32)
        return self

    def _values(self, offer: Node) -> np.ndarray:
        """Weights over the values of ``target`` the offer covers, shape ``(n_values,)``."""
        cat = self.catalog_
        if all(leaf.attribute == self.target for leaf in conditions(offer)):
            frame = pd.DataFrame({self.target: list(cat.vocab[self.target])})
            spec = cat.schema.attributes[self.target]
            if spec.multi:
                frame[self.target] = [[v] for v in frame[self.target]]
            if spec.kind != "numeric":
                from reclift.models.offers.language import evaluate

                return evaluate(offer, frame, cat.schema).astype(np.float64)
        if self.target == "item_id":
            items = cat.item_mask(offer).astype(np.float64)
            return np.asarray(cat.item_values[self.target].T @ items, dtype=np.float64).ravel()
        raise ReclifError(
            f"MONO-{self.target} cannot score this offer: its conditions are not all on "
            f"{self.target!r}",
            hint="use the universal model for offers over other attributes",
        )

    def _score_hist(self, offer: Node, hist: dict[str, sp.csr_matrix]) -> np.ndarray:
        w = self._values(offer)
        logits = np.asarray(self._features(hist) @ self.coef_, dtype=np.float64) + self.intercept_
        logits -= logits.max(axis=1, keepdims=True)
        prob = np.exp(logits)
        prob /= prob.sum(axis=1, keepdims=True)
        return np.asarray(prob @ w, dtype=np.float32)

    def _save_state(self, directory: Path) -> None:
        save_npz(directory / "mono.npz", {"coef": self.coef_, "intercept": self.intercept_})

    def _load_state(self, art: Artifact) -> None:
        arrays = load_npz(art.file("mono.npz"))
        self.coef_, self.intercept_ = arrays["coef"], arrays["intercept"]
