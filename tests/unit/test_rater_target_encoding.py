"""Out-of-fold target encoding: informative, and no rating ever reaches its own movie's features."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.rater import stats
from rec_core.rater.target_encoding import encode_fold, feature_names, fold_columns, fold_view


def _movies(n=200, seed=0):
    rng = np.random.default_rng(seed)
    studio = rng.integers(0, 4, n)  # studio 3 makes good movies
    y = 6.0 + 1.5 * (studio == 3) + rng.normal(0, 0.3, n)
    lists = [[f"studio{s}", f"kw{rng.integers(0, 50)}"] for s in studio]
    return lists, y, studio


def test_a_category_with_high_training_ratings_encodes_high_for_held_out_movies():
    lists, y, studio = _movies()
    train, test = np.arange(150), np.arange(150, 200)
    _, f_te = encode_fold(lists, y, train, test, smooth=5.0, seed=0)
    top = f_te[:, 1]  # max over the movie's categories: its studio's encoding for studio 3 (true effect +1.1)
    assert top[studio[test] == 3].mean() > 0.8 > 0.4 > top[studio[test] != 3].mean()


def test_a_movies_own_rating_never_encodes_it():
    # every movie has its own unique keyword: an encoder that saw the row's own target would echo it back
    rng = np.random.default_rng(1)
    y = rng.normal(6, 1, 120)
    lists = [[f"only{i}"] for i in range(120)]
    f_tr, f_te = encode_fold(lists, y, np.arange(100), np.arange(100, 120), smooth=5.0, seed=0)
    assert np.allclose(f_tr[:, 0], f_tr[0, 0], atol=0.2)  # all near the prior: nothing about the row itself
    assert abs(np.corrcoef(f_tr[:, 0], y[:100])[0, 1]) < 0.3
    assert np.allclose(f_te, 0.0, atol=0.2)  # unseen categories: the training mean, i.e. 0 after centring


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), fold=st.integers(0, 4))
def test_held_out_ratings_do_not_change_the_folds_own_columns(seed, fold):
    lists, y, _ = _movies(80, seed)
    folds = stats.repeated_kfold(80, 5, [seed])
    cols = fold_columns({"keywords": lists}, y, folds, smooth=5.0, seed=0)
    y2 = y.copy()
    held = folds[0] == fold
    y2[held] = np.random.default_rng(seed).permutation(y2[held]) + 3.0  # any other held-out ratings
    cols2 = fold_columns({"keywords": lists}, y2, folds, smooth=5.0, seed=0)
    mine = [c for c in cols.columns if c.endswith(f"@r0f{fold}")]
    assert len(mine) == 3
    pd.testing.assert_frame_equal(cols[mine], cols2[mine])


def test_fold_view_shows_a_task_its_own_columns_under_plain_names():
    frame = pd.DataFrame(
        {"item_id": [1, 2], "y": [5.0, 6.0], "te_genres_mean@r0f0": [1.0, 2.0], "te_genres_mean@r0f1": [3.0, 4.0],
         "te_genres_mean@r1f0": [5.0, 6.0]}
    )  # fmt: skip
    view = fold_view(frame, 0, 1)
    assert list(view.columns) == ["item_id", "y", "te_genres_mean"]
    assert view["te_genres_mean"].tolist() == [3.0, 4.0]
    plain = frame[["item_id", "y"]]
    assert fold_view(plain, 0, 0) is plain
    assert feature_names(["genres"]) == ["te_genres_mean", "te_genres_max", "te_genres_min"]
