"""The (product, keyword) ranker: P(click) or P(order) from pair features.

Three models behind one small class, as the seed asks: logistic regression (interpretable
coefficients on standardised features), XGBoost (non-linear; each prediction explained with
exact TreeSHAP contributions from ``pred_contribs``) and a small PyTorch MLP. Labels may be
aggregated counts: pass ``y`` in {0, 1} with ``sample_weight`` (e.g. clicks as positives and
impressions - clicks as negatives).

Saved as JSON (LR), native XGBoost JSON, or safetensors (NN); never pickled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np

from reclift.models.errors import NotFittedError
from reclift.models.keywords.errors import KeywordInputError

RANKERS: tuple[str, ...] = ("lr", "xgb", "nn")


class KeywordRanker:
    """Binary classifier over pair features.

    Parameters
    ----------
    model
        ``"lr"``, ``"xgb"`` or ``"nn"``.
    max_depth, n_estimators, learning_rate
        XGBoost capacity (shallow trees: the features are few and the labels noisy).
    hidden, epochs
        NN width and training epochs.
    l2
        Inverse regularisation ``C`` of the logistic regression.
    seed
        Randomness of XGBoost and the NN.

    Attributes
    ----------
    feature_names_
        Names of the ``(n, f)`` feature columns, fixed at fit.
    """

    def __init__(
        self,
        model: str = "xgb",
        *,
        max_depth: int = 4,
        n_estimators: int = 200,
        learning_rate: float = 0.1,
        hidden: int = 32,
        epochs: int = 30,
        l2: float = 1.0,
        seed: int = 0,
    ) -> None:
        self.model = model
        self.max_depth = max_depth
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.hidden = hidden
        self.epochs = epochs
        self.l2 = l2
        self.seed = seed

    def _check_x(self, x: np.ndarray, what: str = "X") -> np.ndarray:
        arr = np.asarray(x, dtype=np.float32)
        if arr.ndim != 2:
            raise KeywordInputError(f"{what} must be 2-d (n, n_features), got shape {arr.shape}")
        if hasattr(self, "feature_names_") and arr.shape[1] != len(self.feature_names_):
            raise KeywordInputError(
                f"{what} has {arr.shape[1]} features; the ranker was fitted on "
                f"{len(self.feature_names_)} ({', '.join(self.feature_names_)})"
            )
        bad = np.argwhere(~np.isfinite(arr))
        if bad.size:
            r, c = (int(v) for v in bad[0])
            raise KeywordInputError(f"{what}: row {r}, feature {c} is not finite")
        return arr

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        feature_names: Sequence[str],
        sample_weight: np.ndarray | None = None,
    ) -> Self:
        """Fit on ``x`` (``(n, f)``), labels ``y`` (``(n,)`` 0/1) and optional weights."""
        if self.model not in RANKERS:
            raise KeywordInputError(f"model must be one of {list(RANKERS)}, got {self.model!r}")
        xs = self._check_x(x)
        ys = np.asarray(y, dtype=np.float32).ravel()
        if ys.shape[0] != xs.shape[0]:
            raise KeywordInputError(f"y has {ys.shape[0]} rows, X has {xs.shape[0]}")
        if len(feature_names) != xs.shape[1]:
            raise KeywordInputError("feature_names must name every column of X")
        if not np.isin(ys, (0.0, 1.0)).all():
            raise KeywordInputError("y must be 0/1 labels (use sample_weight for counts)")
        w = np.ones_like(ys) if sample_weight is None else np.asarray(sample_weight, np.float32)
        if w.shape != ys.shape or np.any(w < 0) or not np.isfinite(w).all():
            raise KeywordInputError("sample_weight must be finite, >= 0, one per row")
        pos, neg = float(w[ys == 1].sum()), float(w[ys == 0].sum())
        if pos == 0 or neg == 0:
            raise KeywordInputError(
                "labels have a single class (no positives or no negatives); a ranker cannot "
                "learn from them"
            )
        self.feature_names_ = list(feature_names)
        self.mean_ = xs.mean(axis=0)
        self.scale_ = np.where(xs.std(axis=0) > 0, xs.std(axis=0), 1.0).astype(np.float32)
        z = (xs - self.mean_) / self.scale_
        if self.model == "lr":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=self.l2, max_iter=1000)
            lr.fit(z, ys, sample_weight=w)
            self.coef_ = np.asarray(lr.coef_[0], dtype=np.float64)
            self.intercept_ = float(lr.intercept_[0])
        elif self.model == "xgb":
            import xgboost as xgb

            # counts as weights can reach thousands; rescaled to mean 1 so min_child_weight
            # keeps its meaning (a leaf needs a few rows' worth of evidence)
            dtrain = xgb.DMatrix(
                xs, label=ys, weight=w / w.mean(), feature_names=self.feature_names_
            )
            params = {
                "objective": "binary:logistic",
                "max_depth": self.max_depth,
                "eta": self.learning_rate,
                "subsample": 0.8,
                # rare positives (orders per impression ~1e-3) make hessians tiny: a small
                # min_child_weight and a capped step keep trees growing without blowing up
                "min_child_weight": 0.1,
                "max_delta_step": 1.0,
                "lambda": 5.0,
                "colsample_bytree": 0.8,
                "eval_metric": "logloss",
                # one thread: OpenMP workers spin-wait when the machine is busy (a service
                # answering requests, a demo training other families), which made 200 rounds
                # on 20k rows take 20 s instead of under one; these trees are small anyway
                "nthread": 1,
                "seed": self.seed,
            }
            self.booster_ = xgb.train(params, dtrain, num_boost_round=self.n_estimators)
        else:
            self._fit_nn(z, ys, w)
        return self

    def _net(self, n_in: int) -> Any:
        import torch

        return torch.nn.Sequential(
            torch.nn.Linear(n_in, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, 1),
        )

    def _fit_nn(self, z: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        import torch

        threads = torch.get_num_threads()
        # tiny matrices: thread hand-offs cost more than they save on a shared machine
        torch.set_num_threads(1)
        try:
            self._train_nn(z, y, w)
        finally:
            torch.set_num_threads(threads)

    def _train_nn(self, z: np.ndarray, y: np.ndarray, w: np.ndarray) -> None:
        import torch

        torch.manual_seed(self.seed)
        net = self._net(z.shape[1])
        opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-5)
        xt, yt = torch.from_numpy(z), torch.from_numpy(y)
        wt = torch.from_numpy(w / w.mean())
        gen = torch.Generator().manual_seed(self.seed)
        batch = 512
        for _ in range(self.epochs):
            perm = torch.randperm(xt.shape[0], generator=gen)
            for s in range(0, xt.shape[0], batch):
                idx = perm[s : s + batch]
                logits = net(xt[idx]).squeeze(1)
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits, yt[idx], weight=wt[idx]
                )
                opt.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]
                opt.step()
        net.eval()
        self.net_ = net

    def _fitted(self) -> None:
        if not hasattr(self, "feature_names_"):
            raise NotFittedError("KeywordRanker is not fitted; call fit(X, y, ...) first")

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Probability of the positive class, shape ``(n,)``."""
        self._fitted()
        xs = self._check_x(x)
        if self.model == "xgb":
            import xgboost as xgb

            dm = xgb.DMatrix(xs, feature_names=self.feature_names_)
            return np.asarray(self.booster_.predict(dm), dtype=np.float64)
        z = (xs - self.mean_) / self.scale_
        if self.model == "lr":
            return np.asarray(1.0 / (1.0 + np.exp(-(z @ self.coef_ + self.intercept_))))
        import torch

        with torch.no_grad():
            logits = self.net_(torch.from_numpy(z)).squeeze(1).numpy()
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float64)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature contributions to the log-odds, ``(n, f)`` (XGBoost: exact TreeSHAP;
        LR: coefficient times standardised value; NN: gradient times input)."""
        self._fitted()
        xs = self._check_x(x)
        if self.model == "xgb":
            import xgboost as xgb

            dm = xgb.DMatrix(xs, feature_names=self.feature_names_)
            contrib = self.booster_.predict(dm, pred_contribs=True)
            return np.asarray(contrib[:, :-1], dtype=np.float64)  # last column: bias
        z = (xs - self.mean_) / self.scale_
        if self.model == "lr":
            return np.asarray(z * self.coef_, dtype=np.float64)
        import torch

        zt = torch.from_numpy(z).requires_grad_(True)
        self.net_(zt).sum().backward()
        assert zt.grad is not None
        return np.asarray((zt.grad * zt).detach().numpy(), dtype=np.float64)

    def reasons(self, x: np.ndarray, top: int = 3) -> list[list[tuple[str, float]]]:
        """The ``top`` features pushing each prediction most (by absolute contribution)."""
        c = self.contributions(x)
        order = np.argsort(-np.abs(c), axis=1, kind="stable")[:, :top]
        return [
            [(self.feature_names_[j], float(c[i, j])) for j in order[i]] for i in range(c.shape[0])
        ]

    def coefficients(self) -> dict[str, float]:
        """LR coefficients on standardised features (log-odds per standard deviation)."""
        self._fitted()
        if self.model != "lr":
            raise KeywordInputError("coefficients are reported by the 'lr' ranker only")
        return dict(zip(self.feature_names_, self.coef_.tolist(), strict=True))

    def save(self, directory: Path) -> None:
        """Write the ranker (JSON / native XGBoost JSON / safetensors)."""
        self._fitted()
        directory.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {
            "params": self.get_params(),
            "feature_names": self.feature_names_,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
        }
        if self.model == "lr":
            meta["coef"] = self.coef_.tolist()
            meta["intercept"] = self.intercept_
        elif self.model == "xgb":
            self.booster_.save_model(str(directory / "ranker.xgb.json"))
        else:
            from safetensors.torch import save_file

            save_file(
                {k: v.contiguous() for k, v in self.net_.state_dict().items()},
                str(directory / "ranker.safetensors"),
            )
        (directory / "ranker.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: Path) -> KeywordRanker:
        meta = json.loads((directory / "ranker.json").read_text())
        obj = cls(**meta["params"])
        obj.feature_names_ = list(meta["feature_names"])
        obj.mean_ = np.asarray(meta["mean"], dtype=np.float32)
        obj.scale_ = np.asarray(meta["scale"], dtype=np.float32)
        if obj.model == "lr":
            obj.coef_ = np.asarray(meta["coef"], dtype=np.float64)
            obj.intercept_ = float(meta["intercept"])
        elif obj.model == "xgb":
            import xgboost as xgb

            obj.booster_ = xgb.Booster()
            obj.booster_.load_model(str(directory / "ranker.xgb.json"))
            obj.booster_.set_param({"nthread": 1})
        else:
            from safetensors.torch import load_file

            net = obj._net(len(obj.feature_names_))
            net.load_state_dict(load_file(str(directory / "ranker.safetensors")))
            net.eval()
            obj.net_ = net
        return obj

    def get_params(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "max_depth": self.max_depth,
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "hidden": self.hidden,
            "epochs": self.epochs,
            "l2": self.l2,
            "seed": self.seed,
        }
