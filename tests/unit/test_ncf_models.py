"""NCF models: shapes, pre-trained NeuMF init, and that every variant learns a clustered pattern."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.ncf import (
    LMConfig,
    NCFModelConfig,
    build_model,
    evaluate,
    neumf_from_pretrained,
    prepare,
    synthetic_split,
)
from rec_core.ncf.models import NCF
from rec_core.ncf.train import train_local


@pytest.fixture(autouse=True)
def _one_thread():
    # 2 shared cores: torch's default thread pool only adds contention at these sizes.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    split, items = synthetic_split(num_users=200, num_items=160, clusters=4, per_user=12, seed=0)
    return prepare(split, items, ["title", "genres"], seed=0)


@settings(max_examples=15, deadline=None)
@given(
    kind=st.sampled_from(["gmf", "mlp", "neumf"]),
    batch=st.integers(1, 33),
    factors=st.integers(1, 12),
    layers=st.lists(st.integers(1, 8), min_size=0, max_size=3),
    half=st.integers(1, 10),
)
def test_forward_shapes(kind, batch, factors, layers, half):
    cfg = NCFModelConfig(factors=factors, layers=[2 * half, *layers])
    m = NCF(7, 11, cfg, kind=kind)
    u, i = torch.randint(0, 7, (batch,)), torch.randint(0, 11, (batch,))
    logits, aux = m(u, i)
    assert logits.shape == (batch,) and aux is None
    cand = torch.randint(0, 11, (batch, 5))
    assert m.score_candidates(u, cand).shape == (batch, 5)
    # score_candidates is the same function as forward, just batched over candidates
    assert torch.allclose(m.score_candidates(u, cand)[:, 0], m(u, cand[:, 0])[0], atol=1e-6)


def test_config_rejects_odd_first_layer():
    with pytest.raises(ValueError, match="layers"):
        NCFModelConfig(layers=[33, 16])


def test_pretrained_neumf_is_alpha_mix_of_gmf_and_mlp():
    cfg = NCFModelConfig(factors=4, layers=[16, 8, 4])
    torch.manual_seed(0)
    gmf, mlp = NCF(9, 13, cfg, "gmf"), NCF(9, 13, cfg, "mlp")
    for p in list(gmf.parameters()) + list(mlp.parameters()):
        torch.nn.init.normal_(p)  # non-trivial weights everywhere
    neumf = neumf_from_pretrained(gmf, mlp, cfg, alpha=0.3)
    u, i = torch.randint(0, 9, (20,)), torch.randint(0, 13, (20,))
    expected = 0.3 * gmf(u, i)[0] + 0.7 * mlp(u, i)[0]
    assert torch.allclose(neumf(u, i)[0], expected, atol=1e-5)
    with pytest.raises(ValueError):
        neumf_from_pretrained(mlp, gmf, cfg)


@pytest.mark.parametrize("kind", ["gmf", "mlp", "neumf", "llm_concat", "llm_xattn"])
def test_every_variant_beats_random_on_clustered_data(kind, data):
    cfg = NCFModelConfig(factors=8, layers=[32, 16, 8], meta_dim=16)
    lm = LMConfig(name="tiny-from-config", cache_dtype="float32", max_length=12)
    torch.manual_seed(0)
    m = build_model(kind, data.num_users, data.num_items, cfg, lm, data.item_texts)
    before = evaluate(m, data.test)
    hist = train_local(m, data, epochs=5, lr=0.02, batch_size=512, seed=0)
    after = evaluate(m, data.test, data.user_items())
    assert hist[-1]["loss"] < hist[0]["loss"]
    # random ranker: HR@10 = 10/100 = 0.1 (200 users: one standard error is ~0.02)
    assert after["hr@10"] > 0.25, (kind, before, after)
    assert after["ndcg@10"] > before["ndcg@10"]
    # full ranking over 160 items minus ~11 trained ones: random Recall@10 is ~0.07
    assert after["full_recall@10"] > 0.15


def test_train_local_stops_after_patience_evaluations_without_gain(data):
    m = build_model("gmf", data.num_users, data.num_items, NCFModelConfig(factors=4), LMConfig(), data.item_texts)
    # lr 0: the model never changes, so validation never improves on the first evaluation
    hist = train_local(m, data, epochs=10, lr=0.0, batch_size=512, eval_every=1, patience=2)
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    assert len(train_local(m, data, epochs=4, lr=0.0, batch_size=512, eval_every=1)) == 4


def test_evaluate_ranks_by_the_scores_that_beat_the_target():
    from rec_core.ncf.data import EvalSet
    from rec_core.ncf.evaluate import sampled_ranks

    cfg = NCFModelConfig(factors=2, layers=[4, 2])
    m = NCF(2, 5, cfg, "gmf")
    with torch.no_grad():
        m.user_emb.weight[:] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        m.item_tower.emb.weight[:] = torch.tensor([[5.0, 0], [4.0, 0], [3.0, 0], [0, 9.0], [0, 1.0]])
        m.head.predict.weight[:] = 1.0
    ev = EvalSet(np.array([0, 1]), np.array([1, 4]), np.array([[0, 2, 3], [0, 3, 2]]))
    assert sampled_ranks(m, ev).tolist() == [1, 1]  # user 0: item 0 beats item 1; user 1: item 3 beats item 4


def test_a_collapsed_model_scores_at_chance_on_the_sampled_protocol():
    """Dead towers give every candidate the same score: HR@10 of 1 positive + 99 negatives must be ~0.1, not 1."""
    from rec_core.ncf.data import EvalSet
    from rec_core.ncf.evaluate import evaluate

    m = NCF(50, 200, NCFModelConfig(factors=2, layers=[4, 2]), "gmf")
    with torch.no_grad():
        m.user_emb.weight.zero_()
        m.item_tower.emb.weight.zero_()
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(50), 40)
    ev = EvalSet(users, rng.integers(0, 200, len(users)), rng.integers(0, 200, (len(users), 99)))
    out = evaluate(m, ev)
    assert out["targets_with_ties"] == 1.0
    assert abs(out["hr@10"] - 0.10) < 0.02 and out["ndcg@10"] < 0.1


def test_item_pop_ranks_by_training_counts_and_a_flat_catalogue_is_at_chance():
    from rec_core.ncf.data import EvalSet
    from rec_core.ncf.evaluate import popularity_evaluate

    # item 3 is the most trained; users whose held-out item is 3 rank it first, the others rank it below item 3
    train_items = np.array([3] * 10 + [1] * 5 + [0, 2, 4])
    ev = EvalSet(np.array([0, 1]), np.array([3, 0]), np.array([[0, 1, 2], [3, 1, 2]]))
    out = popularity_evaluate(train_items, 5, ev, ks=(1,))
    assert out["hr@1"] == 0.5
    # every item trained equally often: ItemPop is a constant scorer and must score at chance (ties broken at random)
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(50), 40)
    ev = EvalSet(users, rng.integers(0, 200, len(users)), rng.integers(0, 200, (len(users), 99)))
    flat = popularity_evaluate(np.arange(200), 200, ev, exclude=[np.array([], np.int64)] * 50)
    assert abs(flat["hr@10"] - 0.10) < 0.02 and abs(flat["full_recall@10"] - 10 / 200) < 0.02
