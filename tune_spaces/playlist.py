"""`genrec tune playlist`: model width, learning rate and dropout; ASHA on the per-epoch greedy valid NDCG@10."""

from ray import tune

from tune_spaces import asha

METRIC = "valid/ndcg@10"
MODE = "max"


def param_space(cfg) -> dict:
    return {
        "train.lr": tune.loguniform(3e-4, 5e-3),
        "model.d_model": tune.choice([64, 128, 256]),
        "model.dropout": tune.uniform(0.0, 0.3),
        "model.freeze_text_embed": tune.choice([True, False]),
    }


def scheduler(cfg):
    return asha(cfg.train.epochs, grace_period=cfg.train.epochs // 4)
