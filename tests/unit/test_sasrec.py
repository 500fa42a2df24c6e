import numpy as np
import pytest
import torch

from rec_core.baselines import MostPopular, SASRec, SASRecConfig
from rec_core.baselines.sasrec import SASRecSequences, left_pad
from rec_core.evaluation import ScoreRanker, evaluate_ranker
from rec_core.generative.synthetic import chain_dataset
from rec_core.generative.train import fit_plain


def test_left_pad_and_samples():
    assert left_pad([np.array([1, 2]), np.array([3, 4, 5, 6])], 3).tolist() == [[0, 1, 2], [4, 5, 6]]
    ds = SASRecSequences({0: [0, 1, 2], 1: [4]}, num_items=6, max_len=5)
    assert len(ds) == 1  # a one-item user has no next-item target
    seq, pos, neg = ds[0]
    assert seq.tolist() == [1, 2] and pos.tolist() == [2, 3]
    assert all(int(n) - 1 not in (0, 1, 2) for n in neg)


def test_causal_no_peeking():
    torch.manual_seed(0)
    m = SASRec(10, SASRecConfig(d_model=16, num_heads=2, num_layers=1, dropout=0.0, max_len=5)).eval()
    a = torch.tensor([[1, 2, 3, 4, 5]])
    b = torch.tensor([[1, 2, 3, 9, 9]])
    assert torch.allclose(m(a)[0, :3], m(b)[0, :3], atol=1e-5)


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_sasrec_learns_chains(loss):
    torch.manual_seed(0)
    split, _ = chain_dataset(num_users=300, num_items=60, seq_len=8, seed=2)
    n = len(split.item_ids)
    cfg = SASRecConfig(d_model=32, num_heads=2, num_layers=1, dropout=0.1, loss=loss)
    model = SASRec(n, cfg)
    ds = SASRecSequences(split.train, n, cfg.max_len)
    loader = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, collate_fn=ds.collate)
    hist = fit_plain(model, loader, epochs=30, lr=5e-3, warmup_steps=5, loss_fn=lambda m, b: m.loss(b))
    assert hist[-1]["loss"] < hist[0]["loss"]
    res = evaluate_ranker(ScoreRanker(lambda u, h: model.score(h)), split.test).metrics
    pop = evaluate_ranker(ScoreRanker(MostPopular(n).fit(split.train).scores), split.test).metrics
    assert res["recall@10"] > pop["recall@10"] + 0.2, (res, pop)
