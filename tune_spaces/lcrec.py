"""LC-Rec search space for `genrec tune lcrec`: learning rate, LoRA rank / alpha / dropout, warm-up and the
task mix; ASHA stops weak trials early on the validation seqrec loss (reported once per epoch by the trainer)."""

from __future__ import annotations

from ray import tune

from tune_spaces import asha

METRIC = "valid/loss"
MODE = "min"


def param_space(cfg) -> dict:
    return {
        "train.lr": tune.loguniform(1e-4, 3e-3),
        "warmup_steps": tune.choice([10, 50, 200]),
        "model.lora_r": tune.choice([4, 8, 16]),
        "model.lora_alpha": tune.choice([16, 32]),
        "model.lora_dropout": tune.uniform(0.0, 0.1),
        "tasks.item2index": tune.choice([0.5, 1.0, 2.0]),
        "tasks.fusion": tune.choice([0.0, 0.5]),
    }


def scheduler(cfg):
    return asha(cfg.train.epochs, grace_period=1)
