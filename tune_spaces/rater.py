"""`genrec tune rater`: XGBoost hyperparameters of the GenAI rater (variant B, main leakage policy).

Trials tune on folds of *other* seeds (100+) than the A/B evaluation (cfg.cv.seeds), so the reported
A/B is not measured on the folds the hyperparameters were picked on. Each trial runs one Ray Train fit
per repetition and reports the running CV RMSE after each, which is what ASHA stops on. The feature
stages (posters, LLM plot scores, embeddings) are shared by all trials through one stage dir.
"""

from __future__ import annotations

from ray import tune

from rec_core.paths import default_data_dir
from tune_spaces import asha

METRIC = "valid/rmse"
MODE = "min"


def param_space(cfg) -> dict:
    reps = len(cfg.cv.seeds)
    stage_dir = cfg.features.stage_dir or (cfg.data_dir or default_data_dir()) / "rater_stages"
    return {
        "xgb.max_depth": tune.randint(3, 9),
        "xgb.eta": tune.loguniform(0.01, 0.3),
        "xgb.subsample": tune.uniform(0.5, 1.0),
        "xgb.colsample_bytree": tune.uniform(0.4, 1.0),
        "xgb.min_child_weight": tune.loguniform(0.5, 20.0),
        "xgb.num_boost_round": tune.choice([300, 600, 1200]),  # upper bound: early stopping picks the count
        "xgb.early_stopping_rounds": tune.choice([20, 40, 80]),
        # fixed for every trial
        "cv.seeds": [100 + i for i in range(reps)],
        "cv.variants": ["B"],
        "cv.fit_group": "repetition",
        "cv.single_process_check": False,
        "data.compare_policies": [],
        "features.stage_dir": str(stage_dir),
    }


def scheduler(cfg):
    # One result per repetition: ASHA can stop a weak trial after its first repetition.
    return asha(len(cfg.cv.seeds), grace_period=1)
