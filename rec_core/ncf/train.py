"""Pointwise NCF training pieces shared by the Ray Train loop (jobs/ncf.py) and single-process use.

Loss = BCE over (positive, label 1) and sampled (negative, label 0) pairs, plus the model's auxiliary
loss (the cross-attention model's weighted InfoNCE) when it returns one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from rec_core.ncf.data import NCFData, PointwiseSampler
from rec_core.ncf.evaluate import evaluate
from rec_core.ncf.models import NCF


def loss_fn(model, users: torch.Tensor, items: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
    logits, aux = model(users, items)
    bce = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    if aux is None:
        return bce, {"bce": bce.detach()}
    return bce + aux, {"bce": bce.detach(), "contrastive": aux.detach()}


def sampler_for(data: NCFData, num_negatives: int, seed: int) -> PointwiseSampler:
    # Validation positives are not training data, but they are not negatives either.
    extra = data.valid.users.astype("int64") * data.num_items + data.valid.positives
    return PointwiseSampler(data.train_users, data.train_items, data.num_items, num_negatives, seed, extra_seen=extra)


def epoch_loader(sampler: PointwiseSampler, epoch: int, batch_size: int, seed: int) -> DataLoader:
    u, i, y = sampler.epoch(epoch)
    ds = TensorDataset(torch.from_numpy(u), torch.from_numpy(i), torch.from_numpy(y))
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return DataLoader(ds, batch_size=batch_size, shuffle=True, generator=g)


def train_local(
    model: NCF,
    data: NCFData,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 256,
    num_negatives: int = 4,
    seed: int = 0,
    weight_decay: float = 0.0,
    eval_every: int = 0,
    full_ranking: bool = False,
    patience: int = 0,
) -> list[dict]:
    """Plain single-process training (tests, notebooks, benchmarks): the Ray job's loss, sampler and
    evaluation without the Ray Train wrapper. Returns one dict per epoch (loss, epoch_s, and every
    `eval_every` epochs valid/* and test/* metrics). `patience` > 0 (needs `eval_every`): stop once
    validation NDCG@10 has not improved for that many evaluations in a row."""
    import time

    torch.manual_seed(seed)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    sampler = sampler_for(data, num_negatives, seed)
    exclude = data.user_items() if full_ranking else None
    history = []
    best, since_best = float("-inf"), 0
    for epoch in range(epochs):
        model.train()
        total, n, t0 = 0.0, 0, time.perf_counter()
        for u, i, y in epoch_loader(sampler, epoch, batch_size, seed):
            loss, _ = loss_fn(model, u, i, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, n = total + loss.item() * len(u), n + len(u)
        row = {"epoch": epoch, "loss": total / max(n, 1), "epoch_s": time.perf_counter() - t0}
        if eval_every and (epoch + 1) % eval_every == 0:
            row.update({f"valid/{k}": v for k, v in evaluate(model, data.valid, exclude).items()})
            row.update({f"test/{k}": v for k, v in evaluate(model, data.test, exclude).items()})
            best, since_best = (row["valid/ndcg@10"], 0) if row["valid/ndcg@10"] > best else (best, since_best + 1)
        history.append(row)
        if patience and since_best >= patience:
            break
    return history
