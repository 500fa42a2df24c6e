"""Constrained decoding of item lists: valid semantic IDs only, no item twice in one list, exact length.

`SIDTrie` is a prefix trie over token tuples with `allowed(prefix) -> list[token]` (the interface shared with
TIGER's decoding). `NoRepeatListConstraint` wraps ANY such trie: it only calls `allowed`, so TIGER's trie can
replace ours without change. It turns the flat decoder sequence (item after item, EOS at the end) into
per-step allowed tokens for `generate(prefix_allowed_tokens_fn=...)`:

- inside an item: the trie's children of the current item's prefix, minus children whose every completion is an
  item already in this list (so beam search can never walk into a dead end);
- at an item boundary: EOS once `length` items are out, otherwise the first tokens of unused items.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache


class SIDTrie:
    def __init__(self, sequences: Iterable[Sequence[int]]):
        self.root: dict = {}
        self.depth = None
        n = 0
        for seq in sequences:
            seq = tuple(int(t) for t in seq)
            if self.depth is None:
                self.depth = len(seq)
            elif len(seq) != self.depth:
                raise ValueError(f"all sequences must have one length, got {len(seq)} and {self.depth}")
            node = self.root
            for t in seq:
                node = node.setdefault(t, {})
            n += 1
        self.size = n

    def allowed(self, prefix: Sequence[int]) -> list[int]:
        node = self.root
        for t in prefix:
            node = node.get(int(t))
            if node is None:
                return []
        return list(node)


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
