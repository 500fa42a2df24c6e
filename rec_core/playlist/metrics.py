"""Metrics of a generated list G against a true list T of several items (relevance = membership in T).

    Recall@K = |G[:K] ∩ T| / |T|
    NDCG@K   = DCG@K / IDCG@K,  DCG@K = sum over i < K with G[i] in T of 1 / log2(i + 2),
               IDCG@K = sum over i < min(K, |T|) of 1 / log2(i + 2)   (all of T ranked first).
The order inside T is not used (a playlist's order is not a relevance grade). A repeated item in G counts
once, at its first position. Both are 0 for an empty T's pair, which the corpus never produces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def _first_hits(pred: Sequence[int], truth: set, k: int) -> list[int]:
    seen, hits = set(), []
    for i, item in enumerate(pred[:k]):
        if item in truth and item not in seen:
            hits.append(i)
        seen.add(item)
    return hits


def list_recall_at_k(pred: Sequence[int], true: Sequence[int], k: int) -> float:
    truth = set(true)
    return len(_first_hits(pred, truth, k)) / len(truth) if truth else 0.0


def list_ndcg_at_k(pred: Sequence[int], true: Sequence[int], k: int) -> float:
    truth = set(true)
    if not truth:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i in _first_hits(pred, truth, k))
    idcg = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(truth))))
    return dcg / idcg


def list_metrics(
    preds: Sequence[Sequence[int]], trues: Sequence[Sequence[int]], ks: Sequence[int] = (5, 10)
) -> dict[str, float]:
    out = {}
    for k in ks:
        out[f"recall@{k}"] = (
            float(np.mean([list_recall_at_k(p, t, k) for p, t in zip(preds, trues)])) if len(trues) else 0.0
        )
        out[f"ndcg@{k}"] = (
            float(np.mean([list_ndcg_at_k(p, t, k) for p, t in zip(preds, trues)])) if len(trues) else 0.0
        )
    return out


def metrics_by_source(
    preds_by_text: Mapping[str, Sequence[int]], pairs, ks: Sequence[int] = (5, 10)
) -> dict[str, dict]:
    """`list_metrics` over held-out pairs (a frame with text, items, source), for all pairs ("all") and per source
    (tag, session); each pair is scored with the list generated for its text."""
    out = {}
    for name, part in [("all", pairs)] + [(s, pairs[pairs["source"] == s]) for s in sorted(pairs["source"].unique())]:
        if len(part):
            out[name] = list_metrics([preds_by_text[t] for t in part["text"]], [list(i) for i in part["items"]], ks)
    return out
