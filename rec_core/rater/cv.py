"""Repeated K-fold XGBoost for the rater: the fold tasks, the single-process reference fit, held-out
predictions and per-fold metrics. Plain xgboost and pandas (no Ray); the same tasks are trained on Ray
Train by `jobs.rater.fit_on_ray`, whose worker builds the fold matrices with the same `fold_matrices`.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import xgboost as xgb

from rec_core.rater.target_encoding import fold_view
from rec_core.rater.xgb import XGBConfig, fold_matrices, train_booster


def task_id(policy: str, variant: str, rep: int, fold: int) -> str:
    return f"{policy}.{variant}.r{rep}.f{fold}"


def booster_seed(base_seed: int, rep: int, fold: int) -> int:
    return base_seed * 1000 + rep * 10 + fold


def task_matrices(table: pd.DataFrame, columns: dict[str, list[str]], task: dict, cfg: XGBConfig):
    """(dtrain, dvalid | None) of one fold task: the task's own view of the table (its fold's target-encoded
    columns, `fold_view`), trained on every fold of its repetition but its own."""
    view = fold_view(table, task["rep"], task["fold"])
    folds = view[f"fold_r{task['rep']}"].to_numpy()
    return fold_matrices(view, columns[task["columns"]], folds, task["fold"], cfg, task["seed"])


def held_out(table: pd.DataFrame, rep: int, fold: int) -> pd.DataFrame:
    """The rows fold `fold` of repetition `rep` holds out, as that fold's models see them (`fold_view`)."""
    view = fold_view(table, rep, fold)
    return view[view[f"fold_r{rep}"].to_numpy() == fold]


def fit_local(
    table: pd.DataFrame, columns: dict[str, list[str]], tasks: list[dict], xgb_cfg: XGBConfig, nthread: int
) -> tuple[dict[str, xgb.Booster], float]:
    """The same tasks with plain single-process `xgboost.train` (the reference for the Ray timing)."""
    cfg = xgb_cfg.model_copy(update={"nthread": nthread})
    t0 = time.perf_counter()
    out = {}
    for t in tasks:
        dtrain, dvalid = task_matrices(table, columns, t, cfg)
        out[t["id"]] = train_booster(dtrain, dvalid, cfg, t["seed"])
    return out, time.perf_counter() - t0


def out_of_fold(
    table: pd.DataFrame, columns: dict[str, list[str]], tasks: list[dict], boosters: dict[str, xgb.Booster]
) -> pd.DataFrame:
    """Held-out predictions: item_id, rep, fold, y, pred for every task."""
    from rec_core.rater.xgb import predict

    parts = []
    for t in tasks:
        held = held_out(table, t["rep"], t["fold"])
        parts.append(
            pd.DataFrame(
                {
                    "item_id": held["item_id"].to_numpy(),
                    "rep": t["rep"],
                    "fold": t["fold"],
                    "y": held["y"].to_numpy(),
                    "pred": predict(boosters[t["id"]], held, columns[t["columns"]]),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def make_tasks(policy: str, variant: str, rep: int, n_folds: int, base_seed: int) -> list[dict]:
    """The fold tasks of one repetition. A and B get the same seeds, so they differ only in features."""
    return [
        {
            "id": task_id(policy, variant, rep, k),
            "columns": f"{policy}.{variant}",
            "policy": policy,
            "variant": variant,
            "rep": rep,
            "fold": k,
            "seed": booster_seed(base_seed, rep, k),
        }
        for k in range(n_folds)
    ]


def fold_metrics(oof: pd.DataFrame) -> pd.DataFrame:
    from rec_core.rater.stats import regression_metrics

    rows = []
    for (rep, fold), g in oof.groupby(["rep", "fold"], sort=True):
        rows.append(
            {"rep": rep, "fold": fold, "n": len(g), **regression_metrics(g["y"].to_numpy(), g["pred"].to_numpy())}
        )
    return pd.DataFrame(rows)


def mean_baseline_metrics(table: pd.DataFrame, n_reps: int) -> pd.DataFrame:
    """Per fold: predict the training folds' mean rating (the floor any model must beat)."""
    from rec_core.rater.stats import regression_metrics

    rows = []
    for rep in range(n_reps):
        folds = table[f"fold_r{rep}"].to_numpy()
        for k in np.unique(folds):
            y_tr, y_te = table["y"].to_numpy()[folds != k], table["y"].to_numpy()[folds == k]
            rows.append({"rep": rep, "fold": int(k), **regression_metrics(y_te, np.full(len(y_te), y_tr.mean()))})
    return pd.DataFrame(rows)
