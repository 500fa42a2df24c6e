"""NCF data: leave-one-out splits with sampled negatives, pointwise training samples, item metadata text.

`prepare(split, items_df, ...)` turns a `rec_core.data.splits.ncf_split` result (train: user, item; test:
user, item, negatives) into arrays. A validation set is carved from the train part the same way the
test set was (each user's last remaining interaction + seeded negatives), so tuning never sees test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd


@dataclass
class EvalSet:
    users: np.ndarray  # (U,) user index
    positives: np.ndarray  # (U,) held-out item index
    negatives: np.ndarray  # (U, n) sampled item indices the user never interacted with

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, n: int | None, seed: int) -> "EvalSet":
        if n is None or n >= len(self):
            return self
        idx = np.sort(np.random.default_rng(seed).choice(len(self), n, replace=False))
        return EvalSet(self.users[idx], self.positives[idx], self.negatives[idx])


@dataclass
class NCFData:
    num_users: int
    num_items: int
    train_users: np.ndarray
    train_items: np.ndarray
    valid: EvalSet
    test: EvalSet
    item_texts: list[str]
    stats: dict = field(default_factory=dict)

    def user_items(self) -> list[np.ndarray]:
        """Training items of each user (what full ranking masks out)."""
        order = np.argsort(self.train_users, kind="stable")
        bounds = np.searchsorted(self.train_users[order], np.arange(self.num_users + 1))
        items = self.train_items[order]
        return [items[bounds[u] : bounds[u + 1]] for u in range(self.num_users)]


def _pair_codes(users: np.ndarray, items: np.ndarray, num_items: int) -> np.ndarray:
    return users.astype(np.int64) * num_items + items.astype(np.int64)


def sample_negatives(
    rng: np.random.Generator, users: np.ndarray, k: int, num_items: int, seen_codes: np.ndarray
) -> np.ndarray:
    """(len(users), k) items uniformly drawn among those each user has not interacted with.
    `seen_codes` = sorted user*num_items+item codes. Rejection sampling, vectorised."""
    out = rng.integers(0, num_items, size=(len(users), k))
    uu = np.repeat(users, k).reshape(len(users), k)
    for _ in range(20):
        codes = _pair_codes(uu, out, num_items)
        pos = np.searchsorted(seen_codes, codes).clip(max=len(seen_codes) - 1)
        bad = seen_codes[pos] == codes
        if not bad.any():
            return out
        out[bad] = rng.integers(0, num_items, size=int(bad.sum()))
    # Users who saw most of the catalogue: draw the leftovers exactly from their unseen items.
    codes = _pair_codes(uu, out, num_items)
    bad = seen_codes[np.searchsorted(seen_codes, codes).clip(max=len(seen_codes) - 1)] == codes
    for row in np.unique(np.nonzero(bad)[0]):
        u = int(users[row])
        lo, hi = np.searchsorted(seen_codes, [u * num_items, (u + 1) * num_items])
        unseen = np.setdiff1d(np.arange(num_items), seen_codes[lo:hi] - u * num_items)
        if unseen.size == 0:
            raise ValueError(f"could not sample negatives: user index {u} has interacted with every item")
        out[row, bad[row]] = rng.choice(unseen, int(bad[row].sum()))
    return out


class PointwiseSampler:
    """Each epoch: every training positive (label 1) plus `num_negatives` fresh sampled negatives (label 0),
    as in NCF. Seeded by (seed, epoch), so a resumed run sees the same samples it would have seen."""

    def __init__(
        self,
        users: np.ndarray,
        items: np.ndarray,
        num_items: int,
        num_negatives: int,
        seed: int,
        extra_seen: np.ndarray | None = None,
    ):
        self.users, self.items = users.astype(np.int64), items.astype(np.int64)
        self.num_items, self.k, self.seed = num_items, num_negatives, seed
        codes = _pair_codes(self.users, self.items, num_items)
        if extra_seen is not None:
            codes = np.concatenate([codes, extra_seen])
        self.seen = np.unique(codes)

    def epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng([self.seed, epoch])
        neg = sample_negatives(rng, self.users, self.k, self.num_items, self.seen)
        users = np.concatenate([self.users, np.repeat(self.users, self.k)])
        items = np.concatenate([self.items, neg.reshape(-1)])
        labels = np.concatenate([np.ones(len(self.users), np.float32), np.zeros(neg.size, np.float32)])
        return users, items, labels


_YEAR = re.compile(r"\((\d{4})\)\s*$")


def item_texts(items_df: pd.DataFrame | None, item_ids: np.ndarray, fields: list[str]) -> tuple[list[str], dict]:
    """One metadata text per item index: 'Title (1995). genres: Comedy|Drama. tags: ...'.
    Items with no metadata row get an empty text (counted in the returned stats)."""
    stats = {"items_without_metadata": 0}
    if items_df is None or items_df.empty:
        stats["items_without_metadata"] = len(item_ids)
        return [""] * len(item_ids), stats
    df = items_df.drop_duplicates("item_id").set_index("item_id")
    texts = []
    for iid in item_ids:
        if iid not in df.index:
            stats["items_without_metadata"] += 1
            texts.append("")
            continue
        row = df.loc[iid]
        parts = []
        for f in fields:
            v = row.get(f) if f in row.index else None
            if f == "year" and _YEAR.search(str(row.get("title", "") or "")):
                continue  # MovieLens titles already end in "(year)"
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            if isinstance(v, (list, tuple, np.ndarray)):
                v = ", ".join(map(str, v))
            v = str(v).strip()
            if not v:
                continue
            parts.append(v if f == "title" else f"{f}: {v}")
        texts.append(". ".join(parts))
    return texts, stats


def _eval_from_frame(test: pd.DataFrame) -> EvalSet:
    return EvalSet(
        test["user"].to_numpy(np.int64),
        test["item"].to_numpy(np.int64),
        np.stack(test["negatives"].map(lambda x: np.asarray(x, np.int64)).to_numpy()),
    )


def prepare(split, items_df: pd.DataFrame | None, text_fields: list[str], seed: int = 0) -> NCFData:
    """NCFData from an ncf_split result. Valid = each user's last train row (users with >= 2 train rows);
    its negatives avoid every item the user interacted with, held-out test item included."""
    train = split.train
    if "timestamp" in train.columns:
        train = train.sort_values(["user", "timestamp"], kind="stable")
    test = _eval_from_frame(split.test)
    num_users, num_items = len(split.user_ids), len(split.item_ids)
    counts = train.groupby("user")["item"].transform("size").to_numpy()
    is_last = ~train.duplicated("user", keep="last").to_numpy()
    valid_mask = is_last & (counts >= 2)
    valid_rows, train_rows = train[valid_mask], train[~valid_mask]
    all_codes = np.unique(
        np.concatenate(
            [
                _pair_codes(train["user"].to_numpy(), train["item"].to_numpy(), num_items),
                _pair_codes(test.users, test.positives, num_items),
            ]
        )
    )
    rng = np.random.default_rng([seed, 7])
    vu = valid_rows["user"].to_numpy(np.int64)
    valid = EvalSet(
        vu,
        valid_rows["item"].to_numpy(np.int64),
        sample_negatives(rng, vu, test.negatives.shape[1], num_items, all_codes),
    )
    texts, stats = item_texts(items_df, np.asarray(split.item_ids), text_fields)
    stats.update(
        {
            "users": num_users,
            "items": num_items,
            "train_pairs": len(train_rows),
            "valid_users": len(valid),
            "test_users": len(test),
        }
    )
    return NCFData(
        num_users,
        num_items,
        train_rows["user"].to_numpy(np.int64),
        train_rows["item"].to_numpy(np.int64),
        valid,
        test,
        texts,
        stats,
    )


GENRE_WORDS = ["comedy", "horror", "western", "romance", "scifi", "musical", "war", "noir"]


def synthetic_split(
    num_users: int = 200,
    num_items: int = 160,
    clusters: int = 4,
    per_user: int = 12,
    eval_negatives: int = 99,
    purity: float = 0.9,
    seed: int = 0,
):
    """A learnable dataset in the ncf_split shape: users belong to clusters and mostly interact with items of
    their cluster; each item's metadata text names its cluster's genre word (so text alone reveals the cluster).
    Returns (split, items_df)."""
    if clusters > len(GENRE_WORDS):
        raise ValueError(f"at most {len(GENRE_WORDS)} clusters")
    rng = np.random.default_rng(seed)
    item_cluster = np.arange(num_items) % clusters
    user_cluster = rng.integers(0, clusters, num_users)
    rows, test_rows = [], []
    for u in range(num_users):
        own = np.flatnonzero(item_cluster == user_cluster[u])
        n_own = min(len(own), int(round((per_user + 1) * purity)))
        own_sel = rng.choice(own, n_own, replace=False)
        off_sel = rng.choice(np.flatnonzero(item_cluster != user_cluster[u]), per_user + 1 - n_own, replace=False)
        # Off-cluster noise first in time, so the held-out (last) items are in the user's cluster.
        seq = np.concatenate([rng.permutation(off_sel), rng.permutation(own_sel)]).astype(np.int64)
        rows += [(u, int(i)) for i in seq[:-1]]
        seen = set(seq.tolist())
        pool_ = np.asarray([i for i in range(num_items) if i not in seen])
        test_rows.append((u, int(seq[-1]), rng.choice(pool_, eval_negatives, replace=False).tolist()))
    words = rng.permutation(GENRE_WORDS[:clusters])
    items_df = pd.DataFrame(
        {
            "item_id": np.arange(num_items) + 1000,
            "title": [f"item {i}" for i in range(num_items)],
            "genres": [f"{words[c]} film" for c in item_cluster],
        }
    )
    split = SimpleNamespace(
        train=pd.DataFrame(rows, columns=["user", "item"]),
        test=pd.DataFrame(test_rows, columns=["user", "item", "negatives"]),
        user_ids=np.arange(num_users) + 1,
        item_ids=np.arange(num_items) + 1000,
    )
    return split, items_df
