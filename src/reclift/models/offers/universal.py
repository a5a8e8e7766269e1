"""The universal offer model with group-by augmentations (seed 000), and its neural baselines.

One network scores a user for any offer defined by item attributes:

* user side: per attribute, the user's history as value shares -> a weighted sum of value
  embeddings; all attributes -> ``n_user_meta`` meta-features (linear compression);
* offer side: per attribute, the mean and variance of the offer's value embeddings (a single
  item has variance 0; an aggregated offer such as a genre has the spread of its items);
  a MaskNet-like gate computed from mean and variance rescales the means so the model can
  ignore noisy attributes; -> ``n_offer_meta`` meta-features;
* a bilinear kernel per (user meta, offer meta) pair, then a small MLP -> logit.

Training rows are target events (user, item). Each step scores the rows' own offers and
``n_negatives`` offers of other rows of the batch (in-batch negatives; a negative whose
group equals the row's group is masked out). With ``augment=True`` every step also runs
``n_augmentations`` group-by passes: a random subset of attributes is the key, rows sharing a
key form a group, and each row's offer is replaced by its group's in-batch mean and variance;
with probability ``merge_prob`` random groups are merged (an imitation of OR offers).

Variants in the same code path (:data:`VARIANTS`): ``universal`` (augmentations),
``no_aug`` (the same net without them) and ``two_tower`` (a plain dot product of a user tower
and an offer tower over the means, without augmentations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp

from reclift.errors import ReclifError, require
from reclift.models.errors import InvalidParameterError
from reclift.models.offers.base import OfferModel
from reclift.models.offers.language import Node
from reclift.workspace.artifacts import Artifact

Variant = Literal["universal", "no_aug", "two_tower"]
VARIANTS: tuple[Variant, ...] = ("universal", "no_aug", "two_tower")


def _torch() -> Any:
    return require("torch", "torch")


def _bag_inputs(m: sp.csr_matrix) -> tuple[Any, Any, Any]:
    torch = _torch()
    return (
        torch.from_numpy(m.indices.astype(np.int64)),
        torch.from_numpy(m.indptr[:-1].astype(np.int64)),
        torch.from_numpy(m.data.astype(np.float32)),
    )


def _build_net(
    n_values: list[int], dim: int, n_user_meta: int, n_offer_meta: int, hidden: int, variant: str
) -> Any:
    torch = _torch()
    nn = torch.nn

    class OfferNet(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            a = len(n_values)
            self.user_emb = nn.ModuleList(nn.EmbeddingBag(v, dim, mode="sum") for v in n_values)
            self.offer_emb = nn.ModuleList(nn.EmbeddingBag(v, dim, mode="sum") for v in n_values)
            for e in [*self.user_emb, *self.offer_emb]:
                nn.init.normal_(e.weight, std=0.3)
            self.k = dim
            self.user_proj = nn.Linear(a * dim, n_user_meta * dim)
            self.gate = nn.Sequential(
                nn.Linear(2 * a * dim, hidden), nn.ReLU(), nn.Linear(hidden, a * dim)
            )
            self.offer_proj = nn.Linear(2 * a * dim, n_offer_meta * dim)
            # start near a dot product per meta pair so the interaction has signal from step 1
            eye = torch.eye(dim).expand(n_user_meta, n_offer_meta, dim, dim)
            noise = torch.randn(n_user_meta, n_offer_meta, dim, dim) * 0.02
            self.bilinear = nn.Parameter((eye + noise) / math.sqrt(dim))
            self.head = nn.Sequential(
                nn.Linear(n_user_meta * n_offer_meta, hidden), nn.ReLU(), nn.Linear(hidden, 1)
            )
            self.user_tower = nn.Sequential(
                nn.Linear(a * dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)
            )
            self.offer_tower = nn.Sequential(
                nn.Linear(a * dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)
            )
            self.n_user_meta, self.n_offer_meta = n_user_meta, n_offer_meta

        def users(self, bags: list[tuple[Any, Any, Any]]) -> Any:
            parts = [
                emb(i, o, per_sample_weights=w)
                for emb, (i, o, w) in zip(self.user_emb, bags, strict=True)
            ]
            u = torch.cat(parts, dim=1)
            if variant == "two_tower":
                return self.user_tower(u)
            return self.user_proj(u).view(-1, self.n_user_meta, self.k)

        def item_parts(self, bags: list[tuple[Any, Any, Any]]) -> Any:
            """(n, a, dim) per-attribute offer embeddings of single items."""
            return torch.stack(
                [
                    emb(i, o, per_sample_weights=w)
                    for emb, (i, o, w) in zip(self.offer_emb, bags, strict=True)
                ],
                dim=1,
            )

        def offers(self, mean: Any, var: Any) -> Any:
            n = mean.shape[0]
            if variant == "two_tower":
                return self.offer_tower(mean.reshape(n, -1))
            mv = torch.cat([mean.reshape(n, -1), var.reshape(n, -1)], dim=1)
            # MaskNet-like instance mask in (0, 2): 1 keeps an attribute, 0 silences it
            mask = 2.0 * torch.sigmoid(self.gate(mv))
            x = torch.cat([mean.reshape(n, -1) * mask, torch.log1p(var.reshape(n, -1))], dim=1)
            return self.offer_proj(x).view(n, self.n_offer_meta, self.k)

        def pair_logits(self, u: Any, o: Any) -> Any:
            if variant == "two_tower":
                return (u * o).sum(dim=1)
            bil = torch.einsum("bpk,pqkl,bql->bpq", u, self.bilinear, o)
            return self.head(bil.reshape(bil.shape[0], -1)).squeeze(1)

    return OfferNet()


class UniversalOfferModel(OfferModel):
    """Universal offer targeting (group-by augmentations) and its neural baselines.

    Parameters
    ----------
    attributes
        Offer attribute columns of the items frame (e.g. ``["item_id", "genres", "decade"]``;
        use the item id itself as an attribute to allow single-item offers).
    variant
        ``"universal"``, ``"no_aug"`` or ``"two_tower"``.
    dim, n_user_meta, n_offer_meta, hidden
        Embedding size, meta-feature counts and hidden width.
    epochs, batch_size, lr, weight_decay
        Adam training schedule.
    n_negatives
        In-batch negatives per row.
    n_augmentations
        Group-by passes per step (``universal`` only).
    key_prob
        Probability an attribute joins the random group-by key.
    merge_prob
        Probability a pass also merges random groups (imitating OR).
    history_fraction
        Share of each user's earliest events used as features while training.
    seed
        Random seed (torch and numpy).
    n_threads
        Torch threads during fit (restored afterwards); None keeps torch's setting. On a
        busy machine 1 avoids thread oversubscription.
    """

    name: ClassVar[str] = "universal"

    def __init__(
        self,
        attributes: list[str] | tuple[str, ...] = ("item_id",),
        *,
        variant: str = "universal",
        dim: int = 16,
        n_user_meta: int = 5,
        n_offer_meta: int = 3,
        hidden: int = 32,
        epochs: int = 8,
        batch_size: int = 256,
        lr: float = 0.005,
        weight_decay: float = 1e-6,
        n_negatives: int = 4,
        n_augmentations: int = 3,
        key_prob: float = 0.5,
        merge_prob: float = 0.4,
        history_fraction: float = 0.5,
        seed: int = 0,
        n_threads: int | None = None,
    ) -> None:
        self.attributes = attributes
        self.variant = variant
        self.dim = dim
        self.n_user_meta = n_user_meta
        self.n_offer_meta = n_offer_meta
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.n_negatives = n_negatives
        self.n_augmentations = n_augmentations
        self.key_prob = key_prob
        self.merge_prob = merge_prob
        self.history_fraction = history_fraction
        self.seed = seed
        self.n_threads = n_threads

    # ------------------------------------------------------------------ training

    def _check_params(self) -> None:
        if self.variant not in VARIANTS:
            raise InvalidParameterError(
                f"variant must be one of {list(VARIANTS)}, got {self.variant!r}"
            )
        for p in (
            "dim",
            "n_user_meta",
            "n_offer_meta",
            "hidden",
            "epochs",
            "batch_size",
            "n_negatives",
        ):
            v = getattr(self, p)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{p} must be a positive integer, got {v!r}")
        if not 0.0 <= self.key_prob <= 1.0 or not 0.0 <= self.merge_prob <= 1.0:
            raise InvalidParameterError("key_prob and merge_prob must be in [0, 1]")

    def _new_net(self) -> Any:
        cat = self.catalog_
        return _build_net(
            [max(1, len(cat.vocab[a])) for a in cat.attributes],
            self.dim,
            self.n_user_meta,
            self.n_offer_meta,
            self.hidden,
            self.variant,
        )

    def _group_keys(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Random group-by key over attributes -> group id per row (0..G-1)."""
        cat = self.catalog_
        a_count = len(cat.attributes)
        chosen = rng.random(a_count) < self.key_prob
        if not chosen.any():
            chosen[rng.integers(a_count)] = True
        cols = []
        for a, use in zip(cat.attributes, chosen, strict=True):
            if not use:
                continue
            m = cat.item_values[a]
            start, stop = m.indptr[items], m.indptr[items + 1]
            n = stop - start
            # a multi-valued item (several genres) joins the group of one of its values
            pick = start + np.floor(rng.random(len(items)) * np.maximum(n, 1)).astype(np.int64)
            code = np.where(n > 0, m.indices[np.minimum(pick, max(len(m.indices) - 1, 0))], -1)
            cols.append(code)
        _, groups = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
        groups = groups.ravel()
        if rng.random() < self.merge_prob:
            n_groups = int(groups.max()) + 1
            merged = rng.integers(0, max(1, math.ceil(n_groups / 2)), size=n_groups)
            _, groups = np.unique(merged[groups], return_inverse=True)
        return groups.astype(np.int64)

    def fit(self, events: object, items: object) -> Self:
        """Train on ``events`` and ``items`` (see :class:`OfferModel`)."""
        self._check_params()
        torch = _torch()
        before = torch.get_num_threads()
        if self.n_threads is not None:
            torch.set_num_threads(self.n_threads)
        try:
            return self._fit(events, items)
        finally:
            torch.set_num_threads(before)

    def _fit(self, events: object, items: object) -> Self:
        torch = _torch()
        _, hist_ev, tgt = self._prepare(events, items)
        cat = self.catalog_
        train_users = np.array(sorted(tgt["user_id"].unique()), dtype=object)
        hist = cat.histories(hist_ev, train_users)
        u_codes = pd.Index(train_users.astype(str)).get_indexer(tgt["user_id"].to_numpy())
        i_codes = cat.encode_items(tgt["item_id"].to_numpy())
        counts = np.bincount(i_codes, minlength=len(cat.item_ids)).astype(np.float64)
        self.item_weight_ = counts + 1.0
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        net = self._new_net()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        n_rows = len(u_codes)
        n_aug = self.n_augmentations if self.variant == "universal" else 0
        losses: list[float] = []
        net.train()
        for _ in range(self.epochs):
            order = rng.permutation(n_rows)
            total = 0.0
            for start in range(0, n_rows, self.batch_size):
                idx = order[start : start + self.batch_size]
                if len(idx) < 2:
                    continue
                ub, ib = u_codes[idx], i_codes[idx]
                u = net.users([_bag_inputs(sp.csr_matrix(hist[a][ub])) for a in cat.attributes])
                parts = net.item_parts(
                    [_bag_inputs(sp.csr_matrix(cat.item_values[a][ib])) for a in cat.attributes]
                )
                loss = torch.zeros(())
                for p in range(1 + n_aug):
                    if p == 0:
                        groups = np.unique(ib, return_inverse=True)[1].ravel().astype(np.int64)
                        mean, var = parts, torch.zeros_like(parts)
                    else:
                        groups = self._group_keys(ib, rng)
                        mean, var = _group_stats(parts, torch.from_numpy(groups))
                    o = net.offers(mean, var)
                    b = len(idx)
                    neg = rng.integers(0, b, size=(b, self.n_negatives))
                    rows = np.concatenate([np.arange(b), np.repeat(np.arange(b), self.n_negatives)])
                    cols = np.concatenate([np.arange(b), neg.ravel()])
                    label = np.concatenate([np.ones(b), np.zeros(b * self.n_negatives)])
                    # a "negative" from the row's own group is the same offer: leave it out
                    weight = np.where(label == 1, 1.0, (groups[rows] != groups[cols]).astype(float))
                    logits = net.pair_logits(u[torch.from_numpy(rows)], o[torch.from_numpy(cols)])
                    loss = loss + bce(
                        logits,
                        torch.from_numpy(label.astype(np.float32)),
                        weight=torch.from_numpy(weight.astype(np.float32)),
                        reduction="sum",
                    ) / float(weight.sum())
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            losses.append(total / max(n_rows, 1))
        net.eval()
        self.net_ = net
        self.loss_history_ = losses
        return self

    # ------------------------------------------------------------------ scoring

    def offer_embedding(self, offer: Node) -> tuple[Any, Any]:
        """Mean and variance, each ``(1, n_attributes, dim)``, of the offer's items.

        Items are weighted by their training target counts (+1), as in-batch group means
        weight items by how often they occur in events.
        """
        torch = _torch()
        cat = self.catalog_
        items = np.flatnonzero(cat.item_mask(offer))
        w = torch.from_numpy(
            (self.item_weight_[items] / self.item_weight_[items].sum()).astype(np.float32)
        )
        with torch.no_grad():
            parts = self.net_.item_parts(
                [_bag_inputs(sp.csr_matrix(cat.item_values[a][items])) for a in cat.attributes]
            )
            mean = (parts * w[:, None, None]).sum(dim=0, keepdim=True)
            var = (((parts - mean) ** 2) * w[:, None, None]).sum(dim=0, keepdim=True)
        return mean, var

    def _score_hist(self, offer: Node, hist: dict[str, sp.csr_matrix]) -> np.ndarray:
        return self._score_nodes([offer], hist)[:, 0]

    def _score_nodes(self, nodes: Sequence[Node], hist: dict[str, sp.csr_matrix]) -> np.ndarray:
        torch = _torch()
        n = next(iter(hist.values())).shape[0]
        out = np.empty((n, len(nodes)), dtype=np.float32)
        with torch.no_grad():
            offers = [self.net_.offers(*self.offer_embedding(node)) for node in nodes]
            for start in range(0, n, 4096):
                stop = min(n, start + 4096)
                u = self.net_.users(
                    [
                        _bag_inputs(sp.csr_matrix(hist[a][start:stop]))
                        for a in self.catalog_.attributes
                    ]
                )
                for j, o in enumerate(offers):
                    oo = o.expand(stop - start, *o.shape[1:])
                    out[start:stop, j] = torch.sigmoid(self.net_.pair_logits(u, oo)).numpy()
        return out

    # ------------------------------------------------------------------ persistence

    def _save_state(self, directory: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(directory / "weights.safetensors"))
        np.save(directory / "item_weight.npy", self.item_weight_, allow_pickle=False)

    def _load_state(self, art: Artifact) -> None:
        from safetensors.torch import load_file

        net = self._new_net()
        try:
            net.load_state_dict(load_file(str(art.file("weights.safetensors"))))
        except RuntimeError as exc:
            raise ReclifError(
                f"{art.path}: weights do not fit the saved parameters: {exc}"
            ) from None
        net.eval()
        self.net_ = net
        self.item_weight_ = np.load(art.file("item_weight.npy"), allow_pickle=False)


def _group_stats(parts: Any, groups: Any) -> tuple[Any, Any]:
    """Per-row in-batch group mean and variance of ``parts`` ``(b, a, d)``."""
    torch = _torch()
    n_groups = int(groups.max()) + 1
    flat = parts.reshape(parts.shape[0], -1)
    count = torch.bincount(groups, minlength=n_groups).to(flat.dtype).unsqueeze(1)
    s = torch.zeros(n_groups, flat.shape[1]).index_add(0, groups, flat)
    s2 = torch.zeros(n_groups, flat.shape[1]).index_add(0, groups, flat * flat)
    mean = s / count
    var = (s2 / count - mean * mean).clamp_min(0.0)
    return mean[groups].view_as(parts), var[groups].view_as(parts)
