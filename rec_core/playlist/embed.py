"""Sentence embeddings of item texts, cached on disk by content hash (the same texts are embedded once)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np


def load_encoder(name: str = "minilm"):
    from sentence_transformers import SentenceTransformer

    from rec_core.offline_models import resolve_model

    return SentenceTransformer(resolve_model(name), device="cpu")


def embed_texts(texts: list[str], encoder, cache_dir: Path | None, tag: str = "minilm", batch_size: int = 64) -> np.ndarray:
    key = hashlib.sha256(("\x00".join(texts) + tag).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"{tag}-{key}.npy" if cache_dir else None
    if path is not None and path.exists():
        return np.load(path)
    emb = np.asarray(encoder.encode(texts, batch_size=batch_size, show_progress_bar=len(texts) > 2000), dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb)
        tmp.replace(path)
    return emb
