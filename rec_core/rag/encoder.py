"""Sentence encoder for queries (and for the plain single-process embedding path)."""
from __future__ import annotations

import numpy as np

from rec_core.offline_models import resolve_model


class SentenceEncoder:
    """texts -> L2-normalised float32 [n, d] with sentence-transformers (MiniLM offline default)."""

    def __init__(self, name: str = "minilm", device: str = "cpu", batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.model = SentenceTransformer(resolve_model(name), device=device)
        self.batch_size = batch_size
        self.dim = int(self.model.get_sentence_embedding_dimension())

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False).astype(np.float32)
