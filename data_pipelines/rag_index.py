"""Ray Data stage of the RAG index: movie texts -> vectors, through the shared embedding stage
(`data_pipelines.embed.embed_items`: actor pool, Parquet parts, resumable)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from data_pipelines.embed import EmbedConfig, embed_items


def rag_embed_config(**overrides) -> EmbedConfig:
    """The embed stage configured for catalogue texts: one pre-built `text` column, MiniLM's 256-token window."""
    base = {"text_fields": ["text"], "max_length": 256, "cpus_per_actor": 1.0}
    base.update(overrides)
    return EmbedConfig(**base)


def embed_texts(items: pd.DataFrame, cfg: EmbedConfig, out_dir: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """items: item_id, text -> (item ids int64, vectors float32 [n, d], stats). Empty input -> empty arrays."""
    if items.empty:
        return np.zeros(0, np.int64), np.zeros((0, 0), np.float32), {"items": 0, "computed": 0, "reused": 0}
    # the catalogue builds one `text` per movie (title, year, genres, tags, plot); embed exactly that
    cfg = cfg.model_copy(update={"text_fields": ["text"]})
    emb = embed_items(items[["item_id", "text"]].reset_index(drop=True), cfg, out_dir=out_dir)
    vecs = np.stack(emb["embedding"].to_numpy()).astype(np.float32)
    return emb["item_id"].to_numpy(np.int64), vecs, dict(emb.attrs.get("embed_stats", {}))
