import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rec_core.generative.data import encode_inputs
from rec_core.generative.decoding import DecodeStats, beam_search_items
from rec_core.generative.model import TigerModelConfig, build_tiger
from rec_core.semantic_ids.codes import EOS, SIDVocab
from rec_core.semantic_ids.trie import SIDTrie, TrieLogitsProcessor

TINY = TigerModelConfig(
    num_layers=1, num_decoder_layers=1, d_model=16, num_heads=2, d_kv=8, d_ff=32, dropout=0.0, num_user_tokens=8
)


def random_catalogue(rng, sizes, n_items):
    space = int(np.prod(sizes))
    flat = rng.choice(space, size=min(n_items, space), replace=False)
    return np.stack(np.unravel_index(flat, sizes), axis=1).astype(np.int64)


def test_trie_allows_exactly_the_catalogue_prefixes():
    vocab = SIDVocab((3, 4, 2), 8)
    codes = np.array([[0, 1, 0], [0, 1, 1], [2, 3, 0]])
    tok = vocab.item_tokens(codes)
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
@given(
    sizes=st.lists(st.integers(2, 6), min_size=1, max_size=3),
    n_items=st.integers(1, 40),
    beams=st.integers(1, 6),
    batch=st.integers(1, 4),
    seed=st.integers(0, 10_000),
)
def test_constrained_beam_search_only_yields_valid_distinct_items(sizes, n_items, beams, batch, seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    vocab = SIDVocab(tuple(sizes), 8)
    codes = random_catalogue(rng, sizes, n_items)
    tok = vocab.item_tokens(codes)
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


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 7), min_size=1, max_size=4),
    n_items=st.integers(1, 60),
    rows=st.integers(1, 12),
    seed=st.integers(0, 10_000),
)
def test_tensor_trie_mask_equals_the_callback_mask(sizes, n_items, rows, seed):
    """The batched processor gives transformers' prefix_allowed_tokens_fn mask for every prefix depth, including
    prefixes that leave the trie (closed with EOS by both)."""
    from transformers.generation.logits_process import PrefixConstrainedLogitsProcessor

    rng = np.random.default_rng(seed)
    vocab = SIDVocab(tuple(sizes), 8)
    tok = vocab.item_tokens(random_catalogue(rng, sizes, n_items))
    trie = SIDTrie(tok)
    reference = PrefixConstrainedLogitsProcessor(trie.prefix_fn(), num_beams=1)
    tensor = TrieLogitsProcessor(trie)
    for depth in range(len(sizes) + 2):
        prefixes = tok[rng.integers(len(tok), size=rows)][:, :depth]
        if depth > len(sizes):
            prefixes = np.concatenate([tok[rng.integers(len(tok), size=rows)], np.full((rows, 1), EOS)], axis=1)
        off = rng.random(prefixes.shape) < 0.2  # some prefixes leave the trie (any token, in or out of range)
        prefixes = np.where(off, rng.integers(0, vocab.size, size=prefixes.shape), prefixes)
        input_ids = torch.as_tensor(np.concatenate([np.zeros((rows, 1), dtype=np.int64), prefixes], axis=1))
        scores = torch.randn(rows, vocab.size)
        assert torch.equal(tensor(input_ids, scores.clone()), reference(input_ids, scores.clone()))


def test_both_trie_masks_give_the_same_beams():
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    vocab = SIDVocab((6, 6, 3), 8)
    tok = vocab.item_tokens(random_catalogue(rng, (6, 6, 3), 50))
    trie = SIDTrie(tok)
    model = build_tiger(TINY, vocab).eval()
    ids, mask = encode_inputs(vocab, tok, list(range(6)), [rng.integers(50, size=4).tolist() for _ in range(6)])
    out = {m: beam_search_items(model, ids, mask, trie, 8, mask=m) for m in ("tensor", "callback")}
    assert out["tensor"] == out["callback"] and all(len(o) == 8 for o in out["tensor"])
    with pytest.raises(ValueError, match="mask"):
        beam_search_items(model, ids, mask, trie, 8, mask="dense")


def test_unconstrained_search_counts_invalid_ids():
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    vocab = SIDVocab((8, 8, 4), 8)
    tok = vocab.item_tokens(random_catalogue(rng, (8, 8, 4), 20))  # 20 of 256 possible IDs
    model = build_tiger(TINY, vocab).eval()
    ids, mask = encode_inputs(vocab, tok, [0, 1], [[1, 2], [3]])
    stats = DecodeStats()
    out = beam_search_items(model, ids, mask, SIDTrie(tok), 10, constrained=False, stats=stats)
    assert stats.sequences == 20 and stats.invalid > 0
    assert all(len(o) <= 10 for o in out)


@pytest.mark.parametrize("enc,dec", [(2, 4), (1, 3), (3, 1)])
def test_decoding_works_for_any_encoder_decoder_depths(enc, dec):
    """Regression (Tune search space): a T5 with more decoder than encoder layers crashed in generate's cache."""
    vocab = SIDVocab((4, 4, 2), 8)
    tok = vocab.item_tokens(random_catalogue(np.random.default_rng(0), (4, 4, 2), 20))
    torch.manual_seed(0)
    cfg = TINY.model_copy(update={"num_layers": enc, "num_decoder_layers": dec})
    model = build_tiger(cfg, vocab).eval()
    ids, mask = encode_inputs(vocab, tok, [1, 2, 3], [[0, 1], [2], [5, 6, 7]], 20)
    stats = DecodeStats()
    out = beam_search_items(model, ids, mask, SIDTrie(tok), 5, stats=stats)
    assert [len(r) for r in out] == [5, 5, 5] and stats.invalid == 0


def test_explicit_cache_keeps_the_beams_of_the_default_one():
    """The fresh cache changes nothing where the default worked (equal depths): same sequences, same scores."""
    vocab = SIDVocab((4, 4, 2), 8)
    tok = vocab.item_tokens(random_catalogue(np.random.default_rng(1), (4, 4, 2), 20))
    torch.manual_seed(0)
    model = build_tiger(TINY.model_copy(update={"num_layers": 2, "num_decoder_layers": 2}), vocab).eval()
    ids, mask = encode_inputs(vocab, tok, [1, 2], [[0, 1], [2]], 20)
    kw = dict(
        input_ids=ids,
        attention_mask=mask,
        num_beams=5,
        num_return_sequences=5,
        do_sample=False,
        max_new_tokens=4,
        return_dict_in_generate=True,
        output_scores=True,
    )
    from rec_core.generative.decoding import fresh_decoder_cache

    a, b = model.generate(**kw), model.generate(**kw, cache=fresh_decoder_cache())
    assert torch.equal(a.sequences, b.sequences) and torch.allclose(a.sequences_scores, b.sequences_scores)
