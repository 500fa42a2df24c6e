"""`genrec tune rag_sentiment`: learning rate, epochs and LoRA rank (0 = full fine-tune), with ASHA
stopping weak trials on validation accuracy after each epoch."""

from __future__ import annotations

METRIC = "valid/accuracy"
MODE = "max"
EPOCHS = [2, 3, 5]


def param_space(cfg) -> dict:
    from ray import tune

    return {
        "train.lr": tune.loguniform(1e-5, 3e-3),
        "train.epochs": tune.choice(EPOCHS),
        "model.lora_rank": tune.choice([0, 4, 8, 16]),
    }


def scheduler(cfg):
    from tune_spaces import asha

    # one Tune iteration per epoch report (forwarded from Ray Train); the longest trial sets max_t
    return asha(max(EPOCHS), grace_period=1)
