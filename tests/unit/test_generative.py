import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.baselines import MostPopular
from rec_core.evaluation import ScoreRanker, evaluate_ranker
from rec_core.generative.data import TigerCollator, WindowDataset, encode_inputs, sliding_windows
from rec_core.generative.model import TigerModelConfig, build_tiger, num_parameters
from rec_core.generative.ranker import GenerativeRanker
from rec_core.generative.synthetic import chain_dataset
from rec_core.generative.train import fit_plain
from rec_core.semantic_ids.codes import EOS, PAD, CodesError, SemanticCodes, SIDVocab, load_codes, released_codes
from rec_core.semantic_ids.rqkmeans import residual_kmeans_codes

NUM_SPECIALS = 3  # TIGER's layout: pad, eos, unk


@settings(max_examples=50, deadline=None)
@given(sizes=st.lists(st.integers(1, 300), min_size=1, max_size=5), users=st.integers(1, 3000))
def test_vocab_round_trip_and_disjoint_ranges(sizes, users):
    v = SIDVocab(tuple(sizes), users)
    assert v.size == NUM_SPECIALS + sum(sizes) + users
    sid = [s - 1 for s in sizes]
    toks = v.encode_sid(sid)
    assert v.decode_sid(toks + [EOS]) == tuple(sid)
    assert len(set(toks)) == len(toks) and min(toks) >= NUM_SPECIALS and max(toks) < v.user_offset
    assert v.user_offset <= v.user_token("u42") < v.size
    with pytest.raises(ValueError):
        v.encode_sid([sizes[0]] + sid[1:])


def test_user_hash_is_stable_across_processes():
    # blake2b, not the salted builtin hash(): a fixed expected value.
    assert SIDVocab((4,), 2000).user_token(12345) == SIDVocab((4,), 2000).user_token("12345")


def test_paper_sized_model():
    v = SIDVocab((256, 256, 256, 4), 2000)
    m = build_tiger(TigerModelConfig(), v)
    c = m.config
    assert (c.num_layers, c.num_decoder_layers, c.d_model, c.num_heads, c.d_kv, c.d_ff, c.dropout_rate) == (
        4,
        4,
        128,
        6,
        64,
        1024,
        0.1,
    )
    assert c.vocab_size == v.size and m.generation_config.do_sample is False
    assert 4e6 < num_parameters(m) < 1.5e7


def test_sliding_windows_keep_the_most_recent_when_asked():
    users, hists, targets = sliding_windows({7: [1, 2, 3, 4], 8: [5, 6]}, max_history=2, recent=2)
    assert users == [7, 7, 8] and hists == [[1, 2], [2, 3], [5]] and targets.tolist() == [3, 4, 6]


def test_sliding_windows():
    users, hists, targets = sliding_windows({7: [1, 2, 3, 4]}, max_history=2)
    assert users == [7, 7, 7] and hists == [[1], [1, 2], [2, 3]] and targets.tolist() == [2, 3, 4]


def test_encoding_layout():
    v = SIDVocab((4, 4), 10)
    tok = v.item_tokens(np.array([[0, 1], [3, 2]]))
    ids, mask = encode_inputs(v, tok, [5, 6], [[0, 1], [1]])
    assert ids[0].tolist() == [v.user_token(5), *tok[0], *tok[1], EOS]
    assert ids[1].tolist() == [v.user_token(6), *tok[1], EOS, PAD, PAD]
    assert mask[1].tolist() == [1, 1, 1, 1, 0, 0]
    ds = WindowDataset([5], [[0]], [1])
    b = TigerCollator(v, tok, ds)([0])
    assert b["labels"][0].tolist() == [*tok[1], EOS]


def test_codes_table_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(0)
    codes = residual_kmeans_codes(np.arange(10, 60), rng.normal(size=(50, 8)), levels=2, codebook_size=4)
    assert codes.levels == 3 and len(np.unique(codes.sids, axis=0)) == 50
    codes.save(tmp_path)
    back = load_codes(tmp_path)
    assert back.codebook_sizes == codes.codebook_sizes and (back.sids == codes.sids).all()
    assert (back.aligned(np.array([12, 10])) == codes.sids[[2, 0]]).all()
    with pytest.raises(CodesError, match="no semantic ID"):
        back.aligned(np.array([10, 999]))
    with pytest.raises(CodesError, match="share a semantic ID"):
        SemanticCodes(np.array([1, 2]), np.array([[0, 0], [0, 0]]), (2, 2))
    with pytest.raises(CodesError, match="not found"):
        load_codes(tmp_path / "nope.parquet")
    pd.DataFrame({"item_id": [1]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(CodesError, match="no column 'sid'"):
        load_codes(tmp_path / "bad.parquet")


def test_trained_tiger_beats_most_popular_on_chains():
    torch.manual_seed(0)
    split, feats = chain_dataset(num_users=300, num_items=60, seq_len=8, seed=1)
    codes = residual_kmeans_codes(split.item_ids, feats, levels=2, codebook_size=8)
    vocab = SIDVocab(codes.codebook_sizes, 50)
    tok = vocab.item_tokens(codes.aligned(split.item_ids))
    ds = WindowDataset(*sliding_windows(split.train))
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, collate_fn=TigerCollator(vocab, tok, ds))
    cfg = TigerModelConfig(
        num_layers=1, num_decoder_layers=1, d_model=32, num_heads=2, d_kv=16, d_ff=64, dropout=0.0, num_user_tokens=50
    )
    model = build_tiger(cfg, vocab)
    hist = fit_plain(model, loader, epochs=12, lr=3e-3, warmup_steps=10)
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    tiger = evaluate_ranker(GenerativeRanker(model, vocab, tok, num_beams=10), split.test).metrics
    pop = evaluate_ranker(ScoreRanker(MostPopular(len(split.item_ids)).fit(split.train).scores), split.test).metrics
    assert tiger["recall@10"] > pop["recall@10"] + 0.2, (tiger, pop)
    assert tiger["ndcg@10"] > pop["ndcg@10"]


@settings(max_examples=25, deadline=None)
@given(lens=st.lists(st.integers(0, 20), min_size=1, max_size=300), bs=st.integers(1, 40), pool=st.integers(1, 5))
def test_length_buckets_cover_every_window_once(lens, bs, pool):
    from rec_core.generative.data import LengthBuckets

    ds = WindowDataset([0] * len(lens), [[1] * n for n in lens], np.zeros(len(lens), dtype=np.int64))
    b = LengthBuckets(ds, bs, seed=0, pool=pool)
    flat = [i for batch in b.batches for i in batch]
    assert sorted(flat) == list(range(len(lens)))
    assert all(1 <= len(batch) <= bs for batch in b.batches)


def test_released_codes_get_a_collision_level_only_when_items_share_an_id():
    unique = np.array([[0, 1], [0, 2], [1, 1]])
    codes, shared = released_codes(np.array([10, 11, 12]), unique)
    assert shared == 0 and codes.levels == 2 and codes.codebook_sizes == (2, 3)
    clashing = np.array([[0, 1], [0, 1], [1, 1], [0, 1]])
    codes, shared = released_codes(np.array([10, 11, 12, 13]), clashing)
    assert shared == 2 and codes.levels == 3
    assert len(np.unique(codes.sids, axis=0)) == 4 and codes.codebook_sizes == (2, 2, 3)
