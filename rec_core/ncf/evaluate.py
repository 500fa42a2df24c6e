"""NCF protocol (1 held-out positive ranked among sampled negatives: HR@K, NDCG@K) and full ranking
(the positive among every item the user has not trained on: Recall@K, NDCG@K), via rec_core.metrics."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rec_core.metrics import ndcg_at_k, ranks_from_scores, recall_at_k, tie_broken_ranks
from rec_core.ncf.data import EvalSet
from rec_core.ncf.models import NCF


def _device(model: NCF) -> torch.device:
    return model.user_emb.weight.device


@torch.no_grad()
def sampled_ranks(
    model: NCF, ev: EvalSet, item_vectors: torch.Tensor | None = None, batch: int = 512, tie_counts: list | None = None
) -> np.ndarray:
    """Rank of the positive among [positive + negatives]: the negatives scored strictly higher, and a random place
    among the ones tied with it (rec_core.metrics.tie_broken_ranks); each row's tie count goes to `tie_counts`."""
    was = model.training
    model.eval()
    dev = _device(model)
    iv = item_vectors if item_vectors is not None else model.all_item_vectors()
    ranks = []
    for s in range(0, len(ev), batch):
        users = torch.tensor(ev.users[s : s + batch], device=dev)
        cand = torch.as_tensor(
            np.concatenate([ev.positives[s : s + batch, None], ev.negatives[s : s + batch]], axis=1), device=dev
        )
        scores = model.score_candidates(users, cand, iv)
        higher = (scores[:, 1:] > scores[:, :1]).sum(1).cpu().numpy()
        ties = (scores[:, 1:] == scores[:, :1]).sum(1).cpu().numpy()
        if tie_counts is not None:
            tie_counts.extend(ties.tolist())
        ranks.append(tie_broken_ranks(higher, ties, seed=s))
    model.train(was)
    return np.concatenate(ranks) if ranks else np.zeros(0, np.int64)


@torch.no_grad()
def full_ranks(
    model: NCF,
    ev: EvalSet,
    exclude: Sequence[np.ndarray],
    item_vectors: torch.Tensor | None = None,
    batch: int = 64,
    tie_counts: list | None = None,
) -> np.ndarray:
    """Rank of the positive among all items, the user's `exclude[user]` items masked out."""
    was = model.training
    model.eval()
    dev = _device(model)
    iv = item_vectors if item_vectors is not None else model.all_item_vectors()
    all_items = torch.arange(model.num_items, device=dev)
    ranks = []
    for s in range(0, len(ev), batch):
        users = torch.tensor(ev.users[s : s + batch], device=dev)
        scores = model.score_candidates(users, all_items.expand(len(users), -1), iv).float().cpu().numpy()
        ex = [np.setdiff1d(exclude[u], [p]) for u, p in zip(ev.users[s : s + batch], ev.positives[s : s + batch])]
        ranks.append(ranks_from_scores(scores, ev.positives[s : s + batch], ex, seed=s, tie_counts=tie_counts))
    model.train(was)
    return np.concatenate(ranks) if ranks else np.zeros(0, np.int64)


def evaluate(
    model: NCF, ev: EvalSet, exclude: Sequence[np.ndarray] | None = None, ks: Sequence[int] = (10,)
) -> dict[str, float]:
    """{'hr@10', 'ndcg@10'} (NCF protocol) and, with `exclude`, {'full_recall@10', 'full_ndcg@10'}; with each, the
    share of targets that tied with at least one candidate (`targets_with_ties`, `full_targets_with_ties`): ties are
    broken at random, and many of them mean the model cannot tell items apart."""
    iv = model.all_item_vectors()
    ties: list[int] = []
    r = sampled_ranks(model, ev, iv, tie_counts=ties)
    out = {"targets_with_ties": float(np.mean(np.asarray(ties) > 0)) if ties else 0.0}
    for k in ks:
        out[f"hr@{k}"] = recall_at_k(r, k)
        out[f"ndcg@{k}"] = ndcg_at_k(r, k)
    if exclude is not None:
        full_ties: list[int] = []
        f = full_ranks(model, ev, exclude, iv, tie_counts=full_ties)
        out["full_targets_with_ties"] = float(np.mean(np.asarray(full_ties) > 0)) if full_ties else 0.0
        for k in ks:
            out[f"full_recall@{k}"] = recall_at_k(f, k)
            out[f"full_ndcg@{k}"] = ndcg_at_k(f, k)
    return out


def popularity_evaluate(
    train_items: np.ndarray, num_items: int, ev: EvalSet, exclude: Sequence[np.ndarray] | None = None, ks=(10,)
) -> dict[str, float]:
    """ItemPop, the NCF paper's non-personalised baseline, on exactly the candidates and tie-breaking the models get:
    every candidate is scored by its number of training interactions."""
    counts = np.bincount(np.asarray(train_items, dtype=np.int64), minlength=num_items).astype(np.float64)
    cand = np.concatenate([ev.positives[:, None], ev.negatives], axis=1)
    scores = counts[cand]
    higher = (scores[:, 1:] > scores[:, :1]).sum(1)
    ties = (scores[:, 1:] == scores[:, :1]).sum(1)
    r = tie_broken_ranks(higher, ties, seed=0)
    out = {}
    for k in ks:
        out[f"hr@{k}"] = recall_at_k(r, k)
        out[f"ndcg@{k}"] = ndcg_at_k(r, k)
    if exclude is not None:
        parts = []
        for s in range(0, len(ev), 512):  # bounded memory on large catalogues
            users, pos = ev.users[s : s + 512], ev.positives[s : s + 512]
            ex = [np.setdiff1d(exclude[u], [p]) for u, p in zip(users, pos)]
            parts.append(ranks_from_scores(np.tile(counts, (len(users), 1)), pos, ex, seed=s))
        f = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        for k in ks:
            out[f"full_recall@{k}"] = recall_at_k(f, k)
            out[f"full_ndcg@{k}"] = ndcg_at_k(f, k)
    return out
