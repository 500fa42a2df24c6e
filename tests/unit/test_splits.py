"""Sequential (TIGER/LC-Rec) and NCF (leave-one-out + 99 negatives) splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.data.splits import ncf_split, sequential_split


def frame(rows):
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    df["rating"] = np.nan
    return df


@st.composite
def interaction_frames(draw, max_users=8, max_items=30):
    n_users = draw(st.integers(1, max_users))
    n_items = draw(st.integers(1, max_items))
    rows = []
    for u in range(n_users):
        k = draw(st.integers(1, 30))
        items = draw(st.lists(st.integers(0, n_items - 1), min_size=k, max_size=k))
        times = draw(st.lists(st.integers(0, 5), min_size=k, max_size=k))  # few values: many ties
        rows += [(u * 7 + 3, i * 10 + 1, t) for i, t in zip(items, times)]
    order = draw(st.permutations(range(len(rows))))
    return frame([rows[i] for i in order])


def reference_sequences(df):
    """Per user, items in (timestamp, original row) order: the protocol spelled out naively."""
    out = {}
    for pos, (u, i, t) in enumerate(zip(df.user_id, df.item_id, df.timestamp)):
        out.setdefault(u, []).append((t, pos, i))
    return {u: [i for _, _, i in sorted(v)] for u, v in out.items()}


# ------------------------------------------------------------------ sequential
def test_sequential_basic_and_history_cap():
    df = frame([(1, 100 + k, k) for k in range(30)] + [(2, 5, 0), (2, 6, 1), (2, 7, 2)])
    s = sequential_split(df, max_history=20)
    ids = list(s.item_ids)
    idx = lambda item: ids.index(item)  # noqa: E731
    assert s.train[1] == [idx(100 + k) for k in range(28)]
    test = s.test.set_index("user_id")
    valid = s.valid.set_index("user_id")
    assert test.loc[1, "target"] == idx(129) and valid.loc[1, "target"] == idx(128)
    assert test.loc[1, "history"] == [idx(100 + k) for k in range(9, 29)]  # the last 20 before the target
    assert valid.loc[1, "history"] == [idx(100 + k) for k in range(8, 28)]
    assert test.loc[2, "history"] == [idx(5), idx(6)] and valid.loc[2, "history"] == [idx(5)]
    assert s.train[2] == [idx(5)]


def test_sequential_ties_keep_original_order():
    # all three share one timestamp: the file order decides
    df = frame([(1, 30, 5), (1, 10, 5), (1, 20, 5), (1, 40, 1)])
    s = sequential_split(df)
    orig = lambda xs: [int(s.item_ids[i]) for i in xs]  # noqa: E731
    assert orig(s.train[1]) == [40, 30]
    assert int(s.item_ids[s.valid.target[0]]) == 10 and int(s.item_ids[s.test.target[0]]) == 20


def test_sequential_short_users_have_no_eval_rows():
    df = frame([(1, 1, 0), (1, 2, 1), (2, 3, 0), (3, 1, 0), (3, 2, 1), (3, 3, 2)])
    s = sequential_split(df)
    assert list(s.test.user_id) == [3] and list(s.valid.user_id) == [3]
    assert len(s.train[1]) == 2 and len(s.train[2]) == 1 and len(s.train[3]) == 1


def test_sequential_catalog_and_errors():
    df = frame([(1, 5, 0), (1, 7, 1), (1, 9, 2)])
    s = sequential_split(df, item_ids=np.array([9, 8, 7, 6, 5]))
    assert s.num_items == 5 and [int(s.item_ids[i]) for i in s.train[1]] == [5]
    with pytest.raises(ValueError, match="item 9 occurs in interactions but not in item_ids"):
        sequential_split(df, item_ids=np.array([5, 7]))
    with pytest.raises(ValueError, match="lacks column"):
        sequential_split(df.drop(columns="timestamp"))


@settings(max_examples=60, deadline=None)
@given(df=interaction_frames(), max_history=st.integers(1, 25))
def test_sequential_properties(df, max_history):
    s = sequential_split(df, max_history=max_history)
    ref = reference_sequences(df)
    assert list(s.item_ids) == sorted(set(df.item_id))
    test, valid = s.test.set_index("user_id"), s.valid.set_index("user_id")
    for u, seq in ref.items():
        seq_idx = [int(np.searchsorted(s.item_ids, i)) for i in seq]
        if len(seq) < 3:
            assert u not in test.index and s.train[u] == seq_idx
            continue
        assert s.train[u] == seq_idx[:-2]
        assert test.loc[u, "target"] == seq_idx[-1] and valid.loc[u, "target"] == seq_idx[-2]
        assert test.loc[u, "history"] == seq_idx[:-1][-max_history:]
        assert valid.loc[u, "history"] == seq_idx[:-2][-max_history:]
    # the split partitions each user's sequence exactly
    n = sum(len(v) for v in s.train.values()) + len(s.valid) + len(s.test)
    assert n == len(df)


def test_sequential_deterministic_under_shuffle_of_other_users():
    df = frame([(1, 1, 0), (1, 2, 0), (1, 3, 0), (2, 4, 1), (2, 5, 0), (2, 6, 2)])
    a = sequential_split(df)
    b = sequential_split(df.iloc[[3, 4, 5, 0, 1, 2]].reset_index(drop=True))  # same per-user order
    assert a.train == b.train and a.test.equals(b.test) and a.valid.equals(b.valid)


# ------------------------------------------------------------------ NCF
def test_ncf_leave_latest_out_and_negatives():
    rng = np.random.default_rng(1)
    rows = [(u, int(i), int(t)) for u in range(20) for t, i in enumerate(rng.choice(500, size=30, replace=False))]
    df = frame(rows)
    n = ncf_split(df, num_negatives=99, seed=0)
    assert n.num_users == 20 and len(n.test) == 20 and len(n.train) == 20 * 29
    rated = df.groupby("user_id")["item_id"].apply(set)
    for _, r in n.test.iterrows():
        u = int(n.user_ids[r["user"]])
        negs = [int(n.item_ids[i]) for i in r.negatives]
        assert len(negs) == 99 and len(set(negs)) == 99
        assert not set(negs) & rated[u]  # never rated, hence never the positive
        latest = df[df.user_id == u].sort_values("timestamp", kind="stable").item_id.iloc[-1]
        assert int(n.item_ids[r["item"]]) == latest
    # held-out positives are not in train
    train_pairs = set(zip(n.train.user, n.train.item))
    assert not any((u, i) in train_pairs for u, i in zip(n.test.user, n.test.item))


def test_ncf_deterministic_and_seed_sensitive():
    df = frame([(u, (u * 13 + k * 7) % 300, k) for u in range(15) for k in range(10)])
    a, b, c = ncf_split(df, seed=3), ncf_split(df, seed=3), ncf_split(df, seed=4)
    assert a.test.negatives.tolist() == b.test.negatives.tolist()
    assert a.test.negatives.tolist() != c.test.negatives.tolist()
    assert a.train.equals(b.train)


def test_ncf_ties_hold_out_last_row_and_single_users():
    df = frame([(1, 10, 5), (1, 11, 5), (1, 12, 5), (2, 13, 0), (3, 14, 0)] + [(4, i, 0) for i in range(100, 200)])
    n = ncf_split(df, num_negatives=5, seed=0)
    test = {int(n.user_ids[u]): int(n.item_ids[i]) for u, i in zip(n.test.user, n.test.item)}
    assert test[1] == 12 and 2 not in test  # single-interaction user: train only
    assert (n.train.user == int(np.searchsorted(n.user_ids, 2))).sum() == 1


def test_ncf_too_few_candidates_is_a_clear_error():
    df = frame([(1, i, i) for i in range(10)])
    with pytest.raises(ValueError, match="user 1: only 0 never-rated items"):
        ncf_split(df, num_negatives=3)


@settings(max_examples=40, deadline=None)
@given(df=interaction_frames(max_items=60), k=st.integers(0, 10), seed=st.integers(0, 2**32 - 1))
def test_ncf_properties(df, k, seed):
    rated = df.groupby("user_id")["item_id"].apply(set)
    n_items = df.item_id.nunique()
    eligible = [u for u, s in rated.items() if (df.user_id == u).sum() >= 2]
    if any(n_items - len(rated[u]) < k for u in eligible):
        with pytest.raises(ValueError, match="never-rated items"):
            ncf_split(df, num_negatives=k, seed=seed)
        return
    n = ncf_split(df, num_negatives=k, seed=seed)
    ref = reference_sequences(df)
    assert sorted(int(n.user_ids[u]) for u in n.test.user) == sorted(eligible)
    for _, r in n.test.iterrows():
        u = int(n.user_ids[r["user"]])
        assert int(n.item_ids[r["item"]]) == ref[u][-1]
        negs = [int(n.item_ids[i]) for i in r.negatives]
        assert len(negs) == k == len(set(negs)) and not set(negs) & rated[u]
    assert len(n.train) + len(n.test) == len(df)


def test_splits_round_trip_through_parquet(tmp_path):
    df = frame([(u, (u * 13 + k * 7) % 300, k) for u in range(15) for k in range(10)] + [(99, 1, 0)])
    s = sequential_split(df, max_history=4)
    back = type(s).from_parquet(s.to_parquet(tmp_path / "seq"))
    assert back.train == s.train and back.max_history == 4 and (back.item_ids == s.item_ids).all()
    for a, b in ((back.valid, s.valid), (back.test, s.test)):
        assert a["history"].tolist() == b["history"].tolist() and (a["target"] == b["target"]).all()
    n = ncf_split(df, num_negatives=20, seed=5)
    nb = type(n).from_parquet(n.to_parquet(tmp_path / "ncf"))
    assert nb.test["negatives"].tolist() == n.test["negatives"].tolist() and nb.train.equals(n.train)
    assert (nb.user_ids == n.user_ids).all() and nb.seed == 5 and nb.num_negatives == 20
