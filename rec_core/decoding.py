"""Decoding semantic IDs: a prefix trie of valid IDs and beam search with and without it.

Constrained search goes through `model.generate(prefix_allowed_tokens_fn=...)` with `do_sample=False`
(newer transformers may sample by default, which silently turns beam search into sampling) and
`num_return_sequences = num_beams`, so each user gets `num_beams` distinct valid items in score order.
Unconstrained search is the same call without the trie; invalid or duplicate outputs are filtered out
afterwards and counted.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from rec_core.generative.vocab import EOS, PAD


class SIDTrie:
    """Prefix trie over item token sequences (n_items, L). Keys are token tuples (no decoder start)."""

    def __init__(self, item_tokens: np.ndarray):
        item_tokens = np.asarray(item_tokens, dtype=np.int64)
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

    def item(self, tokens: Sequence[int]) -> int | None:
        toks = tuple(int(t) for t in tokens if int(t) not in (PAD, EOS))
        return self._item_of.get(toks)

    def prefix_fn(self):
        """The callback for `generate`: drops the decoder start token, looks the rest up."""
        allowed = self.allowed

        def fn(batch_id: int, sent: torch.Tensor) -> list[int]:
            return allowed(sent.tolist()[1:])

        return fn


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
                      constrained: bool = True, stats: DecodeStats | None = None) -> list[list[int]]:
    """Top-`num_beams` items per row, best first. Unconstrained: invalid/duplicate IDs dropped and counted."""
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
    if constrained:
        kwargs["prefix_allowed_tokens_fn"] = trie.prefix_fn()
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
