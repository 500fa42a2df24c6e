"""Repeated K-fold XGBoost on Ray Train for the rater job (and the single-process reference).

One `XGBoostTrainer` fit trains a list of fold tasks in sequence. Each worker holds its shard of the
full table (with the fold assignment columns); for every task all workers build their part of the
training DMatrix and xgboost's collective (rabit) trains one model across them. Final boosters come
back as Ray Train checkpoints tagged with their task id; the driver predicts the held-out rows.
"""
from __future__ import annotations

import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

from rec_core.rater.xgb import XGBConfig, fold_matrices, train_booster

try:
    from ray.train.xgboost import RayTrainReportCallback
except ImportError:  # pragma: no cover - ray is a hard dependency of jobs/
    RayTrainReportCallback = object


class SparseFoldReport(RayTrainReportCallback):
    """RayTrainReportCallback that reports (with a checkpoint) only every `frequency` rounds and at the
    end. The stock callback reports metrics every round, and each report is a cross-worker sync that
    costs ~2 s on a small machine; the metrics are also tagged with the fold task and the round."""

    def __init__(self, task: str, frequency: int):
        super().__init__(frequency=frequency, checkpoint_at_end=True)
        self.task = task

    def after_iteration(self, model, epoch, evals_log):
        self._evals_log = evals_log
        if self._frequency and (epoch + 1) % self._frequency == 0:
            self._last_checkpoint_iteration = epoch
            self._save_and_report_checkpoint(self._get_report_dict(evals_log), model)
        return False

    def _save_and_report_checkpoint(self, report_dict, model):
        super()._save_and_report_checkpoint({**report_dict, "task": self.task, "round": model.num_boosted_rounds()}, model)


def task_id(policy: str, variant: str, rep: int, fold: int) -> str:
    return f"{policy}.{variant}.r{rep}.f{fold}"


def booster_seed(base_seed: int, rep: int, fold: int) -> int:
    return base_seed * 1000 + rep * 10 + fold


def cv_worker(config: dict) -> None:
    """Runs on every Ray Train worker."""
    import ray.train

    shard = ray.train.get_dataset_shard("train").materialize().to_pandas()
    cfg = XGBConfig.model_validate(config["xgb"])
    for t in config["tasks"]:
        folds = shard[f"fold_r{t['rep']}"].to_numpy()
        dtrain, dvalid = fold_matrices(shard, config["columns"][t["columns"]], folds, t["fold"], cfg, t["seed"])
        train_booster(dtrain, dvalid, cfg, t["seed"], callbacks=[SparseFoldReport(t["id"], config["report_every"])])


def fit_on_ray(table: pd.DataFrame, columns: dict[str, list[str]], tasks: list[dict], xgb_cfg: XGBConfig, num_workers: int,
               cpus_per_worker: float, report_every: int, storage: Path) -> tuple[dict[str, xgb.Booster], float]:
    """Train `tasks` with one XGBoostTrainer fit on `num_workers`; each task names its column set
    (`columns[task["columns"]]`). Returns ({task id: booster}, wall seconds). One fit for many tasks:
    starting a Ray Train worker group costs far more than a small model."""
    import ray.data
    from ray.train import CheckpointConfig, RunConfig, ScalingConfig
    from ray.train.xgboost import XGBoostTrainer

    used = list(dict.fromkeys(c for cols in columns.values() for c in cols))
    keep = ["item_id", "y", *used, *[c for c in table.columns if c.startswith("fold_r")]]
    t0 = time.perf_counter()
    trainer = XGBoostTrainer(
        cv_worker,
        train_loop_config={"xgb": xgb_cfg.model_dump(), "tasks": tasks, "columns": columns, "report_every": report_every},
        scaling_config=ScalingConfig(num_workers=num_workers, resources_per_worker={"CPU": cpus_per_worker}),
        run_config=RunConfig(
            name=f"xgb-cv-{uuid.uuid4().hex[:8]}",  # fresh: a reused name would resume an old run
            storage_path=str(Path(storage).resolve()),
            checkpoint_config=CheckpointConfig(num_to_keep=None),
        ),
        datasets={"train": ray.data.from_pandas(table[keep].reset_index(drop=True))},
    )
    result = trainer.fit()
    final: dict[str, tuple] = {}
    for ckpt, metrics in result.best_checkpoints or []:
        tid, rnd = metrics.get("task"), metrics.get("round", -1)
        if tid is not None and (tid not in final or rnd >= final[tid][1]):
            final[tid] = (ckpt, rnd)
    missing = [t["id"] for t in tasks if t["id"] not in final]
    if missing:
        raise RuntimeError(f"XGBoostTrainer returned no final checkpoint for tasks {missing}")
    boosters = {tid: RayTrainReportCallback.get_model(ck) for tid, (ck, _) in final.items()}
    return boosters, time.perf_counter() - t0


def fit_local(table: pd.DataFrame, columns: dict[str, list[str]], tasks: list[dict], xgb_cfg: XGBConfig, nthread: int
              ) -> tuple[dict[str, xgb.Booster], float]:
    """The same tasks with plain single-process `xgboost.train` (the reference for the Ray timing)."""
    cfg = xgb_cfg.model_copy(update={"nthread": nthread})
    t0 = time.perf_counter()
    out = {}
    for t in tasks:
        folds = table[f"fold_r{t['rep']}"].to_numpy()
        dtrain, dvalid = fold_matrices(table, columns[t["columns"]], folds, t["fold"], cfg, t["seed"])
        out[t["id"]] = train_booster(dtrain, dvalid, cfg, t["seed"])
    return out, time.perf_counter() - t0


def out_of_fold(table: pd.DataFrame, columns: dict[str, list[str]], tasks: list[dict], boosters: dict[str, xgb.Booster]) -> pd.DataFrame:
    """Held-out predictions: item_id, rep, fold, y, pred for every task."""
    from rec_core.rater.xgb import predict

    parts = []
    for t in tasks:
        held = table[table[f"fold_r{t['rep']}"].to_numpy() == t["fold"]]
        parts.append(pd.DataFrame({"item_id": held["item_id"].to_numpy(), "rep": t["rep"], "fold": t["fold"],
                                   "y": held["y"].to_numpy(), "pred": predict(boosters[t["id"]], held, columns[t["columns"]])}))
    return pd.concat(parts, ignore_index=True)


def make_tasks(policy: str, variant: str, rep: int, n_folds: int, base_seed: int) -> list[dict]:
    """The fold tasks of one repetition. A and B get the same seeds, so they differ only in features."""
    return [{"id": task_id(policy, variant, rep, k), "columns": f"{policy}.{variant}", "policy": policy, "variant": variant,
             "rep": rep, "fold": k, "seed": booster_seed(base_seed, rep, k)} for k in range(n_folds)]


def fold_metrics(oof: pd.DataFrame) -> pd.DataFrame:
    from rec_core.rater.stats import regression_metrics

    rows = []
    for (rep, fold), g in oof.groupby(["rep", "fold"], sort=True):
        rows.append({"rep": rep, "fold": fold, "n": len(g), **regression_metrics(g["y"].to_numpy(), g["pred"].to_numpy())})
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
