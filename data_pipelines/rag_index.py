"""Ray Data stage of the RAG index: embed movie texts with an actor pool.

TEMPORARY: `embed_movie_texts` runs sentence-transformers in a Ray Data actor pool itself. When
`data_pipelines.embed.embed_items` (branch semids) lands on main, this module calls that instead, so the
RAG index and the semantic-ID pipeline share one embedding stage.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import Field

from rec_core.config import StrictModel


class RagEmbedConfig(StrictModel):
    encoder: str = Field("minilm", description="sentence-transformers model: offline alias, HF id or path")
    batch_size: int = Field(64, ge=1)
    num_actors: int = Field(1, ge=1)
    cpus_per_actor: float = Field(1.0, gt=0)
    gpus_per_actor: float = Field(0.0, ge=0)


class _EncodeBatch:
    """Ray Data callable class: one model load per actor, then batches of texts -> vectors."""

    def __init__(self, encoder: str, batch_size: int, device: str):
        from rec_core.rag.encoder import SentenceEncoder

        self.encode = SentenceEncoder(encoder, device=device, batch_size=batch_size)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        vecs = self.encode(batch["text"].tolist())
        return pd.DataFrame({"item_id": batch["item_id"].to_numpy(), "text_hash": batch["text_hash"].to_numpy(), "embedding": list(vecs)})


def embed_movie_texts(items: pd.DataFrame, cfg: RagEmbedConfig) -> pd.DataFrame:
    """items: item_id, text, text_hash -> item_id, text_hash, embedding (float32 rows), in item_id order."""
    import ray

    if items.empty:
        return pd.DataFrame({"item_id": [], "text_hash": [], "embedding": []})
    ds = ray.data.from_pandas(items[["item_id", "text", "text_hash"]].reset_index(drop=True))
    # several blocks per actor so the pool is kept busy (one pandas frame is one block otherwise)
    ds = ds.repartition(max(1, min(len(items) // max(cfg.batch_size, 1), 3 * cfg.num_actors)))
    device = "cuda" if cfg.gpus_per_actor > 0 else "cpu"
    out = ds.map_batches(
        _EncodeBatch,
        fn_constructor_kwargs={"encoder": cfg.encoder, "batch_size": cfg.batch_size, "device": device},
        batch_size=cfg.batch_size,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=cfg.num_actors),
        num_cpus=cfg.cpus_per_actor,
        num_gpus=cfg.gpus_per_actor or None,
    ).to_pandas()
    out["embedding"] = [np.asarray(v, dtype=np.float32) for v in out["embedding"]]
    return out.sort_values("item_id").reset_index(drop=True)
