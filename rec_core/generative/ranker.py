"""TIGER as a `rec_core.evaluation.Ranker`: encode (user, history), beam-search semantic IDs, map to items."""

from __future__ import annotations

import numpy as np
import torch

from rec_core.generative.data import encode_inputs
from rec_core.generative.decoding import DecodeStats, beam_search_items
from rec_core.semantic_ids.codes import SIDVocab
from rec_core.semantic_ids.trie import SIDTrie, TrieLogitsProcessor


class GenerativeRanker:
    def __init__(
        self,
        model,
        vocab: SIDVocab,
        item_tokens: np.ndarray,
        num_beams: int = 20,
        constrained: bool = True,
        max_history: int = 20,
        device: str | torch.device = "cpu",
        trie: SIDTrie | None = None,
        mask: str = "tensor",
    ):
        self.model, self.vocab, self.item_tokens = model, vocab, item_tokens
        self.trie = trie or SIDTrie(item_tokens)
        self.num_beams, self.constrained, self.max_history = num_beams, constrained, max_history
        self.device = torch.device(device)
        self.mask = mask
        self.processor = TrieLogitsProcessor(self.trie) if constrained and mask == "tensor" else None
        self.stats = DecodeStats()

    def recommend(self, users, histories, k):
        ids, mask = encode_inputs(self.vocab, self.item_tokens, users, histories, self.max_history)
        was_training = self.model.training
        self.model.eval()
        try:
            return beam_search_items(
                self.model,
                ids.to(self.device),
                mask.to(self.device),
                self.trie,
                max(self.num_beams, k),
                self.constrained,
                self.stats,
                mask=self.mask,
                processor=self.processor,
            )
        finally:
            self.model.train(was_training)
