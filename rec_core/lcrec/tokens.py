"""Semantic-ID tokens in an LLM vocabulary: `<a_0>..<a_255><b_0>..` (level letter, code), one per code per level.

`add_sid_tokens` adds them with `tokenizer.add_tokens`, resizes the embeddings and starts every new row at the
mean of the original rows (input embeddings and, when untied, the output head), so a new token starts as an
"average word" instead of noise. Only the new rows may train: `trainable_token_indices` for peft (the LoRA path)
or `freeze_original_rows` (gradient hooks, the full fine-tune path).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


def level_letter(level: int) -> str:
    if not 0 <= level < 26:
        raise ValueError(f"semantic-ID level {level} has no letter (0..25)")
    return string.ascii_lowercase[level]


def sid_token_strings(codebook_sizes: Sequence[int]) -> list[list[str]]:
    """[[<a_0>, <a_1>, ...], [<b_0>, ...], ...]: the new tokens of each level."""
    return [[f"<{level_letter(lv)}_{c}>" for c in range(int(n))] for lv, n in enumerate(codebook_sizes)]


@dataclass(frozen=True)
class SIDTokens:
    """Where the SID tokens sit in the LLM vocabulary. `level_ids[l][c]` is the token id of code c at level l;
    ids >= `num_original` are the new rows."""

    codebook_sizes: tuple[int, ...]
    level_ids: tuple[tuple[int, ...], ...]
    num_original: int

    @property
    def new_ids(self) -> list[int]:
        return [i for ids in self.level_ids for i in ids]

    def item_token_ids(self, item_codes: np.ndarray) -> np.ndarray:
        """(n_items, L) codes -> (n_items, L) LLM token ids."""
        item_codes = np.asarray(item_codes, dtype=np.int64)
        table = [np.asarray(ids, dtype=np.int64) for ids in self.level_ids]
        return np.stack([table[lv][item_codes[:, lv]] for lv in range(item_codes.shape[1])], 1)

    def to_dict(self) -> dict:
        return {
            "codebook_sizes": list(self.codebook_sizes),
            "level_ids": [list(x) for x in self.level_ids],
            "num_original": self.num_original,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SIDTokens:
        return cls(tuple(d["codebook_sizes"]), tuple(tuple(x) for x in d["level_ids"]), int(d["num_original"]))


def sid_text(item_codes_row: Sequence[int]) -> str:
    """One item's SID as text: `<a_3><b_17><c_0>`."""
    return "".join(f"<{level_letter(lv)}_{int(c)}>" for lv, c in enumerate(item_codes_row))


def add_sid_tokens(model, tokenizer, codebook_sizes: Sequence[int]) -> SIDTokens:
    """Add the SID tokens (idempotent for a tokenizer that already has them), resize, mean-initialise new rows."""
    strings = sid_token_strings(codebook_sizes)
    flat = [s for lv in strings for s in lv]
    num_original = len(tokenizer) - sum(1 for s in flat if s in tokenizer.get_vocab())
    tokenizer.add_tokens(flat)
    ids = tuple(tuple(tokenizer.convert_tokens_to_ids(lv)) for lv in strings)
    flat_ids = [i for lv in ids for i in lv]
    if len(set(flat_ids)) != len(flat_ids) or min(flat_ids) < num_original:
        raise ValueError("the tokenizer did not add the SID tokens as new, distinct tokens")
    old_rows = model.get_input_embeddings().weight.shape[0]
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    init_new_rows(model, num_original, min(old_rows, num_original))
    return SIDTokens(tuple(int(c) for c in codebook_sizes), ids, num_original)


@torch.no_grad()
def init_new_rows(model, start: int, n_mean: int) -> None:
    """Rows start.. of the input embeddings (and the untied output head) := the mean of rows 0..n_mean."""
    emb = model.get_input_embeddings().weight
    emb[start:] = emb[:n_mean].mean(0, keepdim=True).to(emb.dtype)
    out = model.get_output_embeddings()
    if out is not None and out.weight.data_ptr() != emb.data_ptr():
        out.weight[start:] = out.weight[:n_mean].mean(0, keepdim=True).to(out.weight.dtype)


def trainable_token_indices(model, tokens: SIDTokens) -> dict[str, list[int]] | list[int]:
    """peft's `LoraConfig(trainable_token_indices=...)`: the new rows of the embedding, and of the output head
    when it is not tied to it (a tied head follows the embedding)."""
    if getattr(model.config, "tie_word_embeddings", False):
        return {"embed_tokens": tokens.new_ids}
    return {"embed_tokens": tokens.new_ids, "lm_head": tokens.new_ids}


def freeze_original_rows(model, num_original: int) -> list:
    """Full fine-tune: the original rows of the input embeddings and output head get zero gradient (hooks), so an
    optimizer without weight decay on them leaves them exactly as they were. Returns the hook handles."""
    handles = []
    seen = set()
    for mod in (model.get_input_embeddings(), model.get_output_embeddings()):
        if mod is None or id(mod.weight) in seen:
            continue
        seen.add(id(mod.weight))

        def hook(grad, n=num_original):
            grad = grad.clone()
            grad[:n] = 0
            return grad

        mod.weight.requires_grad_(True)
        handles.append(mod.weight.register_hook(hook))
    return handles


def embedding_rows(model) -> torch.Tensor:
    """The current input-embedding matrix, with peft's trainable-token rows applied (a detached copy)."""
    emb = model.get_input_embeddings()
    n = emb.weight.shape[0] if hasattr(emb, "weight") else emb.base_layer.weight.shape[0]
    with torch.no_grad():
        dev = next(model.parameters()).device
        return emb(torch.arange(n, device=dev)[None])[0].detach().float().cpu()
