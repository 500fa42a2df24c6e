"""NCF data: negative sampling never returns a seen item, the validation carve, metadata text."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.ncf.data import PointwiseSampler, item_texts, prepare, sample_negatives, synthetic_split


@settings(max_examples=25, deadline=None)
@given(n_items=st.integers(3, 40), n_users=st.integers(1, 10), k=st.integers(1, 6), seed=st.integers(0, 99))
def test_sampled_negatives_are_unseen(n_items, n_users, k, seed):
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        chosen = rng.choice(n_items, rng.integers(1, n_items), replace=False)  # always leaves >= 1 unseen item
        users += [u] * len(chosen)
        items += chosen.tolist()
    s = PointwiseSampler(np.array(users), np.array(items), n_items, k, seed)
    u, i, y = s.epoch(0)
    assert len(u) == len(users) * (1 + k) and y.sum() == len(users)
    seen = set(zip(users, items))
    assert not any((a, b) in seen for a, b, lab in zip(u, i, y) if lab == 0)
    u2, i2, _ = s.epoch(0)
    assert np.array_equal(i, i2)  # same (seed, epoch) -> same samples, so a resumed run is reproducible


def test_sampling_fails_clearly_when_user_saw_everything():
    seen = np.arange(5)  # user 0 saw items 0..4
    with pytest.raises(ValueError, match="every item"):
        sample_negatives(np.random.default_rng(0), np.array([0]), 2, 5, seen)


def test_prepare_carves_validation_from_train():
    split, items = synthetic_split(num_users=30, num_items=120, per_user=8, seed=1)
    d = prepare(split, items, ["title", "genres"], seed=0)
    assert len(d.valid) == 30 and len(d.test) == 30
    train_pairs = set(zip(d.train_users.tolist(), d.train_items.tolist()))
    assert not any((u, p) in train_pairs for u, p in zip(d.valid.users, d.valid.positives))
    for u, p, negs in zip(d.valid.users, d.valid.positives, d.valid.negatives):
        assert p not in negs and not any((u, n) in train_pairs for n in negs)
        assert d.test.positives[d.test.users == u][0] not in negs
    assert d.stats["train_pairs"] == len(split.train) - 30
    assert all("genres:" in t for t in d.item_texts)


def test_item_texts_counts_missing_and_skips_empty_fields():
    items = pd.DataFrame(
        {
            "item_id": [1, 2],
            "title": ["Heat (1995)", "Up (2009)"],
            "genres": ["Crime|Drama", None],
            "tags": ["", "pixar"],
        }
    )
    texts, stats = item_texts(items, np.array([1, 2, 3]), ["title", "year", "genres", "tags"])
    assert texts == ["Heat (1995). genres: Crime|Drama", "Up (2009). tags: pixar", ""]
    assert stats["items_without_metadata"] == 1
