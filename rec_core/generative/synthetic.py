"""A synthetic sequential dataset with a learnable pattern, for smoke runs and learning tests.

Items form a hidden random cycle; each user walks it from a random start, jumping to a random item
with probability `noise`. A model that learns "next = successor(last)" beats MostPopular by far;
MostPopular is near chance because every item is equally popular by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class SequentialData:
    """Same fields as `rec_core.data.splits.sequential_split`'s result."""

    item_ids: np.ndarray
    train: dict
    valid: pd.DataFrame
    test: pd.DataFrame


def chain_dataset(
    num_users: int = 300,
    num_items: int = 80,
    seq_len: int = 10,
    noise: float = 0.05,
    max_history: int = 20,
    seed: int = 0,
) -> tuple[SequentialData, np.ndarray]:
    """-> (split, item_features (num_items, 16)); features carry the cycle position so codes are meaningful."""
    rng = np.random.default_rng(seed)
    cycle = rng.permutation(num_items)
    succ = np.empty(num_items, dtype=np.int64)
    succ[cycle] = np.roll(cycle, -1)
    train, valid, test = {}, [], []
    for u in range(num_users):
        seq = [int(rng.integers(num_items))]
        for _ in range(seq_len - 1):
            seq.append(int(rng.integers(num_items)) if rng.random() < noise else int(succ[seq[-1]]))
        train[u] = seq[:-2]
        valid.append((u, seq[:-2][-max_history:], seq[-2]))
        test.append((u, seq[:-1][-max_history:], seq[-1]))
    cols = ["user_id", "history", "target"]
    pos = np.empty(num_items)
    pos[cycle] = np.arange(num_items) / num_items
    feats = np.concatenate(
        [np.stack([np.cos(2 * np.pi * pos), np.sin(2 * np.pi * pos)], 1), rng.normal(scale=0.3, size=(num_items, 14))],
        axis=1,
    ).astype(np.float32)
    return SequentialData(
        np.arange(100, 100 + num_items), train, pd.DataFrame(valid, columns=cols), pd.DataFrame(test, columns=cols)
    ), feats
