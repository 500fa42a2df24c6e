"""Constrained lists: only valid semantic IDs, no item twice, exactly the requested length."""

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.playlist.model import ModelConfig, PlaylistT5, build_constraint
from rec_core.semantic_ids.codes import EOS, ItemTokens
from rec_core.semantic_ids.rqkmeans import residual_kmeans_codes
from rec_core.semantic_ids.trie import NoRepeatListConstraint, SIDTrie


@st.composite
def codes_and_length(draw):
    levels = draw(st.integers(1, 3))
    size = draw(st.integers(2, 4))
    sids = draw(st.lists(st.tuples(*[st.integers(0, size - 1)] * levels), min_size=1, max_size=30, unique=True))
    length = draw(st.integers(1, len(sids)))
    return sids, length, draw(st.integers(0, 10**6))


@settings(max_examples=60, deadline=None)
@given(codes_and_length())
def test_random_walk_under_constraint_gives_valid_distinct_items(case):
    sids, length, seed = case
    vocab = ItemTokens.compact(list(range(100, 100 + len(sids))), sids)
    c = build_constraint(vocab, length)
    rng = random.Random(seed)
    gen: list[int] = []
    while True:
        allowed = c.allowed(gen)
        assert allowed, "the constraint must never leave a step with nothing allowed"
        t = rng.choice(allowed)
        if t == EOS:
            break
        gen.append(t)
    items, bad = vocab.decode_list(gen)
    assert bad == 0
    assert len(items) == length
    assert len(set(items)) == length
    assert set(items) <= set(vocab.item_ids)


def test_dead_end_prefix_is_pruned():
    # Two items share first token 5; once both are used, 5 must not be offered again.
    trie = SIDTrie([(5, 7), (5, 8), (6, 7)])
    c = NoRepeatListConstraint(trie, depth=2, eos_token=1, length=3)
    assert sorted(c.allowed([5, 7, 5, 8])) == [6]
    assert c.allowed([5, 7, 5, 8, 6, 7]) == [1]
    with pytest.raises(ValueError, match="distinct items"):
        NoRepeatListConstraint(trie, depth=2, eos_token=1, length=4)


def test_trie_works_through_allowed_only():
    """The wrapper relies on `allowed(prefix)` alone, so any trie with that method (TIGER's) plugs in."""

    class OtherTrie:
        def __init__(self, seqs):
            self.seqs = [tuple(s) for s in seqs]

        def allowed(self, prefix):
            n = len(prefix)
            return sorted({s[n] for s in self.seqs if s[:n] == tuple(prefix) and len(s) > n})

    seqs = [(2, 4), (2, 5), (3, 4)]
    a = NoRepeatListConstraint(OtherTrie(seqs), 2, 1, 2)
    b = NoRepeatListConstraint(SIDTrie(seqs), 2, 1, 2)
    for gen in ([], [2], [2, 4], [2, 4, 2], [3, 4, 2, 5]):
        assert sorted(a.allowed(gen)) == sorted(b.allowed(gen))


def test_codes_are_unique_with_collision_level():
    import numpy as np

    emb = np.random.default_rng(0).normal(size=(50, 8))
    emb[10:20] = emb[10]  # identical items must still get distinct IDs
    codes = residual_kmeans_codes(np.arange(50), emb, levels=2, codebook_size=4)
    assert len({tuple(s) for s in codes.sids}) == 50
    assert codes.sids.shape == (50, 3)


@pytest.mark.parametrize("mode", ["beam", "sample", "greedy"])
def test_model_generate_respects_constraint(mode):
    torch.manual_seed(0)
    rng = random.Random(0)
    sids = rng.sample([(a, b, c) for a in range(3) for b in range(3) for c in range(2)], 12)
    vocab = ItemTokens.compact(list(range(12)), sids)
    cfg = ModelConfig(
        d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=8, text_embed_init="random"
    )
    model = PlaylistT5(cfg, text_vocab_size=50, sid_vocab_size=vocab.size).eval()
    ids = torch.randint(1, 50, (3, 6))
    out = model.generate_lists(
        ids, torch.ones_like(ids), build_constraint(vocab, 8), mode=mode, num_beams=3, temperature=1.5, seed=1
    )
    for seq in out.tolist():
        items, bad = vocab.decode_list(seq[1:])
        assert bad == 0 and len(items) == 8 and len(set(items)) == 8
