"""The evaluation harness every model goes through: ranked item lists per user -> Recall/NDCG@K.

Protocol (TIGER / LC-Rec sequential): one held-out target per user (valid = second last item,
test = last), full ranking over all items, metrics from `rec_core.metrics`. A model is a `Ranker`:
given users and their histories (item indices, time order) it returns each user's top items, best
first. Generative models return beam outputs; score-based models (SASRec, MostPopular) go through
`ScoreRanker`, which takes the top of a full score vector. The same `evaluate_ranker` computes every
row of every table.

History masking policy: `exclude_history=False` by default for EVERY model (TIGER's protocol does not
mask: a generative model cannot score "all items except history"). With `exclude_history=True` the
harness asks each ranker for `k + max_history` items and drops the user's history items itself, again
identically for every model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from rec_core.metrics import ranking_report, ranks_from_lists


class Ranker(Protocol):
    def recommend(self, users: Sequence, histories: Sequence[Sequence[int]], k: int) -> list[list[int]]: ...


@dataclass
class EvalResult:
    metrics: dict[str, float]
    ranks: np.ndarray
    users: int
    seconds: float

    @property
    def users_per_s(self) -> float:
        return self.users / self.seconds if self.seconds > 0 else float("inf")


def evaluate_ranker(
    ranker: Ranker,
    frame: pd.DataFrame,
    ks: Sequence[int] = (5, 10),
    batch_size: int = 256,
    exclude_history: bool = False,
    max_history: int = 20,
    max_users: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> EvalResult:
    """`frame`: user_id, history (list of item indices), target (item index), e.g. `split.valid`.
    `max_users` evaluates a fixed random subset (for cheap per-epoch validation)."""
    for col in ("user_id", "history", "target"):
        if col not in frame.columns:
            raise ValueError(f"evaluation frame has no column {col!r} (columns: {list(frame.columns)})")
    if max_users is not None and len(frame) > max_users:
        frame = frame.sample(n=max_users, random_state=seed)
    k_req = max(ks) + (max_history if exclude_history else 0)
    users, hists, targets = frame["user_id"].tolist(), frame["history"].tolist(), frame["target"].to_numpy()
    lists: list[list[int]] = []
    it = range(0, len(users), batch_size)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="evaluate", unit="batch", disable=None)  # None: off when stderr is not a terminal
    t0 = time.perf_counter()
    for s in it:
        lists.extend(ranker.recommend(users[s : s + batch_size], hists[s : s + batch_size], k_req))
    seconds = time.perf_counter() - t0
    if exclude_history:
        lists = [_without(lst, set(h)) for lst, h in zip(lists, hists)]
    lists = [lst[: max(ks)] for lst in lists]
    ranks = ranks_from_lists(lists, targets)
    return EvalResult(ranking_report(ranks, ks), ranks, len(users), seconds)


def _without(items: list[int], drop: set) -> list[int]:
    return [i for i in items if i not in drop]


def evaluate_splits(ranker: Ranker, valid: pd.DataFrame, test: pd.DataFrame, **kw) -> dict[str, dict[str, float]]:
    return {"valid": evaluate_ranker(ranker, valid, **kw).metrics, "test": evaluate_ranker(ranker, test, **kw).metrics}


class ScoreRanker:
    """A score-based model -> Ranker. `score_fn(users, histories) -> (B, n_items)` higher is better."""

    def __init__(self, score_fn: Callable[[Sequence, Sequence[Sequence[int]]], np.ndarray]):
        self.score_fn = score_fn

    def recommend(self, users, histories, k):
        scores = np.asarray(self.score_fn(users, histories), dtype=np.float64)
        k = min(k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        return np.take_along_axis(top, order, axis=1).tolist()
