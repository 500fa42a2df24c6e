"""Query encoder: the same sentence-transformers encoder class the Ray Data embedding stage uses."""
from __future__ import annotations

import numpy as np

from rec_core.encoders import SentenceTransformerEncoder


class SentenceEncoder:
    """texts -> L2-normalised float32 [n, d] (MiniLM offline default)."""

    def __init__(self, name: str = "minilm", device: str = "cpu", batch_size: int = 64, max_length: int = 256):
        self.name = name
        self._enc = SentenceTransformerEncoder(name, device=device, batch_size=batch_size, normalize=True, max_length=max_length)
        self.dim = self._enc.dim

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self._enc.encode(list(texts))
