"""Evaluation splits.

sequential_split — the TIGER / LC-Rec / P5 protocol: per user, sort by timestamp (stable: ties keep the
    original row order); the last item is the test target, the second last the validation target, the rest
    is the training sequence; histories given to the model are the last `max_history` (20) items before the
    target. Rule for short users: a user with fewer than 3 interactions has no validation/test row; all of
    their interactions stay in `train` (a target needs at least one history item and a distinct valid item).
    The P5 5-core data has no such users; the rule matters only for other inputs.

ncf_split — the NCF protocol (He et al. 2017): leave-one-out by latest timestamp (ties: the later row in the
    original order is held out, consistent with the stable sort), and 99 negatives sampled uniformly without
    replacement from the items the user never interacted with. Users with a single interaction have no test
    row. Deterministic for a given seed (numpy Generator, users processed in sorted order).

Items are re-indexed to a contiguous 0..N-1 range (`item_ids[i]` is the original id of index i).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

MIN_SEQUENTIAL_INTERACTIONS = 3
MIN_NCF_INTERACTIONS = 2


@dataclass
class SequentialSplit:
    item_ids: np.ndarray  # index -> original item_id
    train: dict[int, list[int]]  # user_id -> training sequence (item indices, time order)
    valid: pd.DataFrame  # user_id, history (list[int], <= max_history), target (int)
    test: pd.DataFrame
    max_history: int

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def to_parquet(self, out_dir: Path) -> Path:
        """item_ids / train / valid / test as Parquet (readable by Ray Data's read_parquet) + split.json."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"item_id": self.item_ids}).to_parquet(out / "item_ids.parquet", index=False)
        users = list(self.train)
        pd.DataFrame(
            {
                "user_id": np.array(users, dtype=np.int64),
                "sequence": pd.Series([self.train[u] for u in users], dtype=object),
            }
        ).to_parquet(out / "train.parquet", index=False)
        self.valid.to_parquet(out / "valid.parquet", index=False)
        self.test.to_parquet(out / "test.parquet", index=False)
        (out / "split.json").write_text(json.dumps({"kind": "sequential", "max_history": self.max_history}))
        return out

    @classmethod
    def from_parquet(cls, out_dir: Path) -> "SequentialSplit":
        d = Path(out_dir)
        meta = json.loads((d / "split.json").read_text())
        train = pd.read_parquet(d / "train.parquet")
        lists = lambda df, col: df[col].map(lambda a: [int(x) for x in a])  # noqa: E731  (arrow -> list[int])
        valid, test = pd.read_parquet(d / "valid.parquet"), pd.read_parquet(d / "test.parquet")
        for df in (valid, test):
            df["history"] = lists(df, "history").astype(object)
        return cls(
            item_ids=pd.read_parquet(d / "item_ids.parquet")["item_id"].to_numpy(np.int64),
            train=dict(zip(train["user_id"].tolist(), lists(train, "sequence"))),
            valid=valid,
            test=test,
            max_history=meta["max_history"],
        )


@dataclass
class NCFSplit:
    user_ids: np.ndarray  # user index -> original user_id
    item_ids: np.ndarray  # item index -> original item_id
    train: pd.DataFrame  # user, item (+ rating, timestamp)
    test: pd.DataFrame  # user, item (held-out positive), negatives (list[int])
    num_negatives: int
    seed: int

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def to_parquet(self, out_dir: Path) -> Path:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"user_id": self.user_ids}).to_parquet(out / "user_ids.parquet", index=False)
        pd.DataFrame({"item_id": self.item_ids}).to_parquet(out / "item_ids.parquet", index=False)
        self.train.to_parquet(out / "train.parquet", index=False)
        self.test.to_parquet(out / "test.parquet", index=False)
        (out / "split.json").write_text(
            json.dumps({"kind": "ncf", "num_negatives": self.num_negatives, "seed": self.seed})
        )
        return out

    @classmethod
    def from_parquet(cls, out_dir: Path) -> "NCFSplit":
        d = Path(out_dir)
        meta = json.loads((d / "split.json").read_text())
        test = pd.read_parquet(d / "test.parquet")
        test["negatives"] = test["negatives"].map(lambda a: [int(x) for x in a]).astype(object)
        return cls(
            user_ids=pd.read_parquet(d / "user_ids.parquet")["user_id"].to_numpy(np.int64),
            item_ids=pd.read_parquet(d / "item_ids.parquet")["item_id"].to_numpy(np.int64),
            train=pd.read_parquet(d / "train.parquet"),
            test=test,
            num_negatives=meta["num_negatives"],
            seed=meta["seed"],
        )


def _check_columns(df: pd.DataFrame, need: tuple[str, ...]) -> None:
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"interactions frame lacks column(s) {missing}; has {list(df.columns)}")


