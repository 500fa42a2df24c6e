import numpy as np
import pandas as pd
import xgboost as xgb

from rec_core.rater.stats import regression_metrics, repeated_kfold
from rec_core.rater.xgb import (
    XGBConfig,
    fold_matrices,
    gain_importance,
    inner_valid_mask,
    mean_abs_shap,
    predict,
    train_booster,
)


def _synthetic(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    y = 6 + 1.5 * x[:, 0] - np.where(x[:, 1] > 0, 1.0, 0.0) + rng.normal(0, 0.3, n)
    df = pd.DataFrame(x, columns=["signal", "step", "noise1", "noise2"])
    df.loc[rng.random(n) < 0.2, "noise1"] = np.nan  # missing values are fine for XGBoost
    df.insert(0, "item_id", np.arange(n) * 7 + 11)
    df["y"] = y
    return df


def test_xgboost_learns_pattern_and_beats_mean():
    df = _synthetic()
    folds = repeated_kfold(len(df), 5, [0])[0]
    cols = ["signal", "step", "noise1", "noise2"]
    cfg = XGBConfig(num_boost_round=200, early_stopping_rounds=20, max_depth=3, eta=0.1)
    dtrain, dvalid = fold_matrices(df, cols, folds, 0, cfg, seed=0)
    b = train_booster(dtrain, dvalid, cfg, seed=0)
    held = df[folds == 0]
    model = regression_metrics(held["y"], predict(b, held, cols))
    mean = regression_metrics(held["y"], np.full(len(held), df[folds != 0]["y"].mean()))
    assert model["rmse"] < 0.5 * mean["rmse"] and model["r2"] > 0.7
    gain = gain_importance([b], cols)
    shap = mean_abs_shap([b], [held], cols)
    assert gain.index[0] == "signal" and shap.index[0] == "signal"
    assert gain.sum() == np.float64(1.0) or abs(gain.sum() - 1) < 1e-9


def test_shap_contributions_sum_to_prediction():
    df = _synthetic(200)
    cols = ["signal", "step", "noise1", "noise2"]
    b = xgb.train({"max_depth": 3, "eta": 0.3}, xgb.DMatrix(df[cols], label=df["y"]), 20)
    d = xgb.DMatrix(df[cols])
    np.testing.assert_allclose(b.predict(d, pred_contribs=True).sum(axis=1), b.predict(d), rtol=1e-4, atol=1e-4)


def test_inner_valid_mask_is_per_item_and_sized():
    ids = np.arange(5000) * 3 + 1
    m = inner_valid_mask(ids, 0.1, seed=0)
    assert 0.07 < m.mean() < 0.13
    # the same item gets the same answer whatever the row order / shard it sits in
    perm = np.random.default_rng(0).permutation(len(ids))
    np.testing.assert_array_equal(inner_valid_mask(ids[perm], 0.1, 0), m[perm])
