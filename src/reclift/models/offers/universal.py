"""The universal offer model with group-by augmentations (seed 000), and its neural baselines.

One network scores a user for any offer defined by item attributes:

* user side: per attribute, the user's history as value shares -> a weighted sum of value
  embeddings; all attributes -> ``n_user_meta`` meta-features (linear compression);
* offer side: per attribute, the mean and variance of the offer's value embeddings (a single
  item has variance 0; an aggregated offer such as a genre has the spread of its items);
  a MaskNet-like gate computed from mean and variance rescales the means so the model can
  ignore noisy attributes; -> ``n_offer_meta`` meta-features;
* without ``share_features``: a bilinear kernel per (user meta, offer meta) pair, then a
  small MLP -> logit;
* with ``share_features`` (the default; not in ``two_tower``): per attribute, a *value head*
  (the user projected onto the offer value embeddings, or for attributes with few values a
  full-rank linear map of all history shares, softmax over the values) learns the value of
  the user's next target event, as one single-purpose (MONO) model per attribute would. An
  offer enters through its *coverage* of each attribute's values (the share of a value's
  items, weighted by events, the offer covers: the indicator of the offer's values for an
  offer over that attribute alone), so for any offer, coarse or unseen, the model has per
  attribute the predicted probability that the next event is in the offer, the user's
  observed history share on it, and both as log-lifts over the average user. The logit is
  a per-offer gated sum of those log-lifts (the gate reads the offer meta-features, so a
  decade offer can trust the decade head and a new item its category's) plus a small MLP
  over the share features (and, with ``bilinear``, over the bilinear interaction).

Training rows are target events (user, item). Each step scores the rows' own offers and
``n_negatives`` offers of other rows of the batch (in-batch negatives; a negative whose
group equals the row's group is masked out), and adds the value heads' cross-entropy
(weight ``value_weight``). For ``universal`` every step also runs ``n_augmentations``
group-by passes: a random subset of the attributes other than the item id is the key, rows
sharing a key form a group, each row's offer is replaced by its group's in-batch mean and
variance and its coverage by that of the key's offer over the whole catalog; with
probability ``merge_prob`` random groups are merged (an imitation of OR offers).

Variants in the same code path (:data:`VARIANTS`): ``universal`` (augmentations),
``no_aug`` (the same net without them) and ``two_tower`` (a plain dot product of a user tower
and an offer tower over the means, without augmentations or share features).
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
from reclift.models.persist import load_npz, save_npz
from reclift.workspace.artifacts import Artifact

Variant = Literal["universal", "no_aug", "two_tower"]
# additive smoothing of the share log-lift: a share of 1 % or less is about "none"
SHARE_SMOOTHING = 0.01
# floor of predicted value probabilities in the log-lift (a share of one in a million)
PROB_FLOOR = 1e-6
# step size and L2 penalty of the full-rank value heads (those of the MONO baseline)
VALUE_LR = 0.05
VALUE_L2 = 1e-5
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
    n_values: list[int],
    dim: int,
    n_user_meta: int,
    n_offer_meta: int,
    hidden: int,
    variant: str,
    n_share: int,
    full_rank: list[bool],
    use_bilinear: bool,
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
            self.use_bilinear = use_bilinear or not n_share
            n_bilinear = n_user_meta * n_offer_meta if self.use_bilinear else 0
            self.head = nn.Sequential(
                nn.Linear(n_bilinear + n_share, hidden),
                nn.ReLU(),
                nn.Linear(hidden, 1),
            )
            # a linear path for the share features, so their signal is there from step 1
            self.share_skip = nn.Linear(max(n_share, 1), 1)
            nn.init.zeros_(self.share_skip.weight)
            nn.init.zeros_(self.share_skip.bias)
            # per attribute, the user in the space of the offer value embeddings: the logits
            # of the user's next value are its dot products with those embeddings
            self.value_query = nn.ModuleList(nn.Linear(a * dim, dim) for _ in n_values)
            self.value_bias = nn.ParameterList(nn.Parameter(torch.zeros(v)) for v in n_values)
            # small attributes get a full-rank linear head over every history share (the
            # single-purpose model's form); large ones the low-rank head above
            n_features = sum(n_values)
            self.value_linear = nn.ModuleDict(
                {
                    str(k): nn.EmbeddingBag(n_features, v, mode="sum")
                    for k, (v, full) in enumerate(zip(n_values, full_rank, strict=True))
                    if full
                }
            )
            for e in self.value_linear.values():
                nn.init.zeros_(e.weight)
            self.user_tower = nn.Sequential(
                nn.Linear(a * dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)
            )
            self.offer_tower = nn.Sequential(
                nn.Linear(a * dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)
            )
            # per offer, a non-negative weight on each attribute's predicted log-lift: the
            # offer picks the attributes whose value heads describe it (a decade offer the
            # decade head, a new item its category's) and ignores the others; and a signed
            # weight on each observed log-lift (a bought item is not bought again, a
            # category is)
            self.lift_gate = nn.Linear(n_offer_meta * dim + a, 2 * a)
            nn.init.zeros_(self.lift_gate.weight)
            nn.init.zeros_(self.lift_gate.bias)
            self.n_user_meta, self.n_offer_meta = n_user_meta, n_offer_meta
            self.n_share = n_share

        def user_parts(self, bags: list[tuple[Any, Any, Any]]) -> Any:
            """(n, a * dim) per-attribute history embeddings, concatenated."""
            parts = [
                emb(i, o, per_sample_weights=w)
                for emb, (i, o, w) in zip(self.user_emb, bags, strict=True)
            ]
            return torch.cat(parts, dim=1)

        def users(self, u: Any) -> Any:
            if variant == "two_tower":
                return self.user_tower(u)
            return self.user_proj(u).view(-1, self.n_user_meta, self.k)

        def value_log_probs(self, u: Any, x: tuple[Any, Any, Any]) -> list[Any]:
            """Per attribute, ``(n, n_values)`` log-probabilities of the user's next value,
            from the user parts ``u`` and the bag ``x`` of all history shares."""
            out = []
            for k, (q, emb, bias) in enumerate(
                zip(self.value_query, self.offer_emb, self.value_bias, strict=True)
            ):
                if str(k) in self.value_linear:
                    z = self.value_linear[str(k)](x[0], x[1], per_sample_weights=x[2])
                else:
                    z = q(u) @ emb.weight.T
                out.append(torch.log_softmax(z + bias, dim=1))
            return out

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

        def pair_logits(self, u: Any, o: Any, share: Any = None) -> Any:
            """Logits of row pairs; ``share`` ``(b, n_share)`` when ``n_share > 0``."""
            if variant == "two_tower":
                return (u * o).sum(dim=1)
            x = []
            if self.use_bilinear:
                bil = torch.einsum("bpk,pqkl,bql->bpq", u, self.bilinear, o)
                x.append(bil.reshape(bil.shape[0], -1))
            if not self.n_share:
                return self.head(x[0]).squeeze(1)
            a = len(n_values)
            obs_lift, size, pred_lift = (
                share[:, a : 2 * a],
                share[:, 2 * a : 3 * a],
                share[:, 3 * a :],
            )
            g = self.lift_gate(torch.cat([o.flatten(1), size], dim=1))
            lifts = (nn.functional.softplus(g[:, :a]) * pred_lift).sum(dim=1)
            lifts = lifts + (g[:, a:] * obs_lift).sum(dim=1)
            out = self.head(torch.cat([*x, share], dim=1)) + self.share_skip(share)
            return out.squeeze(1) + lifts

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
    share_features
        Per attribute, score the offer through the value heads' predicted probability of
        its coverage and the user's observed history share on it (see the module notes;
        ``universal`` and ``no_aug``, the plain ``two_tower`` ignores it). Models saved by
        versions without value heads do not load (refit them).
    value_weight
        Weight of the value heads' cross-entropy in the loss (with ``share_features``).
    bilinear
        With ``share_features``, also feed the bilinear user x offer interaction to the
        MLP (it is always used without them). Off by default: on MovieLens 100K it
        overfits the few training users and costs 0.01-0.03 wAUC on coarse offers
        (``benchmarks/results/offers_movielens.md``).
    full_rank_max
        An attribute's value head is a full-rank linear map of all history shares (as in
        the MONO baseline) when it has at most this many weights (history features x the
        attribute's values), else low-rank through the value embeddings. 4 bytes a weight,
        times about 4 with Adam's state and the gradient.
    epochs, batch_size, lr, weight_decay
        Adam training schedule.
    n_negatives
        In-batch negatives per row.
    n_augmentations
        Group-by passes per step (``universal`` only).
    key_prob
        Probability an attribute joins the random group-by key (the item id never does:
        single-item groups are what the plain pass trains on); None (default) is
        ``min(0.5, 1 / n_key_attributes)``: 0.5 with two key attributes (MovieLens' genre
        and decade), 0.2 with five (dunnhumby's), where 0.5 mostly draws fine intersections
        and cost 0.01-0.02 wAUC on single-attribute coarse offers.
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
        share_features: bool = True,
        value_weight: float = 1.0,
        bilinear: bool = False,
        full_rank_max: int = 32_000_000,
        epochs: int = 8,
        batch_size: int = 512,
        lr: float = 0.005,
        weight_decay: float = 1e-6,
        n_negatives: int = 4,
        n_augmentations: int = 3,
        key_prob: float | None = None,
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
        self.share_features = share_features
        self.value_weight = value_weight
        self.bilinear = bilinear
        self.full_rank_max = full_rank_max
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
            "full_rank_max",
        ):
            v = getattr(self, p)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{p} must be a positive integer, got {v!r}")
        key_prob = 0.5 if self.key_prob is None else self.key_prob
        if not 0.0 <= key_prob <= 1.0 or not 0.0 <= self.merge_prob <= 1.0:
            raise InvalidParameterError("key_prob and merge_prob must be in [0, 1]")
        w = self.value_weight
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0.0 <= w < math.inf:
            raise InvalidParameterError(f"value_weight must be a finite number >= 0, got {w!r}")

    def _n_share(self) -> int:
        use = bool(self.share_features) and self.variant != "two_tower"
        return 4 * len(self.catalog_.attributes) if use else 0

    def _new_net(self) -> Any:
        cat = self.catalog_
        return _build_net(
            [max(1, len(cat.vocab[a])) for a in cat.attributes],
            self.dim,
            self.n_user_meta,
            self.n_offer_meta,
            self.hidden,
            self.variant,
            self._n_share(),
            self._full_rank(),
            bool(self.bilinear),
        )

    def _full_rank(self) -> list[bool]:
        cat = self.catalog_
        n_features = sum(max(1, len(cat.vocab[a])) for a in cat.attributes)
        use = self._n_share() > 0
        cap = self.full_rank_max
        return [use and n_features * len(cat.vocab[a]) <= cap for a in cat.attributes]

    def _share_tensor(self, share: np.ndarray, base: np.ndarray, predicted: Any) -> Any:
        """Share features ``(n, 3 * n_attributes)``.

        From the user's history share on the offer's values, the average user's share and
        the predicted probability that the user's next event has one of the offer's values,
        each ``(n, n_attributes)``: the share, its log-lift and the prediction's log-lift.
        """
        torch = _torch()
        lift = np.log((share + SHARE_SMOOTHING) / (base + SHARE_SMOOTHING))
        base_t = torch.from_numpy(base.astype(np.float32))
        pred_lift = torch.log((predicted + PROB_FLOOR) / (base_t + PROB_FLOOR))
        # the offer's own base rate says how coarse it is: a share of the history on a
        # single item (already bought) means something else than on a whole category
        size = np.log(base + PROB_FLOOR)
        observed = torch.from_numpy(np.concatenate([share, lift, size], axis=1).astype(np.float32))
        return torch.cat([observed, pred_lift], dim=1)

    def _group_keys(
        self, items: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, sp.csc_matrix]:
        """A random group-by key over attributes.

        Returns the group id per row (0..G-1) and the catalog items each group's key
        covers, ``(n_items, G)`` (a group is the offer "key = its values", over the whole
        catalog, not only the batch rows it was formed from).
        """
        cat = self.catalog_
        a_count = len(cat.attributes)
        # the item id as a key gives single-item groups, which the plain pass already trains
        eligible = np.array([a != "item_id" for a in cat.attributes])
        if not eligible.any():
            eligible[:] = True
        # by default about one key attribute a pass (at most half of them): with many
        # attributes, larger keys are mostly fine intersections and single coarse offers
        # (a department, a price band) would hardly be trained on
        key_prob = min(0.5, 1.0 / int(eligible.sum())) if self.key_prob is None else self.key_prob
        chosen = (rng.random(a_count) < key_prob) & eligible
        if not chosen.any():
            chosen[rng.choice(np.flatnonzero(eligible))] = True
        cols, used = [], []
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
            used.append(a)
        keys, groups = np.unique(np.stack(cols, axis=1), axis=0, return_inverse=True)
        groups = groups.ravel()
        covers = sp.csc_matrix(np.ones((len(cat.item_ids), len(keys)), dtype=bool))
        for k, a in enumerate(used):
            m = sp.csc_matrix(cat.item_values[a] > 0)
            # the last column holds the items without a value (the key code -1)
            none = sp.csc_matrix((np.diff(cat.item_values[a].indptr) == 0)[:, None])
            ext = sp.csc_matrix(sp.hstack([m, none]))
            code = np.where(keys[:, k] >= 0, keys[:, k], ext.shape[1] - 1)
            covers = covers.multiply(ext[:, code]).tocsc()
        if rng.random() < self.merge_prob:
            n_groups = len(keys)
            merged = rng.integers(0, max(1, math.ceil(n_groups / 2)), size=n_groups)
            uniq, merged = np.unique(merged, return_inverse=True)
            join = sp.csc_matrix(
                (np.ones(n_groups), (np.arange(n_groups), merged)), shape=(n_groups, len(uniq))
            )
            groups = merged[groups]
            covers = sp.csc_matrix((covers.astype(np.float64) @ join) > 0)
        return groups.astype(np.int64), covers

    def coverage(self, covers: sp.spmatrix) -> dict[str, sp.csc_matrix]:
        """Per attribute, ``(n_values, n_offers)``: the share of each value's items (weighted
        by target events + 1) that an offer covers, from the items each offer covers,
        ``covers`` ``(n_items, n_offers)``.

        ``P(next event in offer | user) ~ sum_v P(value v | user) * coverage[v]``: exact
        for an offer written over that attribute alone, an approximation otherwise.
        """
        cat = self.catalog_
        w = sp.diags(self.item_weight_)
        cov = sp.csc_matrix(w @ sp.csc_matrix(covers, dtype=np.float64))
        out = {}
        for a in cat.attributes:
            m = cat.item_values[a]
            den = np.asarray(m.T @ self.item_weight_).ravel()
            inv = np.divide(1.0, den, out=np.zeros_like(den), where=den > 0)
            out[a] = sp.csc_matrix(sp.diags(inv) @ (m.T @ cov))
        return out

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
        # the average training user's value shares: the base rate of the share features
        self.value_prior_ = {
            a: np.asarray(hist[a].mean(axis=0), dtype=np.float64).ravel() for a in cat.attributes
        }
        use_share = self._n_share() > 0
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        net = self._new_net()
        for k, a in enumerate(cat.attributes):
            # start the value heads at the average user's value shares
            net.value_bias[k].data = torch.from_numpy(
                np.log(self.value_prior_[a] + PROB_FLOOR).astype(np.float32)
            )
        linear = list(net.value_linear.parameters())
        ids = {id(p) for p in linear}
        param_groups: list[dict[str, Any]] = [
            {"params": [p for p in net.parameters() if id(p) not in ids]}
        ]
        if linear:
            # the full-rank heads train like the single-purpose models: a larger step and
            # an L2 penalty (Adam's weight decay adds 2 * l2 * w to the gradient)
            param_groups.append({"params": linear, "lr": VALUE_LR, "weight_decay": 2 * VALUE_L2})
        opt = torch.optim.Adam(param_groups, lr=self.lr, weight_decay=self.weight_decay)
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
                b = len(idx)
                ur = net.user_parts(
                    [_bag_inputs(sp.csr_matrix(hist[a][ub])) for a in cat.attributes]
                )
                u = net.users(ur)
                parts = net.item_parts(
                    [_bag_inputs(sp.csr_matrix(cat.item_values[a][ib])) for a in cat.attributes]
                )
                loss = torch.zeros(())
                if use_share:
                    values = [_sparse_rows(cat.item_values[a][ib]) for a in cat.attributes]
                    xb = _bag_inputs(
                        sp.csr_matrix(sp.hstack([hist[a][ub] for a in cat.attributes]))
                    )
                    logp = net.value_log_probs(ur, xb)
                    # the value heads learn each attribute's next value, like one MONO model
                    # per attribute (an item's several values share its row's weight)
                    for lp, v in zip(logp, values, strict=True):
                        r, c = v.indices()
                        loss = loss - self.value_weight * (v.values() * lp[r, c]).sum() / b
                    probs = [lp.exp() for lp in logp]
                    user_hist = [hist[a][ub] for a in cat.attributes]
                for p in range(1 + n_aug):
                    if p == 0:
                        uniq, inverse = np.unique(ib, return_inverse=True)
                        groups = inverse.ravel().astype(np.int64)
                        covers = sp.csc_matrix(
                            (np.ones(len(uniq)), (uniq, np.arange(len(uniq)))),
                            shape=(len(cat.item_ids), len(uniq)),
                        )
                        mean, var = parts, torch.zeros_like(parts)
                    else:
                        groups, covers = self._group_keys(ib, rng)
                        mean, var = _group_stats(parts, torch.from_numpy(groups))
                    o = net.offers(mean, var)
                    neg = rng.integers(0, b, size=(b, self.n_negatives))
                    rows = np.concatenate([np.arange(b), np.repeat(np.arange(b), self.n_negatives)])
                    cols = np.concatenate([np.arange(b), neg.ravel()])
                    label = np.concatenate([np.ones(b), np.zeros(b * self.n_negatives)])
                    # a "negative" from the row's own group is the same offer: leave it out
                    weight = np.where(label == 1, 1.0, (groups[rows] != groups[cols]).astype(float))
                    share = None
                    if use_share:
                        cov = self.coverage(covers)
                        gcol = groups[cols]
                        gs = np.stack(
                            [
                                np.asarray((h @ cov[a]).todense())[rows, gcol]
                                for h, a in zip(user_hist, cat.attributes, strict=True)
                            ],
                            axis=1,
                        )
                        rows_t, gcol_t = torch.from_numpy(rows), torch.from_numpy(gcol)
                        gp = torch.stack(
                            [
                                _times_sparse(pr, cov[a])[rows_t, gcol_t]
                                for pr, a in zip(probs, cat.attributes, strict=True)
                            ],
                            dim=1,
                        )
                        gb = np.stack(
                            [cov[a].T @ self.value_prior_[a] for a in cat.attributes], axis=1
                        )[gcol]
                        share = self._share_tensor(gs, gb, gp)
                    logits = net.pair_logits(
                        u[torch.from_numpy(rows)], o[torch.from_numpy(cols)], share
                    )
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
        cat = self.catalog_
        n = next(iter(hist.values())).shape[0]
        out = np.empty((n, len(nodes)), dtype=np.float32)
        use_share = self._n_share() > 0
        if use_share:
            covers = sp.csc_matrix(np.stack([cat.item_mask(node) for node in nodes], axis=1))
            dists = self.coverage(covers)
            # the offers' base rates, (n_offers, n_attributes)
            base = np.stack(
                [np.asarray(dists[a].T @ self.value_prior_[a]).ravel() for a in cat.attributes],
                axis=1,
            )
        with torch.no_grad():
            offers = [self.net_.offers(*self.offer_embedding(node)) for node in nodes]
            for start in range(0, n, 4096):
                stop = min(n, start + 4096)
                ur = self.net_.user_parts(
                    [_bag_inputs(sp.csr_matrix(hist[a][start:stop])) for a in cat.attributes]
                )
                u = self.net_.users(ur)
                if use_share:
                    xb = _bag_inputs(
                        sp.csr_matrix(sp.hstack([hist[a][start:stop] for a in cat.attributes]))
                    )
                    # (chunk, n_offers) per attribute: observed and predicted shares
                    observed = [
                        np.asarray((hist[a][start:stop] @ dists[a]).todense(), dtype=np.float64)
                        for a in cat.attributes
                    ]
                    predicted = [
                        _times_sparse(lp.exp(), dists[a])
                        for lp, a in zip(
                            self.net_.value_log_probs(ur, xb), cat.attributes, strict=True
                        )
                    ]
                for j, o in enumerate(offers):
                    oo = o.expand(stop - start, *o.shape[1:])
                    share = None
                    if use_share:
                        us = np.stack([m[:, j] for m in observed], axis=1)
                        share = self._share_tensor(
                            us,
                            np.broadcast_to(base[j], us.shape),
                            torch.stack([m[:, j] for m in predicted], dim=1),
                        )
                    logits = self.net_.pair_logits(u, oo, share)
                    out[start:stop, j] = torch.sigmoid(logits).numpy()
        return out

    # ------------------------------------------------------------------ persistence

    def _save_state(self, directory: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(directory / "weights.safetensors"))
        np.save(directory / "item_weight.npy", self.item_weight_, allow_pickle=False)
        save_npz(
            directory / "value_prior.npz",
            {f"p{i}": self.value_prior_[a] for i, a in enumerate(self.catalog_.attributes)},
        )

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
        prior = load_npz(art.file("value_prior.npz"))
        self.value_prior_ = {a: prior[f"p{i}"] for i, a in enumerate(self.catalog_.attributes)}


def _times_sparse(x: Any, m: sp.spmatrix) -> Any:
    """``x @ m`` for a dense torch ``x`` ``(n, k)`` and a scipy sparse ``m`` ``(k, g)``."""
    torch = _torch()
    return torch.sparse.mm(_sparse_rows(sp.csr_matrix(m.T)), x.T).T


def _sparse_rows(m: sp.csr_matrix) -> Any:
    """A CSR matrix as a coalesced torch sparse COO tensor (float32)."""
    torch = _torch()
    coo = sp.coo_matrix(m)
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(index, values, coo.shape, check_invariants=True).coalesce()


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
