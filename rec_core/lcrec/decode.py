"""Trie-constrained beam search over SID tokens with a causal LM, and the Ranker the shared harness evaluates.

Known failures this guards against (LC-Rec issue 17, MiniOneRec issue 49): beams that silently sample, and
sampling fields inherited from the model's `generation_config.json`. `generate` gets an explicit
`GenerationConfig` built here (greedy beams: `do_sample=False`, no temperature / top-k / top-p), and while it
runs the model's own `generation_config` is swapped for a blank one (transformers fills every field the explicit
config leaves unset from the model's config, repetition_penalty and no_repeat_ngram_size included), so nothing
from the model's generation config reaches the search. The mask is the
same `TrieLogitsProcessor` TIGER uses, over the LLM's SID token ids, so every returned ID is a real item
(counted in `DecodeStats.invalid`, which stays 0).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from rec_core.generative.decoding import DecodeStats, items_from_beams
from rec_core.lcrec.padding import left_pad, left_pad_positions
from rec_core.lcrec.prompts import ItemText, prompt_ids, seqrec_prompt
from rec_core.semantic_ids.trie import SIDTrie, TrieLogitsProcessor


class CausalTrieProcessor(LogitsProcessor):
    """TIGER's `TrieLogitsProcessor` for a decoder-only model: the generated part starts after the (left-padded)
    prompt of length `prompt_len`; the trie processor drops one leading column, so it gets the last prompt column
    plus the generated tokens."""

    def __init__(self, trie_processor: TrieLogitsProcessor, prompt_len: int):
        self.inner, self.prompt_len = trie_processor, prompt_len

    def __call__(self, input_ids, scores):
        return self.inner(input_ids[:, self.prompt_len - 1 :], scores)


@contextlib.contextmanager
def blank_generation_config(model):
    """Swap the (underlying HF) model's `generation_config` for transformers' defaults while decoding."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    saved = inner.generation_config
    inner.generation_config = GenerationConfig()
    try:
        yield
    finally:
        inner.generation_config = saved


def beam_config(num_beams: int, levels: int, pad_id: int, eos_id: int) -> GenerationConfig:
    """The whole decoding config, built from nothing (no field comes from the model's generation_config)."""
    return GenerationConfig(
        num_beams=num_beams,
        num_return_sequences=num_beams,
        do_sample=False,
        temperature=None,
        top_k=None,
        top_p=None,
        max_new_tokens=levels,
        min_new_tokens=levels,
        early_stopping=True,
        length_penalty=0.0,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
    )


@torch.no_grad()
def prefilled_cache(model, ids: torch.Tensor, mask: torch.Tensor, num_beams: int):
    """The KV cache of every prompt but its last token, computed once per prompt and then repeated per beam.

    `generate` repeats the prompts `num_beams` times before its first forward pass, so a plain beam search runs
    the whole prompt once per beam; given this cache it only runs the last prompt token, and the beams come out the
    same (a unit test compares them). With 20 beams over 100-token prompts this cut SmolLM2-135M's seqrec decoding
    on 2 CPU cores from 43.7 s to 4.1 s per 8 users. Positions follow the left padding as `generate` computes them.
    """
    pos = left_pad_positions(mask)
    out = model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=pos[:, :-1], use_cache=True)
    cache = out["cache"]
    cache.batch_repeat_interleave(num_beams)
    return cache


@torch.no_grad()
def beam_search_sids(
    model,
    tokenizer,
    prompts: Sequence[str],
    trie: SIDTrie,
    num_beams: int = 20,
    processor: TrieLogitsProcessor | None = None,
    stats: DecodeStats | None = None,
    device: str | torch.device = "cpu",
) -> list[list[int]]:
    """Top-`num_beams` items per prompt, best first (items as trie indices). The beam count is capped at the number
    of items: with more beams than valid IDs the surplus beams could only end as invalid sequences."""
    import time

    t0 = time.perf_counter()
    num_beams = min(num_beams, len(trie))
    rows = [prompt_ids(tokenizer, p) for p in prompts]
    ids, mask = left_pad(rows, tokenizer.pad_token_id)
    ids, mask = ids.to(device), mask.to(device)
    proc = CausalTrieProcessor(processor or TrieLogitsProcessor(trie), ids.shape[1])
    with blank_generation_config(model):
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            cache=prefilled_cache(model, ids, mask, num_beams),
            generation_config=beam_config(num_beams, trie.levels, tokenizer.pad_token_id, tokenizer.eos_token_id),
            logits_processor=LogitsProcessorList([proc]),
        )
    gen = out[:, ids.shape[1] :].reshape(len(prompts), num_beams, -1).tolist()
    results = items_from_beams(gen, trie, stats, stop=trie.levels)
    if stats is not None:
        stats.seconds += time.perf_counter() - t0
    return results


class LCRecRanker:
    """`rec_core.evaluation.Ranker`: seqrec prompts (template 0) -> constrained beams -> item indices."""

    def __init__(
        self,
        model,
        tokenizer,
        item_token_ids: np.ndarray,
        items: ItemText,
        num_beams: int = 20,
        max_history: int = 20,
        device: str | torch.device = "cpu",
    ):
        self.model, self.tokenizer, self.items = model, tokenizer, items
        self.trie = SIDTrie(item_token_ids)
        self.processor = TrieLogitsProcessor(self.trie)
        self.num_beams, self.max_history = num_beams, max_history
        self.device = torch.device(device)
        self.stats = DecodeStats()

    def recommend(self, users, histories, k):
        prompts = [seqrec_prompt(h, self.items, self.max_history) for h in histories]
        was_training = self.model.training
        self.model.eval()
        try:
            return beam_search_sids(
                self.model,
                self.tokenizer,
                prompts,
                self.trie,
                max(self.num_beams, k),
                self.processor,
                self.stats,
                self.device,
            )
        finally:
            self.model.train(was_training)
