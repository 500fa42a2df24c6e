"""Decoding semantic IDs: a prefix trie of valid IDs and beam search with and without it.

Constrained search goes through `model.generate(prefix_allowed_tokens_fn=...)` with `do_sample=False`
(newer transformers may sample by default, which silently turns beam search into sampling) and
`num_return_sequences = num_beams`, so each user gets `num_beams` distinct valid items in score order.
Unconstrained search is the same call without the trie; invalid or duplicate outputs are filtered out
afterwards and counted.

The trie reaches `generate` in one of two ways that give the same mask, hence the same beams (tested):
- `mask="callback"`: transformers' `prefix_allowed_tokens_fn`. Its processor calls back once per beam per step
  and writes the mask row by row; on a GPU each call is a device-to-host copy plus a small kernel, and 20 beams x
  256 users x 4 steps of those dominate the decode (measured in BENCHMARKS.md).
- `mask="tensor"` (default): `TrieLogitsProcessor`, the trie as sorted edge tensors on the model's device, so
  the mask for every beam is a handful of batched ops per step. It plugs into the same `generate` through its
  `logits_processor` argument; beam search itself stays the library's.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from transformers import LogitsProcessor, LogitsProcessorList

from rec_core.generative.vocab import EOS, PAD


class SIDTrie:
    """Prefix trie over item token sequences (n_items, L). Keys are token tuples (no decoder start)."""

    def __init__(self, item_tokens: np.ndarray):
        item_tokens = np.asarray(item_tokens, dtype=np.int64)
        self._tokens = item_tokens
        self.levels = item_tokens.shape[1]
        children: dict[tuple, set] = {}
        self._item_of: dict[tuple, int] = {}
        for idx, row in enumerate(item_tokens.tolist()):
            key = tuple(row)
            if key in self._item_of:
                raise ValueError(f"items {self._item_of[key]} and {idx} share the token sequence {key}")
            self._item_of[key] = idx
            for d in range(self.levels):
                children.setdefault(key[:d], set()).add(key[d])
        # Sorted lists, built once: the callback runs for every beam at every step.
        self._next = {k: sorted(v) for k, v in children.items()}
        self._done = [EOS]

    def __len__(self) -> int:
        return len(self._item_of)

    def allowed(self, prefix: Sequence[int]) -> list[int]:
        prefix = tuple(prefix)
        if len(prefix) >= self.levels:
            return self._done  # a complete ID may only be closed
        # An unknown prefix cannot occur under the constraint; closing it keeps generate() well-defined.
        return self._next.get(prefix, self._done)

    def sequences(self) -> np.ndarray:
        """The item token sequences, (n_items, levels), in item order."""
        return self._tokens

    def item(self, tokens: Sequence[int]) -> int | None:
        toks = tuple(int(t) for t in tokens if int(t) not in (PAD, EOS))
        return self._item_of.get(toks)

    def prefix_fn(self):
        """The callback for `generate`: drops the decoder start token, looks the rest up."""
        allowed = self.allowed

        def fn(batch_id: int, sent: torch.Tensor) -> list[int]:
            return allowed(sent.tolist()[1:])

        return fn


class TrieLogitsProcessor(LogitsProcessor):
    """`SIDTrie.allowed` for every beam at once: the same mask as the callback, as batched tensor ops.

    Depth d of the trie is a list of edges (parent node, token) -> child node, sorted by parent then token and
    keyed as `parent * span + token`, so a beam's node is found by `searchsorted` one level at a time, and a
    node's children are a contiguous run of edges. Memory is O(items x levels), not O(nodes x vocabulary).
    """

    def __init__(self, trie: SIDTrie):
        seqs = trie.sequences()
        self.levels = trie.levels
        self.span = int(seqs.max()) + 1 if seqs.size else 1
        node = np.zeros(len(seqs), dtype=np.int64)  # each item's node at the current depth (root = 0)
        self._host = []
        for d in range(self.levels):
            key = node * self.span + seqs[:, d]
            uniq, child = np.unique(key, return_inverse=True)  # sorted edges; child ids number depth d+1's nodes
            parents = uniq // self.span
            n_parents = int(node.max()) + 1
            start = np.searchsorted(parents, np.arange(n_parents + 1))  # children of p: edges start[p]:start[p+1]
            self._host.append((uniq, uniq % self.span, start))
            node = child.reshape(-1)
        self._dev: dict = {}

    def _tensors(self, device):
        if device not in self._dev:
            self._dev[device] = [tuple(torch.as_tensor(a, device=device) for a in level) for level in self._host]
        return self._dev[device]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        levels = self._tensors(scores.device)
        prefix = input_ids[:, 1:]  # drop the decoder start token
        depth, rows = prefix.shape[1], prefix.shape[0]
        mask = torch.full_like(scores, -math.inf)
        node = torch.zeros(rows, dtype=torch.long, device=scores.device)
        ok = torch.ones(rows, dtype=torch.bool, device=scores.device)
        for d in range(min(depth, self.levels)):
            keys, _, _ = levels[d]
            tok = prefix[:, d]
            key = node * self.span + tok.clamp(0, self.span - 1)
            i = torch.searchsorted(keys, key).clamp(max=len(keys) - 1)
            ok &= (keys[i] == key) & (tok >= 0) & (tok < self.span)
            node = torch.where(ok, i, 0)  # edge index at depth d == node id at depth d+1
        if depth >= self.levels:
            ok[:] = False  # a complete ID may only be closed
        else:
            _, tokens, start = levels[depth]
            first, count = start[node], (start[node + 1] - start[node]) * ok
            row = torch.repeat_interleave(torch.arange(rows, device=scores.device), count)
            offset = torch.arange(len(row), device=scores.device) - torch.repeat_interleave(count.cumsum(0) - count, count)
            mask[row, tokens[first[row] + offset]] = 0
        mask[~ok, EOS] = 0  # finished or (impossible under the constraint) unknown prefixes: close, as the callback does
        return scores + mask


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
def beam_search_items(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, trie: SIDTrie, num_beams: int,
                      constrained: bool = True, stats: DecodeStats | None = None, mask: str = "tensor",
                      processor: TrieLogitsProcessor | None = None) -> list[list[int]]:
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
    )
    if constrained and mask == "callback":
        kwargs["prefix_allowed_tokens_fn"] = trie.prefix_fn()
    elif constrained and mask == "tensor":
        kwargs["logits_processor"] = LogitsProcessorList([processor or TrieLogitsProcessor(trie)])
    elif constrained:
        raise ValueError(f"mask must be 'tensor' or 'callback', not {mask!r}")
    out = model.generate(**kwargs)
    seqs = out.view(input_ids.shape[0], num_beams, -1).tolist()
    results = []
    for row in seqs:
        items, seen = [], set()
        for s in row:
            it = trie.item(s[1:])
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
        stats.users += input_ids.shape[0]
        stats.seconds += time.perf_counter() - t0
    return results
