"""`genrec tune semantic_ids`: RQ-VAE search space with ASHA.

Trials report once per epoch from the Ray Train workers (collision rate before handling, reconstruction
cosine, usage), so ASHA stops trials whose codes keep colliding. Tip: `--set embeddings_dir=DIR` lets all
trials share one resumable embedding run instead of each re-encoding the items.
"""
from __future__ import annotations

from ray import tune
from ray.tune.schedulers import ASHAScheduler

METRIC = "collision_rate"   # LC-Rec keeps the RQ-VAE checkpoint with the lowest collision rate
MODE = "min"


def param_space(cfg) -> dict:
    return {
        "train.lr": tune.loguniform(1e-4, 1e-2),
        "rqvae.beta": tune.uniform(0.1, 0.5),
        "levels": tune.choice([3, 4]),
        "codebook_size": tune.choice([128, 256]),
        "rqvae.hidden_dims": tune.choice([[256, 128], [512, 256, 128], [1024, 512, 256, 128]]),
    }


def scheduler(cfg):
    epochs = cfg.train.epochs
    return ASHAScheduler(time_attr="training_iteration", max_t=max(epochs, 1),
                         grace_period=max(1, min(5, epochs // 4)), reduction_factor=2)
