"""TIGER's seq2seq: a T5 built from config (no pretrained weights), sized by default as in the paper
(Rajput et al. 2023: 4 encoder + 4 decoder layers, d_model 128, 6 heads x 64, FFN 1024, dropout 0.1)."""

from __future__ import annotations

from pydantic import Field

from rec_core.config import StrictModel
from rec_core.semantic_ids.codes import EOS, PAD, SIDVocab


class TigerModelConfig(StrictModel):
    num_layers: int = Field(4, ge=1, description="encoder layers")
    num_decoder_layers: int = Field(4, ge=1)
    d_model: int = Field(128, ge=8)
    num_heads: int = Field(6, ge=1)
    d_kv: int = Field(64, ge=4, description="per-head size (heads x d_kv need not equal d_model in T5)")
    d_ff: int = Field(1024, ge=8)
    dropout: float = Field(0.1, ge=0, lt=1)
    num_user_tokens: int = Field(2000, ge=1, description="users are hashed into this many tokens")
    feed_forward_proj: str = "relu"


def build_tiger(cfg: TigerModelConfig, vocab: SIDVocab):
    from transformers import T5Config, T5ForConditionalGeneration

    t5 = T5Config(
        vocab_size=vocab.size,
        d_model=cfg.d_model,
        d_kv=cfg.d_kv,
        d_ff=cfg.d_ff,
        num_layers=cfg.num_layers,
        num_decoder_layers=cfg.num_decoder_layers,
        num_heads=cfg.num_heads,
        dropout_rate=cfg.dropout,
        feed_forward_proj=cfg.feed_forward_proj,
        pad_token_id=PAD,
        eos_token_id=EOS,
        decoder_start_token_id=PAD,
        # Short sequences (<= 20 items x L codes): 32 relative-position buckets as in T5 are plenty.
        relative_attention_num_buckets=32,
        tie_word_embeddings=True,
    )
    model = T5ForConditionalGeneration(t5)
    # Newer transformers default to sampling when a generation_config says so; beams must be deterministic.
    model.generation_config.do_sample = False
    model.generation_config.pad_token_id = PAD
    model.generation_config.eos_token_id = EOS
    model.generation_config.decoder_start_token_id = PAD
    return model


def num_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
