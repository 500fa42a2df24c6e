"""Keyword-prior fusion (rec_core.playlist.fusion): the bonus paid along an item's token path sums to weight x share
for a candidate and to 0 for any other item (or one already listed), and a large weight makes beam search return
the candidates."""

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.playlist.fusion import KeywordPriorFusion, bonus_table


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=30, unique=True),
    st.data(),
)
def test_payments_along_a_path_telescope_to_the_items_bonus(paths, data):
    tokens_of_item = {100 + k: tuple(t + 2 + 4 * lvl for lvl, t in enumerate(p)) for k, p in enumerate(paths)}
    items = sorted(tokens_of_item)
    shares = {i: data.draw(st.floats(0.01, 1.0)) for i in data.draw(st.lists(st.sampled_from(items), unique=True))}
    table = bonus_table(shares, tokens_of_item, weight=3.0, top=50)
    fusion = KeywordPriorFusion([table], depth=3)
    vocab = 2 + 4 * 3
    for item in items:  # generate two items in a row: the second item's payments start again from 0
        for first in (items[0], item):
            seq = [0]  # the decoder start token
            paid = 0.0
            for tok in tokens_of_item[first] + tokens_of_item[item]:
                bonus = fusion(torch.tensor([seq]), torch.zeros(1, vocab))[0]
                paid += float(bonus[tok])
                seq.append(tok)
            # an item already in the list is no candidate any more (the list constraint forbids repeats anyway)
            expected = 3.0 * (shares.get(first, 0.0) + (shares.get(item, 0.0) if item != first else 0.0))
            assert paid == pytest.approx(expected, abs=1e-5)


def test_only_the_top_items_by_share_get_a_bonus():
    tokens_of_item = {1: (2, 6), 2: (3, 7), 3: (4, 8)}
    table = bonus_table({1: 0.2, 2: 0.9, 3: 0.5}, tokens_of_item, weight=2.0, top=2)
    assert table == {(3, 7): pytest.approx(1.8), (4, 8): 1.0}


def test_a_large_weight_turns_an_untrained_models_beam_into_the_keyword_list():
    import numpy as np

    from rec_core.playlist.generator import load_tokenizer
    from rec_core.playlist.model import ModelConfig, PairCollator, build_constraint, build_model
    from rec_core.semantic_ids.codes import ItemTokens

    torch.manual_seed(0)
    sids = list(itertools.product(range(4), range(4)))
    vocab = ItemTokens.compact(list(range(10, 26)), np.array(sids))
    tok = load_tokenizer("minilm")
    model = build_model(
        ModelConfig(
            d_model=16, d_ff=32, num_layers=1, num_decoder_layers=1, num_heads=2, d_kv=8, text_embed_init="random"
        ),
        tok,
        vocab,
    ).eval()
    enc = PairCollator(tok, vocab, 8).encode_inputs(["one text", "another text"])
    wanted = [{13: 0.9, 21: 0.6, 17: 0.3}, {25: 0.8, 10: 0.5, 11: 0.4}]
    tables = [bonus_table(s, vocab.tokens_of_item, weight=100.0, top=50) for s in wanted]
    out = model.generate_lists(
        enc["input_ids"],
        enc["attention_mask"],
        build_constraint(vocab, 3),
        num_beams=4,
        logits_processor=[KeywordPriorFusion(tables, vocab.levels, rows_per_text=4)],
    )
    got = [vocab.decode_list(seq[1:])[0] for seq in out.tolist()]
    assert [sorted(g) for g in got] == [sorted(w) for w in wanted]
