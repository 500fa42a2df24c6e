"""Length-grouped training batches: every example once, far less padding than random batches."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 200), min_size=1, max_size=300),
    batch_size=st.integers(1, 16),
    seed=st.integers(0, 5),
    max_tokens=st.none() | st.integers(1, 600),
)
def test_grouped_batches_cover_every_example_once_and_grow_only_within_the_budget(
    lengths, batch_size, seed, max_tokens
):
    from rec_core.lcrec.train import length_grouped_batches

    lengths = np.asarray(lengths)
    batches = length_grouped_batches(lengths, batch_size, seed=seed, window=4, max_tokens=max_tokens)
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    for b in batches:
        assert len(b) >= 1
        # never more than batch_size, unless a token budget is set and the whole batch fits it
        assert len(b) <= batch_size or (max_tokens is not None and len(b) * lengths[b].max() <= max_tokens)


def test_length_grouped_batches_pad_less_than_random_batches():
    """A 30/100-token mix like LC-Rec's item prompts and histories: grouping removes most of the padding."""
    from rec_core.lcrec.train import length_grouped_batches, padded_share

    rng = np.random.default_rng(0)
    lengths = np.where(rng.random(4000) < 0.5, rng.integers(25, 35, 4000), rng.integers(80, 120, 4000))
    shuffled = rng.permutation(len(lengths))
    plain = [shuffled[s : s + 8] for s in range(0, len(lengths), 8)]
    grouped = length_grouped_batches(lengths, 8, seed=0)
    assert padded_share(lengths, plain) > 0.3
    assert padded_share(lengths, grouped) < 0.05


def test_token_budget_packs_short_prompts_into_bigger_batches():
    from rec_core.lcrec.train import length_grouped_batches

    lengths = np.array([30] * 64 + [120] * 64)
    batches = length_grouped_batches(lengths, 8, seed=0, window=16, max_tokens=960)
    sizes = sorted({len(b) for b in batches})
    assert sizes == [8, 32]  # 32 x 30 and 8 x 120 tokens: the same 960 per step


def test_last_column_loss_equals_the_models_full_logits_loss():
    """lcrec_loss runs the output head on the target columns only; the left-padded batch with its position ids
    gives the loss transformers computes from every column of the same rows padded on the right."""
    import torch

    from rec_core.lcrec.prompts import TaskRatios, encode_example, training_examples
    from rec_core.lcrec.train import Collate, lcrec_loss
    from tests.unit.lcrec_fixtures import build, item_text

    model, tok, _, _ = build()
    torch.manual_seed(0)
    with torch.no_grad():  # a random init big enough that positions and padding matter
        for p in model.parameters():
            p.normal_(0, 0.3)
    model.eval()
    ratios = TaskRatios(seqrec=0, item2index=1, index2item=1, fusion=0, enrich=1)
    pairs = [encode_example(tok, p, t, 64) for _, p, t in training_examples({}, item_text(), ratios)][:9]
    assert len({len(x) for x, _ in pairs}) > 1  # rows of different lengths: real padding
    left = Collate(tok.pad_token_id)(pairs)
    ours = lcrec_loss(model, left)
    # reference: each row alone (no padding at all), the model's own loss, weighted by its target tokens
    total, count = 0.0, 0
    for x, y in pairs:
        n = sum(1 for t in y[1:] if t != -100)
        out = model(input_ids=torch.tensor([x]), labels=torch.tensor([y]))
        total, count = total + float(out.loss) * n, count + n
    assert float(ours) == pytest.approx(total / count, rel=1e-4)
