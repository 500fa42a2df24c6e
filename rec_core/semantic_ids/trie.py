"""The prefix trie of valid semantic IDs, and the masks that make `generate` emit only valid IDs.

- `SIDTrie`: prefix trie over item token sequences; `allowed(prefix)` lists the next tokens of a valid ID, and
  a complete ID may only be closed (EOS). `prefix_fn()` is the callback for transformers'
  `prefix_allowed_tokens_fn`: it is called once per beam per step and writes the mask row by row.
- `TrieLogitsProcessor`: the same mask as batched tensor ops for every beam at once (the default for TIGER:
  per-beam callbacks dominate a GPU decode, measured in BENCHMARKS.md). Same mask, hence the same beams (tested).
- `NoRepeatListConstraint`: per-list state on top of any trie, for models that emit a LIST of items (playlists):
  no item twice in one list, exactly `length` items, then EOS.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from transformers import LogitsProcessor

from rec_core.semantic_ids.codes import EOS, PAD


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
            offset = torch.arange(len(row), device=scores.device) - torch.repeat_interleave(
                count.cumsum(0) - count, count
            )
            mask[row, tokens[first[row] + offset]] = 0
        mask[~ok, EOS] = (
            0  # finished or (impossible under the constraint) unknown prefixes: close, as the callback does
        )
        return scores + mask


# ---------------------------------------------------------------------------------------------
# Item lists: no item twice, exact length
#
# `NoRepeatListConstraint` only calls `trie.allowed(prefix)` for prefixes shorter than an ID. It turns the flat
# decoder sequence (item after item, EOS at the end) into per-step allowed tokens:
# - inside an item: the trie's children of the current item's prefix, minus children whose every completion is
#   an item already in this list (so beam search can never walk into a dead end);
# - at an item boundary: EOS once `length` items are out, otherwise the first tokens of unused items.


class NoRepeatListConstraint:
    """Per-step allowed tokens for a list of `length` items, each a `depth`-token path of `trie`."""

    def __init__(self, trie, depth: int, eos_token: int, length: int, start_tokens: int = 1):
        if length < 1:
            raise ValueError("length must be >= 1")
        self.trie, self.depth, self.eos, self.length = trie, depth, eos_token, length
        self.start = start_tokens  # decoder start token(s) generate() puts before the first item
        self._leaves = lru_cache(maxsize=None)(self._count_leaves)
        n_items = self._leaves(())
        if n_items < length:
            raise ValueError(f"cannot make a list of {length} distinct items from {n_items} valid items")

    def _count_leaves(self, prefix: tuple) -> int:
        if len(prefix) == self.depth:
            return 1
        return sum(self._leaves(prefix + (t,)) for t in self.trie.allowed(prefix))

    def allowed(self, generated: Sequence[int]) -> list[int]:
        """generated: decoder tokens after the start token(s)."""
        gen = [int(t) for t in generated]
        n_done, pos = divmod(len(gen), self.depth)
        if pos == 0 and n_done >= self.length:
            return [self.eos]
        if n_done > self.length or (gen and self.eos in gen):
            return [self.eos]  # finished beams keep padding with EOS
        used = [tuple(gen[k * self.depth : (k + 1) * self.depth]) for k in range(n_done)]
        prefix = tuple(gen[n_done * self.depth :])
        out = []
        for t in self.trie.allowed(prefix):
            child = prefix + (t,)
            used_below = sum(1 for u in used if u[: len(child)] == child)
            if self._leaves(child) > used_below:
                out.append(t)
        return out or [self.eos]

    def prefix_allowed_tokens_fn(self):
        start = self.start

        def fn(batch_id, input_ids):
            return self.allowed(input_ids.tolist()[start:])

        return fn
