"""Two-tower retriever (PyTorch): a product tower and a keyword tower map frozen text
embeddings into one space trained on keyword -> product evidence (clicked/ordered products,
judged-relevant pairs).

Loss: softmax over in-batch negatives (every other keyword of the batch) plus one mined hard
negative per pair (the keyword closest to the product under the frozen encoder that has no
evidence for it), with a temperature. Each tower is ``normalize(W x + MLP(x))``: the linear
path starts as a random projection (which keeps cosines) so training starts from the plain
dense retriever rather than from noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pyarrow as pa

from reclift.models.keywords.base import (
    KeywordRetriever,
    check_interactions,
    check_keywords,
    check_products,
)
from reclift.models.keywords.embed import encode_texts
from reclift.models.keywords.errors import KeywordInputError
from reclift.models.persist import load_npz, save_npz


def _tower(d_in: int, dim: int, hidden: int) -> Any:
    import torch

    class Tower(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = torch.nn.Linear(d_in, dim, bias=False)
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(d_in, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, dim)
            )
            torch.nn.init.normal_(self.linear.weight, std=1.0 / np.sqrt(dim))
            last: Any = self.mlp[2]
            # the MLP path starts silent: the tower begins as a cosine-preserving projection
            torch.nn.init.zeros_(last.weight)
            torch.nn.init.zeros_(last.bias)

        def forward(self, x: Any) -> Any:
            return torch.nn.functional.normalize(self.linear(x) + self.mlp(x), dim=-1)

    return Tower()


class TwoTowerRetriever(KeywordRetriever):
    """Product/keyword towers trained with in-batch and hard negatives.

    Parameters
    ----------
    encoder
        Frozen text encoder feeding both towers.
    dim, hidden
        Output and hidden widths.
    epochs, batch_size, lr
        Training schedule (Adam).
    temperature
        Softmax temperature on cosines.
    hard_negatives
        Add one mined hard negative per positive pair.
    seed
        Initialisation and shuffling.
    """

    name: ClassVar[str] = "twotower"
    needs_interactions: ClassVar[bool] = True

    def __init__(
        self,
        encoder: str = "minilm",
        dim: int = 128,
        hidden: int = 256,
        epochs: int = 20,
        batch_size: int = 256,
        lr: float = 2e-3,
        temperature: float = 0.05,
        hard_negatives: bool = True,
        seed: int = 0,
    ) -> None:
        self.encoder = encoder
        self.dim = dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.temperature = temperature
        self.hard_negatives = hard_negatives
        self.seed = seed

    def fit(
        self,
        products: pa.Table,
        keywords: Sequence[str],
        interactions: pa.Table | None = None,
    ) -> Self:
        import torch

        kws = check_keywords(keywords)
        if interactions is None:
            raise KeywordInputError(
                "the two-tower model trains on keyword -> product evidence (a query log); "
                "none given"
            )
        inter = check_interactions(interactions)
        prods = check_products(products)
        kpos = {k: i for i, k in enumerate(kws)}
        ppos = {p: i for i, p in enumerate(prods.column("item_id").to_pylist())}
        pairs = sorted(
            {
                (ppos[it], kpos[kw])
                for kw, it, w in zip(
                    inter.column("keyword").to_pylist(),
                    inter.column("item_id").to_pylist(),
                    inter.column("weight").to_pylist(),
                    strict=True,
                )
                if w > 0 and kw in kpos and it in ppos
            }
        )
        if len(pairs) < 2:
            raise KeywordInputError(
                "interactions: fewer than 2 (keyword, product) pairs match the vocabulary and "
                "products; the two-tower model cannot train"
            )
        used = np.unique([p for p, _ in pairs])
        texts = prods.column("text").to_pylist()
        pvec_used = encode_texts([texts[i] for i in used], encoder=self.encoder)
        remap = {int(p): i for i, p in enumerate(used.tolist())}
        kvec = encode_texts(kws, encoder=self.encoder)
        pa_idx = np.asarray([remap[p] for p, _ in pairs], dtype=np.int64)
        ka_idx = np.asarray([k for _, k in pairs], dtype=np.int64)
        hard = np.full(pa_idx.size, -1, dtype=np.int64)
        if self.hard_negatives and len(kws) > 1:
            positives: dict[int, set[int]] = {}
            for p, k in zip(pa_idx.tolist(), ka_idx.tolist(), strict=True):
                positives.setdefault(p, set()).add(k)
            sims = pvec_used @ kvec.T
            order = np.argsort(-sims, axis=1, kind="stable")[:, :20]
            for i, p in enumerate(pa_idx.tolist()):
                for k in order[p].tolist():
                    if k not in positives[p]:
                        hard[i] = k
                        break
        threads = torch.get_num_threads()
        # small matrices: thread hand-offs cost more than they save on a busy machine
        torch.set_num_threads(1 if pa_idx.size < 50_000 else threads)
        try:
            self._train(pvec_used, kvec, pa_idx, ka_idx, hard)
        finally:
            torch.set_num_threads(threads)
        self.keywords_ = np.asarray(kws, dtype=object)
        self.keyword_vectors_ = self._embed(self.keyword_tower_, kvec)
        return self

    def _train(
        self,
        pvec_used: np.ndarray,
        kvec: np.ndarray,
        pa_idx: np.ndarray,
        ka_idx: np.ndarray,
        hard: np.ndarray,
    ) -> None:
        import torch

        torch.manual_seed(self.seed)
        d_in = kvec.shape[1]
        self.product_tower_ = _tower(d_in, self.dim, self.hidden)
        self.keyword_tower_ = _tower(d_in, self.dim, self.hidden)
        params = [*self.product_tower_.parameters(), *self.keyword_tower_.parameters()]
        opt = torch.optim.Adam(params, lr=self.lr)
        pt, kt = torch.from_numpy(pvec_used), torch.from_numpy(kvec)
        gen = torch.Generator().manual_seed(self.seed)
        n = pa_idx.size
        self.losses_: list[float] = []
        for _ in range(self.epochs):
            perm = torch.randperm(n, generator=gen).numpy()
            total = 0.0
            for s in range(0, n, self.batch_size):
                b = perm[s : s + self.batch_size]
                pe = self.product_tower_(pt[pa_idx[b]])
                k_idx = ka_idx[b]
                ke = self.keyword_tower_(kt[k_idx])
                logits = pe @ ke.T / self.temperature
                # the same keyword twice in a batch is not a negative of itself
                same = torch.from_numpy(k_idx[:, None] == k_idx[None, :])
                eye = torch.eye(len(b), dtype=torch.bool)
                logits = logits.masked_fill(same & ~eye, float("-inf"))
                hb = hard[b]
                if (hb >= 0).any():
                    he = self.keyword_tower_(kt[np.maximum(hb, 0)])
                    hl = (pe * he).sum(-1, keepdim=True) / self.temperature
                    hl = hl.masked_fill(torch.from_numpy(hb < 0)[:, None], float("-inf"))
                    logits = torch.cat([logits, hl], dim=1)
                target = torch.arange(len(b))
                loss = torch.nn.functional.cross_entropy(logits, target)
                opt.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
                total += float(loss.detach()) * len(b)
            self.losses_.append(total / n)
        self.product_tower_.eval()
        self.keyword_tower_.eval()

    @staticmethod
    def _embed(tower: Any, x: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return np.asarray(tower(torch.from_numpy(x)).numpy(), dtype=np.float32)

    def encode_products(self, products: pa.Table) -> np.ndarray:
        """``(n, dim)`` product-tower vectors."""
        raw = encode_texts(products.column("text").to_pylist(), encoder=self.encoder)
        return self._embed(self.product_tower_, raw)

    def score_all(self, products: pa.Table) -> np.ndarray:
        self._check_fitted()
        q = self.encode_products(check_products(products))
        return np.asarray(q @ self.keyword_vectors_.T, dtype=np.float32)

    def score_texts(self, products: pa.Table, keywords: Sequence[str]) -> np.ndarray:
        self._check_fitted()
        pos = {k: i for i, k in enumerate(self.keywords_.tolist())}
        new = sorted({k for k in keywords if k not in pos})
        vecs = self.keyword_vectors_
        if new:
            nv = self._embed(self.keyword_tower_, encode_texts(new, encoder=self.encoder))
            vecs = np.vstack([vecs, nv])
            pos.update({k: len(self.keywords_) + i for i, k in enumerate(new)})
        q = self.encode_products(check_products(products))
        cols = np.asarray([pos[k] for k in keywords], dtype=np.int64)
        return np.asarray(q @ vecs[cols].T, dtype=np.float32)

    def _scores(self, products: pa.Table, k: int) -> tuple[np.ndarray, np.ndarray]:
        from reclift.models.keywords.base import top_k

        return top_k(self.score_all(products), k)

    def _save_state(self, directory: Path) -> None:
        from safetensors.torch import save_file

        for name, tower in (("product", self.product_tower_), ("keyword", self.keyword_tower_)):
            save_file(
                {k: v.contiguous() for k, v in tower.state_dict().items()},
                str(directory / f"{name}_tower.safetensors"),
            )
        save_npz(directory / "keyword_vectors.npz", {"vectors": self.keyword_vectors_})

    def _load_state(self, directory: Path) -> None:
        from safetensors.torch import load_file

        self.keyword_vectors_ = load_npz(directory / "keyword_vectors.npz")["vectors"]
        d_in = int(
            load_file(str(directory / "product_tower.safetensors"))["linear.weight"].shape[1]
        )
        towers = []
        for name in ("product", "keyword"):
            t = _tower(d_in, self.dim, self.hidden)
            t.load_state_dict(load_file(str(directory / f"{name}_tower.safetensors")))
            t.eval()
            towers.append(t)
        self.product_tower_, self.keyword_tower_ = towers
