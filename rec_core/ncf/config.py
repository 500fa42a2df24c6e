"""Typed configs for the NCF family. They live in rec_core so a model can be built without a job."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from rec_core.config import StrictModel

ModelKind = Literal["gmf", "mlp", "neumf", "llm_concat", "llm_xattn"]
LLM_KINDS = ("llm_concat", "llm_xattn")


class NCFModelConfig(StrictModel):
    """Sizes of the collaborative part (He et al. 2017 naming)."""

    factors: int = Field(8, ge=1, description="GMF embedding size (predictive factors)")
    layers: list[int] = Field(
        default_factory=lambda: [64, 32, 16, 8],
        description="MLP tower widths; layers[0] is the concatenated user+item embedding, so each is layers[0]//2",
    )
    dropout: float = Field(0.0, ge=0, lt=1)
    # LLM fusion
    meta_dim: int = Field(32, ge=1, description="width the LM states are projected to before fusion")
    attn_heads: int = Field(2, ge=1, description="cross-attention heads (meta_dim must divide by it)")
    contrastive_weight: float = Field(
        0.1, ge=0, description="weight of the InfoNCE ID-view/metadata-view loss (0 = off)"
    )
    temperature: float = Field(0.1, gt=0, description="InfoNCE temperature")

    @model_validator(mode="after")
    def _check(self):
        if len(self.layers) < 1 or self.layers[0] < 2 or self.layers[0] % 2:
            raise ValueError(f"layers[0] must be an even number >= 2 (user and item halves), got {self.layers}")
        if self.meta_dim % self.attn_heads:
            raise ValueError(f"meta_dim ({self.meta_dim}) must be divisible by attn_heads ({self.attn_heads})")
        return self


class LMConfig(StrictModel):
    """The language model that reads item metadata."""

    name: str = Field(
        "minilm",
        description="offline alias (minilm | smollm2), HF id or local path; 'tiny-from-config' = a random 1-layer BERT "
        "with a word-level tokenizer fitted on the item texts (tests and smoke runs only)",
    )
    gguf_file: str | None = Field(None, description="GGUF file inside `name` (set automatically for smollm2)")
    mode: Literal["cache", "dynamic"] = Field(
        "cache", description="cache: LM states precomputed once (frozen LM); dynamic: LM runs inside the forward pass"
    )
    max_length: int = Field(32, ge=4, description="metadata tokens per item")
    pooling: Literal["mean", "last", "cls"] = "mean"
    lora_rank: int = Field(0, ge=0, description="LoRA rank on the LM (dynamic mode only); 0 = LM frozen")
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: list[str] | None = Field(
        None, description="module names for LoRA (default: peft's mapping for the model type)"
    )
    cache_dtype: Literal["float32", "float16", "bfloat16"] = Field("float16", description="dtype of cached LM states")
    cache_dir: Path | None = Field(None, description="where LM caches are kept (default: <data_dir>/ncf_lm_cache)")
    encode_batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _check(self):
        if self.lora_rank and self.mode == "cache":
            raise ValueError("lm.lora_rank > 0 needs lm.mode=dynamic: a cached LM cannot be fine-tuned")
        return self


class NCFDataConfig(StrictModel):
    num_negatives: int = Field(4, ge=1, description="sampled negatives per training positive")
    eval_negatives: int = Field(99, ge=1, description="negatives ranked against each held-out positive (NCF protocol)")
    text_fields: list[str] = Field(
        default_factory=lambda: ["title", "year", "genres", "tags"],
        description="item columns joined into the metadata text (missing columns are skipped)",
    )
    full_ranking: bool = Field(True, description="also report full-ranking Recall@10/NDCG@10 over all items")
    max_eval_users: int | None = Field(None, ge=1, description="evaluate on a seeded subset of users (None = all)")