def _chronological(interactions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row order sorted by (user_id, timestamp, original position) and the per-user group boundaries."""
    users = interactions["user_id"].to_numpy(np.int64)
    ts = interactions["timestamp"].to_numpy(np.int64)
    # np.lexsort sorts by the last key first; the explicit position key makes tie-breaking visible.
    order = np.lexsort((np.arange(len(users)), ts, users))
    su = users[order]
    starts = np.flatnonzero(np.r_[True, su[1:] != su[:-1]]) if len(su) else np.array([], dtype=np.int64)
    ends = np.r_[starts[1:], len(su)].astype(np.int64)
    return order, starts, ends


def _index_items(items: np.ndarray, item_ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if item_ids is None:
        item_ids = np.unique(items)
    else:
        item_ids = np.asarray(item_ids, dtype=np.int64)
        if len(np.unique(item_ids)) != len(item_ids):
            raise ValueError("item_ids has duplicates")
        order = np.argsort(item_ids, kind="stable")
        pos = np.searchsorted(item_ids, items, sorter=order)
        pos = np.clip(pos, 0, len(item_ids) - 1)
        found = item_ids[order[pos]] == items
        if not found.all():
            raise ValueError(f"item {int(items[~found][0])} occurs in interactions but not in item_ids")
        return item_ids, order[pos]
    return item_ids, np.searchsorted(item_ids, items)


def sequential_split(
    interactions: pd.DataFrame, max_history: int = 20, item_ids: np.ndarray | None = None
) -> SequentialSplit:
    """Leave-last-two-out chronological split. `item_ids`: optional catalog (default: items that occur)."""
    _check_columns(interactions, ("user_id", "item_id", "timestamp"))
    if max_history < 1:
        raise ValueError(f"max_history must be >= 1, got {max_history}")
    order, starts, ends = _chronological(interactions)
    users = interactions["user_id"].to_numpy(np.int64)[order]
    item_ids, idx = _index_items(interactions["item_id"].to_numpy(np.int64), item_ids)
    seq_all = idx[order].tolist()

    train: dict[int, list[int]] = {}
    rows: dict[str, tuple[list, list, list]] = {"valid": ([], [], []), "test": ([], [], [])}
    for s, e in zip(starts.tolist(), ends.tolist()):
        uid = int(users[s])
        seq = seq_all[s:e]
        if len(seq) < MIN_SEQUENTIAL_INTERACTIONS:
            train[uid] = seq
            continue
        train[uid] = seq[:-2]
        for split, cut in (("valid", len(seq) - 2), ("test", len(seq) - 1)):
            u, h, t = rows[split]
            u.append(uid)
            h.append(seq[max(0, cut - max_history) : cut])
            t.append(seq[cut])

    def frame(split: str) -> pd.DataFrame:
        u, h, t = rows[split]
        return pd.DataFrame(
            {
                "user_id": np.array(u, dtype=np.int64),
                "history": pd.Series(h, dtype=object),
                "target": np.array(t, dtype=np.int64),
            }
        )

    return SequentialSplit(
        item_ids=item_ids, train=train, valid=frame("valid"), test=frame("test"), max_history=max_history
    )


def _sample_negatives(
    rng: np.random.Generator, n_items: int, rated: np.ndarray, mask: np.ndarray, k: int
) -> np.ndarray:
    """k distinct items outside `rated` (mask is a scratch bool array of size n_items, left all False)."""
    mask[rated] = True
    free = n_items - int(np.count_nonzero(mask))
    try:
        if free < k:
            raise ValueError(f"only {free} never-rated items, fewer than the {k} negatives asked for")
        if free < 2 * k:  # dense user: sample directly from the candidate list
            return rng.choice(np.flatnonzero(~mask), size=k, replace=False)
        out = np.empty(0, dtype=np.int64)
        while len(out) < k:  # rejection sampling: uniform over the free items, no replacement
            cand = np.concatenate([out, rng.integers(0, n_items, size=2 * k + 8)])
            cand = cand[~mask[cand]]
            out = pd.unique(cand)  # first draw of each item, in draw order
        return out[:k]
    finally:
        mask[rated] = False


def ncf_split(interactions: pd.DataFrame, num_negatives: int = 99, seed: int = 0) -> NCFSplit:
    """Leave-latest-one-out with `num_negatives` sampled never-interacted items per test user."""
    _check_columns(interactions, ("user_id", "item_id", "timestamp"))
    if num_negatives < 0:
        raise ValueError(f"num_negatives must be >= 0, got {num_negatives}")
    order, starts, ends = _chronological(interactions)
    user_ids, uidx = np.unique(interactions["user_id"].to_numpy(np.int64), return_inverse=True)
    item_ids, iidx = _index_items(interactions["item_id"].to_numpy(np.int64), None)
    u_sorted, i_sorted = uidx[order], iidx[order]

    rng = np.random.default_rng(seed)
    mask = np.zeros(len(item_ids), dtype=bool)
    held_out = np.zeros(len(order), dtype=bool)
    t_user, t_item, t_negs = [], [], []
    for s, e in zip(starts.tolist(), ends.tolist()):
        if e - s < MIN_NCF_INTERACTIONS:
            continue
        held_out[e - 1] = True
        u = int(u_sorted[s])
        try:
            negs = _sample_negatives(rng, len(item_ids), i_sorted[s:e], mask, num_negatives)
        except ValueError as err:
            raise ValueError(f"user {int(user_ids[u])}: {err}") from None
        t_user.append(u)
        t_item.append(int(i_sorted[e - 1]))
        t_negs.append(negs.tolist())

    keep = order[~held_out]
    train = pd.DataFrame({"user": uidx[keep].astype(np.int64), "item": iidx[keep].astype(np.int64)})
    for col in ("rating", "timestamp"):
        if col in interactions.columns:
            train[col] = interactions[col].to_numpy()[keep]
    test = pd.DataFrame(
        {
            "user": np.array(t_user, dtype=np.int64),
            "item": np.array(t_item, dtype=np.int64),
            "negatives": pd.Series(t_negs, dtype=object),
        }
    )
    return NCFSplit(
        user_ids=user_ids, item_ids=item_ids, train=train, test=test, num_negatives=num_negatives, seed=seed
    )
