"""Ranking metrics shared by every model, so every row of a table is computed by the same code.

All functions take the rank (0-based) of the single held-out target among the candidates, or -1 / a
value >= k when it was not retrieved. With one relevant item, Recall@K = HR@K and IDCG = 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    ranks = np.asarray(ranks)
    return float(np.mean((ranks >= 0) & (ranks < k))) if ranks.size else 0.0


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return 0.0
    hit = (ranks >= 0) & (ranks < k)
    gains = np.zeros_like(ranks)
    gains[hit] = 1.0 / np.log2(ranks[hit] + 2.0)
    return float(gains.mean())


hit_rate_at_k = recall_at_k


def rank_of_target(ranked_items: Sequence, target) -> int:
    """Position of target in a ranked list, -1 when absent."""
    for i, item in enumerate(ranked_items):
        if item == target:
            return i
    return -1


def ranks_from_lists(ranked_lists: Iterable[Sequence], targets: Iterable) -> np.ndarray:
    return np.array([rank_of_target(r, t) for r, t in zip(ranked_lists, targets)], dtype=np.int64)


def tie_broken_ranks(higher: np.ndarray, ties: np.ndarray, seed: int = 0) -> np.ndarray:
    """0-based rank of each target given how many candidates score strictly higher and how many tie with it: the
    target takes a uniformly random place among its ties (seeded, so a run is reproducible). A model with constant
    scores therefore ranks at chance; counting only the strictly-higher ones would make it look perfect."""
    higher, ties = np.asarray(higher, dtype=np.int64), np.asarray(ties, dtype=np.int64)
    return higher + np.random.default_rng(seed).integers(0, ties + 1)


def ranks_from_scores(
    scores: np.ndarray,
    targets: np.ndarray,
    exclude: list[Sequence[int]] | None = None,
    seed: int = 0,
    tie_counts: list | None = None,
) -> np.ndarray:
    """Full-ranking rank of each row's target among all items, ties broken at random (`tie_broken_ranks`).

    `exclude[i]` lists items masked out for row i (e.g. the user's history), never the target. When `tie_counts`
    is a list, each row's number of items tied with its target is appended to it."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    rows = np.arange(scores.shape[0])
    if exclude is not None:
        for i, ex in enumerate(exclude):
            if len(ex):
                scores[i, np.asarray(ex, dtype=np.int64)] = -np.inf
    target_scores = scores[rows, targets].copy()
    scores[rows, targets] = np.nan  # the target is not its own competitor (NaN compares false)
    higher = (scores > target_scores[:, None]).sum(axis=1)
    ties = (scores == target_scores[:, None]).sum(axis=1)
    if tie_counts is not None:
        tie_counts.extend(ties.tolist())
    return tie_broken_ranks(higher, ties, seed)


def ranking_report(ranks: np.ndarray, ks: Sequence[int] = (5, 10), prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for k in ks:
        out[f"{prefix}recall@{k}"] = recall_at_k(ranks, k)
        out[f"{prefix}ndcg@{k}"] = ndcg_at_k(ranks, k)
    return out
