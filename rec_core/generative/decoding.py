"""Beam search over semantic IDs with `model.generate`, with or without the trie (rec_core.semantic_ids.trie).

Constrained search goes through `generate` with `do_sample=False` (newer transformers may sample by default,
which silently turns beam search into sampling) and `num_return_sequences = num_beams`, so each user gets
`num_beams` distinct valid items in score order. The trie reaches `generate` as a `TrieLogitsProcessor`
(`mask="tensor"`, default) or through `prefix_allowed_tokens_fn` (`mask="callback"`). Unconstrained search is the
same call without the trie; invalid or duplicate outputs are filtered out afterwards and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from transformers import LogitsProcessorList

from rec_core.semantic_ids.codes import EOS, PAD
from rec_core.semantic_ids.trie import SIDTrie, TrieLogitsProcessor


def fresh_decoder_cache():
    """An empty encoder-decoder KV cache that grows to the decoder's depth as it is filled.

    `generate` otherwise sizes a T5's self-attention cache from `config.num_hidden_layers`, which T5 maps to the
    ENCODER's `num_layers`: a model with more decoder than encoder layers (a point of the Tune search space) fails
    with an IndexError in the cache update (transformers 5.x). Pass this as `generate(cache=...)` on every call."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    return EncoderDecoderCache(DynamicCache(), DynamicCache())


@dataclass
class DecodeStats:
    sequences: int = 0
    invalid: int = 0
    duplicates: int = 0
    users: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    @property
    def invalid_share(self) -> float:
        return self.invalid / self.sequences if self.sequences else 0.0


@torch.no_grad()
def items_from_beams(
    rows: list[list[list[int]]], trie, stats: DecodeStats | None = None, start: int = 0, stop: int | None = None
) -> list[list[int]]:
    """Each row's beams (token lists, best first) -> its distinct items in beam order; a beam whose codes
    `s[start:stop]` name no item is dropped, and invalid and repeated beams are counted in `stats`."""
    results = []
    for row in rows:
        items, seen = [], set()
        for s in row:
            it = trie.item(s[start:stop])
            if stats is not None:
                stats.sequences += 1
            if it is None:
                if stats is not None:
                    stats.invalid += 1
                continue
            if it in seen:
                if stats is not None:
                    stats.duplicates += 1
                continue
            seen.add(it)
            items.append(it)
        results.append(items)
    if stats is not None:
        stats.users += len(rows)
    return results


def beam_search_items(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    trie: SIDTrie,
    num_beams: int,
    constrained: bool = True,
    stats: DecodeStats | None = None,
    mask: str = "tensor",
    processor: TrieLogitsProcessor | None = None,
) -> list[list[int]]:
    """Top-`num_beams` items per row, best first. Unconstrained: invalid/duplicate IDs dropped and counted.
    `mask`: how the trie reaches `generate` ("tensor" or "callback", see the module docstring); pass a built
    `processor` to reuse its tensors across batches."""
    import time

    t0 = time.perf_counter()
    kwargs = dict(
        input_ids=input_ids,
        attention_mask=attention_mask,
        num_beams=num_beams,
        num_return_sequences=num_beams,
        do_sample=False,
        max_new_tokens=trie.levels + 1,
        early_stopping=True,
        pad_token_id=PAD,
        eos_token_id=EOS,
        decoder_start_token_id=PAD,
        cache=fresh_decoder_cache(),
    )
    if constrained and mask == "callback":
        kwargs["prefix_allowed_tokens_fn"] = trie.prefix_fn()
    elif constrained and mask == "tensor":
        kwargs["logits_processor"] = LogitsProcessorList([processor or TrieLogitsProcessor(trie)])
    elif constrained:
        raise ValueError(f"mask must be 'tensor' or 'callback', not {mask!r}")
    out = model.generate(**kwargs)
    seqs = out.view(input_ids.shape[0], num_beams, -1).tolist()
    results = items_from_beams(seqs, trie, stats, start=1)  # each beam starts with the decoder start token
    if stats is not None:
        stats.seconds += time.perf_counter() - t0
    return results
