"""PlaylistT5: text in (WordPiece ids), semantic IDs of N items out.

A `T5ForConditionalGeneration` built from config whose vocabulary is the decoder's (SID tokens + PAD/EOS); the
encoder does not use T5's shared embedding but its own `text_embed` over the WordPiece vocabulary and is fed
through `inputs_embeds`. `text_embed` can start from MiniLM's pretrained word-piece embeddings (projected to
d_model), which lets unseen words of a held-out text land near seen ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from pydantic import Field
from torch import nn

from rec_core.config import StrictModel
from rec_core.generative.decoding import fresh_decoder_cache
from rec_core.semantic_ids.codes import EOS, PAD, ItemTokens
from rec_core.semantic_ids.trie import NoRepeatListConstraint, SIDTrie


class ModelConfig(StrictModel):
    d_model: int = Field(128, ge=8)
    d_ff: int = Field(256, ge=8)
    num_layers: int = Field(2, ge=1, description="encoder layers")
    num_decoder_layers: int = Field(2, ge=1)
    num_heads: int = Field(4, ge=1)
    d_kv: int = Field(32, ge=4)
    dropout: float = Field(0.1, ge=0, lt=1)
    max_text_tokens: int = Field(32, ge=4)
    text_embed_init: str = Field("minilm", description="'minilm' (pretrained word pieces, projected) or 'random'")
    freeze_text_embed: bool = Field(
        True, description="keep the pretrained word-piece table fixed (the projection trains)"
    )


class PlaylistT5(nn.Module):
    def __init__(
        self,
        cfg: ModelConfig,
        text_vocab_size: int,
        sid_vocab_size: int,
        pretrained_text_embed: torch.Tensor | None = None,
    ):
        super().__init__()
        from transformers import T5Config, T5ForConditionalGeneration

        t5cfg = T5Config(
            vocab_size=sid_vocab_size,
            d_model=cfg.d_model,
            d_ff=cfg.d_ff,
            num_layers=cfg.num_layers,
            num_decoder_layers=cfg.num_decoder_layers,
            num_heads=cfg.num_heads,
            d_kv=cfg.d_kv,
            dropout_rate=cfg.dropout,
            pad_token_id=PAD,
            eos_token_id=EOS,
            decoder_start_token_id=PAD,
            # T5 default: decoder input and output share the SID table (output scaled by d_model**-0.5)
            tie_word_embeddings=True,
        )
        self.t5 = T5ForConditionalGeneration(t5cfg)
        if pretrained_text_embed is not None:
            self.text_embed = nn.Embedding.from_pretrained(
                pretrained_text_embed.float(), freeze=cfg.freeze_text_embed, padding_idx=0
            )
            width = pretrained_text_embed.shape[1]
        else:
            self.text_embed = nn.Embedding(text_vocab_size, cfg.d_model, padding_idx=0)
            width = cfg.d_model
        self.text_proj = (
            nn.Linear(width, cfg.d_model)
            if width != cfg.d_model or pretrained_text_embed is not None
            else nn.Identity()
        )

    def embed_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.text_embed(input_ids))

    def forward(self, input_ids, attention_mask, labels):
        return self.t5(inputs_embeds=self.embed_text(input_ids), attention_mask=attention_mask, labels=labels).loss

    @torch.no_grad()
    def generate_lists(
        self,
        input_ids,
        attention_mask,
        constraint: NoRepeatListConstraint,
        mode: str = "beam",
        num_beams: int = 10,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> torch.Tensor:
        kwargs: dict = dict(
            inputs_embeds=self.embed_text(input_ids),
            attention_mask=attention_mask,
            prefix_allowed_tokens_fn=constraint.prefix_allowed_tokens_fn(),
            max_new_tokens=constraint.length * constraint.depth + 1,
            min_new_tokens=1,
            eos_token_id=EOS,
            pad_token_id=PAD,
            decoder_start_token_id=PAD,
            cache=fresh_decoder_cache(),  # sized by the decoder's depth, not the encoder's
        )
        if mode == "beam":
            kwargs.update(
                do_sample=False, num_beams=num_beams, num_return_sequences=1, early_stopping=True, length_penalty=0.0
            )
        elif mode == "sample":
            if temperature <= 0:
                raise ValueError("temperature must be > 0 for sampling")
            if seed is not None:
                torch.manual_seed(seed)
            kwargs.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0, num_beams=1)
        elif mode == "greedy":
            kwargs.update(do_sample=False, num_beams=1)
        else:
            raise ValueError(f"mode must be beam, sample or greedy, got {mode!r}")
        return self.t5.generate(**kwargs)


def minilm_word_embeddings(model_dir: str) -> torch.Tensor:
    """The word-piece embedding table of the MiniLM checkpoint (30522 x 384), read straight from safetensors."""
    from pathlib import Path

    from safetensors import safe_open

    path = Path(model_dir) / "model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():
            if key.endswith("embeddings.word_embeddings.weight"):
                return f.get_tensor(key)
    raise KeyError(f"{path}: no embeddings.word_embeddings.weight tensor")


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor | None = None


class PairCollator:
    """(text, items) pairs -> padded tensors; labels are the items' SID tokens + EOS, -100 on padding."""

    def __init__(self, tokenizer, vocab: ItemTokens, max_text_tokens: int):
        self.tok, self.vocab, self.max_text = tokenizer, vocab, max_text_tokens

    def encode_texts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tok(list(texts), padding=True, truncation=True, max_length=self.max_text, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def __call__(self, rows: list[tuple[str, list[int]]]) -> dict:
        ids, mask = self.encode_texts([r[0] for r in rows])
        seqs = [self.vocab.encode_list(r[1]) for r in rows]
        width = max(len(s) for s in seqs)
        labels = torch.full((len(seqs), width), -100, dtype=torch.long)
        for i, s in enumerate(seqs):
            labels[i, : len(s)] = torch.tensor(s)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def build_constraint(vocab: ItemTokens, length: int, allowed_items: list[int] | None = None) -> NoRepeatListConstraint:
    items = vocab.item_ids if allowed_items is None else allowed_items
    trie = SIDTrie(np.asarray([vocab.tokens_of_item[i] for i in items], dtype=np.int64))
    return NoRepeatListConstraint(trie, depth=vocab.levels, eos_token=EOS, length=length, start_tokens=1)


def build_model(cfg: ModelConfig, tokenizer, vocab: ItemTokens) -> PlaylistT5:
    pretrained = None
    if cfg.text_embed_init == "minilm":
        pretrained = minilm_word_embeddings(tokenizer.name_or_path)
        if pretrained.shape[0] != len(tokenizer):
            raise ValueError(
                f"tokenizer has {len(tokenizer)} tokens but the MiniLM embedding table {pretrained.shape[0]} rows"
            )
    elif cfg.text_embed_init != "random":
        raise ValueError(f"model.text_embed_init must be 'minilm' or 'random', got {cfg.text_embed_init!r}")
    return PlaylistT5(cfg, len(tokenizer), vocab.size, pretrained_text_embed=pretrained)
