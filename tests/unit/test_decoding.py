import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rec_core.decoding import DecodeStats, SIDTrie, beam_search_items
from rec_core.generative import SIDVocab, TigerModelConfig, build_tiger
from rec_core.generative.data import encode_inputs, item_token_table
from rec_core.generative.vocab import EOS

TINY = TigerModelConfig(num_layers=1, num_decoder_layers=1, d_model=16, num_heads=2, d_kv=8, d_ff=32, dropout=0.0,
                        num_user_tokens=8)


def random_catalogue(rng, sizes, n_items):
    space = int(np.prod(sizes))
    flat = rng.choice(space, size=min(n_items, space), replace=False)
    return np.stack(np.unravel_index(flat, sizes), axis=1).astype(np.int64)


def test_trie_allows_exactly_the_catalogue_prefixes():
    vocab = SIDVocab((3, 4, 2), 8)
    codes = np.array([[0, 1, 0], [0, 1, 1], [2, 3, 0]])
    tok = item_token_table(vocab, codes)
    trie = SIDTrie(tok)
    assert trie.allowed([]) == sorted({tok[0, 0], tok[2, 0]})
    assert trie.allowed([tok[0, 0]]) == [tok[0, 1]]
    assert trie.allowed(tok[0, :2].tolist()) == sorted(tok[:2, 2].tolist())
    assert trie.allowed(tok[2].tolist()) == [EOS]
    assert trie.item(tok[1].tolist() + [EOS]) == 1
    assert trie.item(tok[1, :2].tolist()) is None


def test_trie_rejects_duplicate_ids():
    with pytest.raises(ValueError, match="share"):
        SIDTrie(np.array([[3, 4], [3, 4]]))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sizes=st.lists(st.integers(2, 6), min_size=1, max_size=3), n_items=st.integers(1, 40),
       beams=st.integers(1, 6), batch=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_constrained_beam_search_only_yields_valid_distinct_items(sizes, n_items, beams, batch, seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    vocab = SIDVocab(tuple(sizes), 8)
    codes = random_catalogue(rng, sizes, n_items)
    tok = item_token_table(vocab, codes)
    trie = SIDTrie(tok)
    model = build_tiger(TINY, vocab).eval()  # untrained: its unconstrained outputs are mostly invalid
    hist = [rng.integers(len(codes), size=rng.integers(0, 5)).tolist() for _ in range(batch)]
    ids, mask = encode_inputs(vocab, tok, list(range(batch)), hist)
    stats = DecodeStats()
    k = min(beams, len(codes))
    out = beam_search_items(model, ids, mask, trie, k, constrained=True, stats=stats)
    assert stats.invalid == 0 and stats.duplicates == 0
    for items in out:
        assert len(items) == k and len(set(items)) == k
        assert all(0 <= i < len(codes) for i in items)


def test_unconstrained_search_counts_invalid_ids():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    vocab = SIDVocab((8, 8, 4), 8)
    tok = item_token_table(vocab, random_catalogue(rng, (8, 8, 4), 20))  # 20 of 256 possible IDs
    model = build_tiger(TINY, vocab).eval()
    ids, mask = encode_inputs(vocab, tok, [0, 1], [[1, 2], [3]])
    stats = DecodeStats()
    out = beam_search_items(model, ids, mask, SIDTrie(tok), 10, constrained=False, stats=stats)
    assert stats.sequences == 20 and stats.invalid > 0
    assert all(len(o) <= 10 for o in out)
