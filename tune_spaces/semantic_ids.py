"""`genrec tune semantic_ids`: RQ-VAE search space with ASHA.

Trials report once per epoch from the Ray Train workers (collision rate before handling, reconstruction
cosine, usage), so ASHA stops trials whose codes keep colliding. Tip: `--set embeddings_dir=DIR` lets all
trials share one resumable embedding run instead of each re-encoding the items.

Sizes are searched around the preset's own (codebook size /2 or x1, levels +0 or +1, encoder widths
/2, x1 or x2): a fixed list such as 256 codes would not fit the smoke preset's 400 items, whose k-means
init needs at least one code per item in the first batch.
"""

from __future__ import annotations

from ray import tune

from tune_spaces import asha

METRIC = "collision_rate"  # LC-Rec keeps the RQ-VAE checkpoint with the lowest collision rate
MODE = "min"


def param_space(cfg) -> dict:
    dims = list(cfg.rqvae.hidden_dims)
    widths = [[max(8, d // 2) for d in dims], dims, [2 * d for d in dims]]
    return {
        "train.lr": tune.loguniform(1e-4, 1e-2),
        "rqvae.beta": tune.uniform(0.1, 0.5),
        "levels": tune.choice([cfg.levels, cfg.levels + 1]),
        "codebook_size": tune.choice(sorted({max(2, cfg.codebook_size // 2), cfg.codebook_size})),
        "rqvae.hidden_dims": tune.choice(widths),
        # ASHA compares trials on collision_rate at every epoch, so every epoch must score the codes
        "eval_every": 1,
    }


def scheduler(cfg):
    return asha(cfg.train.epochs, grace_period=min(5, cfg.train.epochs // 4))
