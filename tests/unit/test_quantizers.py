"""Semantic IDs: quantizers, collision handling and quality metrics (rec_core only, no Ray)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rec_core.semantic_ids.codes import add_collision_level
from rec_core.semantic_ids.collisions import colliding_rows, resolve_collisions, sinkhorn_log
from rec_core.semantic_ids.quality import code_stats, collision_floor, reconstruction_stats
from rec_core.semantic_ids.rqkmeans import ResidualKMeans
from rec_core.semantic_ids.rqvae import RQVAE, RQVAEConfig, shard_batches


def _codes(max_rows=60, levels=(1, 4), k=4):
    return st.integers(*levels).flatmap(
        lambda L: arrays(np.int64, st.tuples(st.integers(1, max_rows), st.just(L)), elements=st.integers(0, k - 1))
    )


@given(_codes())
def test_tiger_token_makes_ids_unique_and_keeps_prefix(codes):
    out = add_collision_level(codes)
    assert out.shape == (len(codes), codes.shape[1] + 1)
    assert (out[:, :-1] == codes).all()
    assert len(np.unique(out, axis=0)) == len(codes)
    _, inv, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    assert (out[:, -1] < counts[inv.reshape(-1)]).all()  # 0..group size-1
    assert (out[counts[inv.reshape(-1)] == 1, -1] == 0).all()  # unique items get 0


def test_code_stats_known_example():
    codes = np.array([[0, 1], [0, 1], [0, 1], [1, 2], [2, 3]])
    s = code_stats(codes, [4, 4])
    assert s["distinct_sids"] == 3 and s["max_items_per_sid"] == 3
    assert s["collision_rate"] == pytest.approx(1 - 3 / 5)
    assert s["colliding_items"] == pytest.approx(3 / 5)
    assert s["usage_l1"] == pytest.approx(3 / 4)
    p = np.array([3, 1, 1]) / 5
    assert s["perplexity_l1"] == pytest.approx(np.exp(-(p * np.log(p)).sum()))


@given(_codes(k=6))
def test_code_stats_bounds(codes):
    s = code_stats(codes, [6] * codes.shape[1])
    assert 0 <= s["collision_rate"] < 1 and 0 <= s["colliding_items"] <= 1
    for lv in range(codes.shape[1]):
        assert 0 < s[f"usage_l{lv + 1}"] <= 1
        assert 1 - 1e-9 <= s[f"perplexity_l{lv + 1}"] <= 6 + 1e-9
    unique = add_collision_level(codes)
    assert code_stats(unique)["collision_rate"] == 0


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 40), st.integers(2, 12), st.integers(0, 10_000))
def test_sinkhorn_marginals_are_uniform(n, k, seed):
    cost = np.random.default_rng(seed).uniform(-1, 1, (n, k))
    q = np.exp(sinkhorn_log(cost, epsilon=0.5, iters=200))
    np.testing.assert_allclose(q.sum(0), 1 / k, rtol=1e-3)
    np.testing.assert_allclose(q.sum(1), 1 / n, rtol=0.05)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 3), st.integers(3, 8), st.integers(5, 80), st.integers(0, 10_000))
def test_sinkhorn_resolution_is_unique_and_keeps_prefixes(levels, k, n, seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2, (n, levels))  # few distinct tuples: heavy collisions
    inputs, book = rng.normal(size=(n, 4)), rng.normal(size=(k, 4))
    out, info = resolve_collisions(codes, "sinkhorn", last_inputs=inputs, last_codebook=book)
    assert len(np.unique(out, axis=0)) == n
    assert (out[:, : levels - 1] == codes[:, : levels - 1]).all()  # only the last level moves
    groups = np.unique(codes[:, :-1], axis=0, return_counts=True)[1]
    assert info["extra_token_fallback"] == bool(groups.max() > k)
    assert out.shape[1] == levels + int(info["extra_token_fallback"])
    if not info["extra_token_fallback"]:
        untouched = np.setdiff1d(np.arange(n), colliding_rows(codes))
        assert (out[untouched] == codes[untouched]).all() or info["sinkhorn_rounds"] > 0


def test_sinkhorn_moves_items_to_near_codes():
    # two items collide on code 0; the second lies right on code 2, so it must move there
    book = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    inputs = np.array([[0.1, 0.0], [0.0, 9.0], [10.0, 0.1]])
    codes = np.array([[0, 0], [0, 0], [0, 1]])
    out, info = resolve_collisions(codes, "sinkhorn", last_inputs=inputs, last_codebook=book)
    assert out.tolist() == [[0, 0], [0, 2], [0, 1]]
    assert not info["extra_token_fallback"]
    assert info["collision_rate_after_sinkhorn"] == 0.0  # the Sinkhorn round alone separated them


def test_rate_after_sinkhorn_rounds_counts_what_the_exact_step_still_had_to_fix():
    # 4 items on one prefix and two last codes: Sinkhorn can use at most 2 codes, so 2 tuples still repeat
    codes = np.zeros((4, 2), dtype=np.int64)
    inputs, book = np.eye(4, 2), np.eye(2)
    out, info = resolve_collisions(codes, "sinkhorn", last_inputs=inputs, last_codebook=book)
    assert info["collision_rate_after_sinkhorn"] == pytest.approx(0.5)
    assert info["extra_token_fallback"] and len(np.unique(out, axis=0)) == 4


def test_unknown_collision_method():
    with pytest.raises(ValueError, match="unknown collision method"):
        resolve_collisions(np.zeros((2, 2)), "magic")


def _clusters(n=2000, d=16, centers=32, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d))
    return (c[rng.integers(0, centers, n)] + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


def test_residual_kmeans_levels_reduce_error():
    x = _clusters()
    rq = ResidualKMeans(levels=3, codebook_size=16, niter=20).fit(x)
    codes, inputs = rq.encode_with_residuals(x)
    assert codes.shape == (len(x), 3) and codes.max() < 16
    partial = [sum(rq.centroids[i][codes[:, i]] for i in range(lv + 1)) for lv in range(3)]
    mse = [((x - p) ** 2).mean() for p in partial]
    assert mse[0] > mse[1] > mse[2]
    assert reconstruction_stats(x, rq.decode(codes))["recon_cosine"] > 0.95
    np.testing.assert_allclose(inputs[1], x - rq.centroids[0][codes[:, 0]], atol=1e-5)
    assert ((x - rq.decode(codes)) ** 2).mean() == pytest.approx(mse[2], rel=1e-4)


def test_reconstruction_stats_identity():
    x = _clusters(50)
    s = reconstruction_stats(x, x)
    assert s["recon_cosine"] == pytest.approx(1.0) and s["recon_mse"] == pytest.approx(0.0)


@settings(max_examples=6, deadline=None)
@given(st.integers(4, 40), st.lists(st.integers(4, 32), min_size=0, max_size=2), st.integers(1, 3), st.integers(2, 8))
def test_rqvae_shapes(in_dim, hidden, levels, k):
    m = RQVAE(in_dim, RQVAEConfig(hidden_dims=hidden, latent_dim=4, levels=levels, codebook_size=k, kmeans_init=False))
    x = torch.randn(10, in_dim)
    out = m(x)
    assert out.recon.shape == x.shape and out.codes.shape == (10, levels)
    assert torch.isfinite(out.loss) and out.codes.max() < k
    m.eval()
    codes = m.encode(x)
    assert m.decode(codes).shape == x.shape


def test_rqvae_learns_without_codebook_collapse():
    torch.manual_seed(0)
    x = torch.as_tensor(_clusters(n=2048, d=32, centers=64))
    m = RQVAE(32, RQVAEConfig(hidden_dims=[64], latent_dim=8, levels=2, codebook_size=32, ema_decay=0.8))
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3)
    losses = []
    for _step in range(120):
        idx = torch.randint(0, len(x), (256,))
        out = m(x[idx])
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.recon_loss.item())
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    m.eval()
    codes = m.encode(x).numpy()
    s = code_stats(codes, [32, 32])
    assert s["usage_l1"] > 0.6 and s["usage_l2"] > 0.6  # collapse would leave a handful of codes
    assert s["perplexity_l1"] > 10
    recon = m.decode(torch.as_tensor(codes)).detach().numpy()
    collapsed = np.broadcast_to(x.numpy().mean(0), x.shape)  # what one code per level would give at best
    assert reconstruction_stats(x.numpy(), recon)["recon_cosine"] > 0.6
    assert reconstruction_stats(x.numpy(), collapsed)["recon_cosine"] < 0.3


def test_summed_reconstruction_loss_is_the_mean_times_the_input_width():
    torch.manual_seed(0)
    x = torch.randn(16, 12)
    mean = RQVAE(12, RQVAEConfig(hidden_dims=[8], latent_dim=4, levels=1, codebook_size=4, kmeans_init=False))
    summed = RQVAE(12, mean.cfg.model_copy(update={"recon_loss": "sum"}))
    summed.load_state_dict(mean.state_dict())
    mean.eval(), summed.eval()  # eval: no EMA update between the two calls
    assert summed(x).recon_loss.item() == pytest.approx(12 * mean(x).recon_loss.item(), rel=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 300), st.integers(1, 64), st.integers(1, 4), st.integers(0, 3))
def test_shard_batches_deal_disjoint_equal_shards(n, batch_size, world, epoch):
    if n < world:
        with pytest.raises(ValueError, match="cannot feed"):
            shard_batches(n, batch_size, 0, world, seed=7, epoch=epoch)
        return
    per_rank = [shard_batches(n, batch_size, r, world, seed=7, epoch=epoch) for r in range(world)]
    steps = {len(b) for b in per_rank}
    assert len(steps) == 1  # every rank takes the same number of steps, or DDP would hang
    rows = [torch.cat(b).tolist() for b in per_rank]
    flat = [i for r in rows for i in r]
    assert len(flat) == len(set(flat)) and all(0 <= i < n for i in flat)
    sizes = {len(x) for b in per_rank for x in b}
    assert sizes == {n // world} if n // world <= batch_size else sizes == {batch_size}
    # the same permutation on every call, a new one the next epoch
    assert rows[0] == torch.cat(shard_batches(n, batch_size, 0, world, seed=7, epoch=epoch)).tolist()


def test_shard_batches_reshuffle_each_epoch():
    a = torch.cat(shard_batches(1000, 100, 0, 1, seed=0, epoch=0))
    b = torch.cat(shard_batches(1000, 100, 0, 1, seed=0, epoch=1))
    assert sorted(a.tolist()) == sorted(b.tolist()) == list(range(1000)) and not torch.equal(a, b)


def test_collision_floor_counts_identical_inputs():
    x = np.eye(6, dtype=np.float32)
    assert collision_floor(x) == 0.0
    dup = np.concatenate([x, x[:3]])  # 3 of 9 rows repeat another: no quantizer can give them their own codes
    assert collision_floor(dup) == pytest.approx(3 / 9)
    codes = np.arange(9)[:, None] % 6  # any function of the input
    assert code_stats(codes)["collision_rate"] >= collision_floor(dup) - 1e-12
