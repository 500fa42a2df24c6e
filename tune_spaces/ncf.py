"""Search spaces for `genrec tune ncf` (ASHA stops weak trials after each epoch's validation report).

NeuMF family: embedding sizes, tower, learning rate, negatives per positive (He et al. sweep the same).
LLM fusion: additionally the contrastive weight and temperature (cross-attention) and the LoRA rank
(only in dynamic mode: a cached LM cannot be tuned).
"""

from __future__ import annotations

from ray import tune

from tune_spaces import asha

METRIC = "valid/ndcg@10"
MODE = "max"

TOWERS = [[32, 16, 8], [64, 32, 16, 8], [128, 64, 32, 16]]


def param_space(cfg) -> dict:
    space = {
        "train.lr": tune.loguniform(1e-4, 1e-2),
        "data.num_negatives": tune.choice([1, 2, 4, 8]),
        "ncf.factors": tune.choice([8, 16, 32, 64]),
        "ncf.layers": tune.choice(TOWERS),
    }
    if cfg.model in ("llm_concat", "llm_xattn"):
        space["ncf.meta_dim"] = tune.choice([16, 32, 64])
    if cfg.model == "llm_xattn":
        space["ncf.contrastive_weight"] = tune.choice([0.0, 0.05, 0.1, 0.3, 1.0])
        space["ncf.temperature"] = tune.loguniform(0.03, 1.0)
    if cfg.model in ("llm_concat", "llm_xattn") and cfg.lm.mode == "dynamic":
        space["lm.lora_rank"] = tune.choice([0, 4, 8, 16])
    return space


def scheduler(cfg):
    # One "iteration" = one epoch report from the trainer. Two epochs before the first cut: after one, a low
    # learning rate looks bad that would overtake a high one by epoch 4.
    return asha(cfg.train.epochs, grace_period=2)
