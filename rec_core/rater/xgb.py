"""XGBoost pieces that need no cluster: parameters, the deterministic inner early-stopping split,
single-process training (the reference for the Ray comparison), gain importance and SHAP."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from pydantic import Field

from rec_core.config import StrictModel


class XGBConfig(StrictModel):
    max_depth: int = Field(5, ge=1, le=16)
    eta: float = Field(0.05, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(2.0, ge=0)
    reg_lambda: float = Field(1.0, ge=0)
    num_boost_round: int = Field(600, ge=1)
    early_stopping_rounds: int = Field(40, ge=0, description="0 = train all rounds; else stop on an inner split")
    inner_valid_fraction: float = Field(
        0.1, gt=0, lt=0.5, description="share of each training fold held out for early stopping"
    )
    tree_method: str = "hist"
    nthread: int = Field(1, ge=1, description="threads per worker")

    def booster_params(self, seed: int) -> dict:
        return {
            "objective": "reg:squarederror",
            "eval_metric": ["rmse"],
            "max_depth": self.max_depth,
            "eta": self.eta,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "tree_method": self.tree_method,
            "nthread": self.nthread,
            "seed": seed,
        }


def inner_valid_mask(item_ids: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Deterministic per item (a hash, not a row position), so every Ray worker shard and the
    single-process reference pick the same early-stopping rows."""
    h = (np.asarray(item_ids, dtype=np.uint64) * np.uint64(2654435761) + np.uint64(seed * 97 + 13)) % np.uint64(10007)
    return h < np.uint64(int(fraction * 10007))


def fold_matrices(frame: pd.DataFrame, columns: list[str], folds: np.ndarray, fold: int, cfg: XGBConfig, seed: int):
    """(dtrain, dvalid | None) for training on every fold but `fold` (rows of `frame`, folds aligned)."""
    tr = frame[folds != fold]
    if cfg.early_stopping_rounds:
        inner = inner_valid_mask(tr["item_id"].to_numpy(), cfg.inner_valid_fraction, seed)
        dtrain = xgb.DMatrix(tr.loc[~inner, columns], label=tr.loc[~inner, "y"], feature_names=columns)
        dvalid = xgb.DMatrix(tr.loc[inner, columns], label=tr.loc[inner, "y"], feature_names=columns)
        return dtrain, dvalid
    return xgb.DMatrix(tr[columns], label=tr["y"], feature_names=columns), None


def train_booster(dtrain, dvalid, cfg: XGBConfig, seed: int, callbacks=(), xgb_model=None) -> xgb.Booster:
    """`cfg.num_boost_round` rounds in all: when `xgb_model` (a booster restored from a checkpoint) already has
    some, only the rest are trained on top of it."""
    evals = [(dtrain, "train")] + ([(dvalid, "valid")] if dvalid is not None else [])
    done = xgb_model.num_boosted_rounds() if xgb_model is not None else 0
    return xgb.train(
        cfg.booster_params(seed),
        dtrain,
        num_boost_round=max(cfg.num_boost_round - done, 0),
        evals=evals,
        early_stopping_rounds=cfg.early_stopping_rounds or None,
        callbacks=list(callbacks),
        verbose_eval=False,
        xgb_model=xgb_model,
    )


def used_trees(booster: xgb.Booster) -> tuple[int, int]:
    """Iteration range of the model actually used: up to the early-stopping best round when there is one
    (the booster keeps `early_stopping_rounds` more trees after it)."""
    best = booster.attr("best_iteration")
    return (0, int(best) + 1) if best is not None else (0, booster.num_boosted_rounds())


def predict(booster: xgb.Booster, frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    d = xgb.DMatrix(frame[columns], feature_names=columns)
    return booster.predict(d, iteration_range=used_trees(booster))


def gain_importance(boosters: list[xgb.Booster], columns: list[str]) -> pd.Series:
    """Mean share of total gain per feature over boosters (features never split on count 0)."""
    acc = pd.Series(0.0, index=columns)
    for b in boosters:
        b = b[slice(*used_trees(b))]  # only the trees the predictions use (same trees as SHAP)
        g = pd.Series(b.get_score(importance_type="total_gain"), dtype=float).reindex(columns).fillna(0.0)
        if g.sum() > 0:
            acc += g / g.sum()
    return (acc / max(len(boosters), 1)).sort_values(ascending=False)


def mean_abs_shap(boosters: list[xgb.Booster], frames: list[pd.DataFrame], columns: list[str]) -> pd.Series:
    """Mean |SHAP| per feature via xgboost's exact TreeSHAP (`pred_contribs=True`) on each booster's
    held-out rows; the last column of pred_contribs is the bias and is dropped."""
    parts = []
    for b, f in zip(boosters, frames):
        d = xgb.DMatrix(f[columns], feature_names=columns)
        contrib = b.predict(d, pred_contribs=True, iteration_range=used_trees(b))
        parts.append(np.abs(contrib[:, :-1]))
    return pd.Series(np.concatenate(parts).mean(axis=0), index=columns).sort_values(ascending=False)
