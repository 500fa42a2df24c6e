"""PlaylistT5: text in (WordPiece ids), semantic IDs of N items out.

With `candidates` > 0 the encoder also reads K retrieved items after the text (retrieval-augmented generation):
their semantic-ID tokens through the decoder's own SID table, so an item looks the same on both sides and the
decoder can copy, drop or reorder candidates, plus a learned embedding of each candidate's rank.

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
    candidates: int = Field(
        0,
        ge=0,
        description="retrieved candidates read by the encoder after the text: the top items of keyword popularity "
        "over the training lists (rec_core.playlist.baselines.WordPopularity), as semantic-ID tokens; 0 = text only",
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
        self.candidates = cfg.candidates
        self.cand_rank = nn.Embedding(cfg.candidates, cfg.d_model) if cfg.candidates else None

    def embed_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.text_proj(self.text_embed(input_ids))

    def encoder_inputs(self, input_ids, attention_mask, cand_ids=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(embeddings, mask) of the text, followed by the candidates' SID tokens when the model reads them."""
        emb = self.embed_text(input_ids)
        if (cand_ids is None) != (self.cand_rank is None):
            raise ValueError(
                f"this model reads {self.candidates} retrieved candidates per text; "
                f"got {'none' if cand_ids is None else 'some'} (PairCollator.encode_inputs builds them)"
            )
        if cand_ids is None:
            return emb, attention_mask
        per_item = cand_ids.shape[1] // self.candidates
        rank = torch.arange(cand_ids.shape[1], device=cand_ids.device) // per_item
        cand = self.t5.shared(cand_ids) + self.cand_rank(rank)[None]
        return torch.cat([emb, cand], 1), torch.cat([attention_mask, (cand_ids != PAD).to(attention_mask.dtype)], 1)

    def forward(self, input_ids, attention_mask, labels, cand_ids=None):
        emb, mask = self.encoder_inputs(input_ids, attention_mask, cand_ids)
        return self.t5(inputs_embeds=emb, attention_mask=mask, labels=labels).loss

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
        cand_ids: torch.Tensor | None = None,
        logits_processor=None,
    ) -> torch.Tensor:
        """`logits_processor`: extra transformers LogitsProcessors, applied after the list constraint (e.g.
        rec_core.playlist.fusion.KeywordPriorFusion)."""
        emb, mask = self.encoder_inputs(input_ids, attention_mask, cand_ids)
        kwargs: dict = dict(
            inputs_embeds=emb,
            attention_mask=mask,
            prefix_allowed_tokens_fn=constraint.prefix_allowed_tokens_fn(),
            max_new_tokens=constraint.length * constraint.depth + 1,
            min_new_tokens=1,
            eos_token_id=EOS,
            pad_token_id=PAD,
            decoder_start_token_id=PAD,
            cache=fresh_decoder_cache(),  # sized by the decoder's depth, not the encoder's
        )
        if logits_processor:
            from transformers import LogitsProcessorList

            kwargs["logits_processor"] = LogitsProcessorList(logits_processor)
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
    """(text, items) or (text, items, candidates) rows -> padded tensors; labels are the items' SID tokens + EOS,
    -100 on padding; `cand_ids` (with `candidates` > 0) the first `candidates` candidates' SID tokens, PAD after
    a shorter list."""

    def __init__(self, tokenizer, vocab: ItemTokens, max_text_tokens: int, candidates: int = 0):
        self.tok, self.vocab, self.max_text, self.candidates = tokenizer, vocab, max_text_tokens, candidates

    def encode_texts(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.tok(list(texts), padding=True, truncation=True, max_length=self.max_text, return_tensors="pt")
        return enc["input_ids"], enc["attention_mask"]

    def encode_candidates(self, cand_lists: list[list[int]]) -> torch.Tensor:
        out = torch.full((len(cand_lists), self.candidates * self.vocab.levels), PAD, dtype=torch.long)
        for i, cands in enumerate(cand_lists):
            toks = self.vocab.encode_list(list(cands)[: self.candidates], eos=False)
            out[i, : len(toks)] = torch.tensor(toks, dtype=torch.long)
        return out

    def encode_inputs(self, texts: list[str], cand_lists: list[list[int]] | None = None) -> dict:
        """The encoder's inputs: input_ids, attention_mask, and cand_ids when the model reads candidates."""
        ids, mask = self.encode_texts(texts)
        out = {"input_ids": ids, "attention_mask": mask}
        if self.candidates:
            if cand_lists is None or len(cand_lists) != len(texts):
                raise ValueError(f"{self.candidates} candidates per text are needed: one candidate list per text")
            out["cand_ids"] = self.encode_candidates(cand_lists)
        return out

    def __call__(self, rows: list[tuple]) -> dict:
        out = self.encode_inputs([r[0] for r in rows], [r[2] for r in rows] if self.candidates else None)
        seqs = [self.vocab.encode_list(r[1]) for r in rows]
        width = max(len(s) for s in seqs)
        labels = torch.full((len(seqs), width), -100, dtype=torch.long)
        for i, s in enumerate(seqs):
            labels[i, : len(s)] = torch.tensor(s)
        return {**out, "labels": labels}


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
