"""Shared tiny LC-Rec setup for the unit tests: 12 items with 3-level IDs, a word-level tokenizer, a tiny Llama."""

from __future__ import annotations

import numpy as np
import torch

from rec_core.lcrec.model import LCRecModelConfig, TinyLlamaConfig, build_lcrec, tiny_tokenizer
from rec_core.lcrec.prompts import TEMPLATES, ItemText
from rec_core.lcrec.tokens import sid_text

CODEBOOKS = (3, 4, 2)
N_ITEMS = 12


def item_codes() -> np.ndarray:
    return np.array([[i % 3, (i // 3) % 4, i // 6 % 2] for i in range(N_ITEMS)], dtype=np.int64)


def item_text() -> ItemText:
    codes = item_codes()
    titles = [f"thing {w}" for w in "alpha beta gamma delta eps zeta eta theta iota kappa lambda mu".split()]
    genres = ["red, blue" if i % 2 else "green" for i in range(N_ITEMS)]
    return ItemText([sid_text(r) for r in codes], titles, "genres", genres)


def corpus() -> list[str]:
    items = item_text()
    words = " ".join(TEMPLATES[t][k] for t in TEMPLATES for k in range(len(TEMPLATES[t])))
    return [words, *items.titles, *items.enrich, "genres"]


def tiny_cfg(**kw) -> LCRecModelConfig:
    base = dict(
        base="tiny",
        tiny=TinyLlamaConfig(
            hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1
        ),
        lora_r=4,
        lora_alpha=8,
        lora_dropout=0.0,
    )
    base.update(kw)
    return LCRecModelConfig(**base)


def build(cfg: LCRecModelConfig | None = None, seed: int = 0):
    """-> (model, tokenizer, SIDTokens, item token ids)."""
    torch.manual_seed(seed)
    model, tok, sid = build_lcrec(cfg or tiny_cfg(), CODEBOOKS, tiny_tokenizer(corpus()), seed=seed)
    return model, tok, sid, sid.item_token_ids(item_codes())
