"""TIGER search space for `genrec tune tiger`: learning rate, warm-up, dropout, depth, beam width;
ASHA stops weak trials early on validation NDCG@10 (reported once per epoch by the trainer)."""

from __future__ import annotations

from ray import tune

from tune_spaces import asha

METRIC = "valid/ndcg@10"
MODE = "max"


def param_space(cfg) -> dict:
    return {
        "train.lr": tune.loguniform(3e-4, 5e-3),
        "warmup_steps": tune.choice([100, 300, 1000, 3000]),
        "model.dropout": tune.uniform(0.0, 0.3),
        "model.num_layers": tune.choice([2, 4]),
        "model.num_decoder_layers": tune.choice([2, 4]),
        "eval.beams": tune.choice([10, 20, 30]),
    }


def scheduler(cfg):
    # One report per epoch: a trial gets at least `grace` epochs, at most the config's epochs.
    return asha(cfg.train.epochs, grace_period=2)
