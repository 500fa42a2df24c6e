"""Evaluate a saved model (a `tiger` or `sasrec` run dir, or its `model/` bundle) in the shared harness.

genrec run evaluate --set checkpoint=runs/tiger-20261123-170000 [--set constrained=false]
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from jobs.common.config import JobConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from jobs.common.sequential import SyntheticConfig, load_sequential, metrics_table, most_popular_metrics


class Config(JobConfig):
    checkpoint: Path | None = Field(None, description="run dir of a tiger/sasrec job, or its model/ folder")
    splits: list[str] = Field(default_factory=lambda: ["valid", "test"])
    beams: int = Field(20, ge=1, description="beam width for generative models")
    constrained: bool = Field(True, description="trie-constrained beam search (false: unconstrained + filtering)")
    trie_mask: Literal["tensor", "callback"] = Field(
        "tensor",
        description="how the trie reaches generate(): batched "
        "tensor ops, or transformers' per-beam prefix_allowed_tokens_fn",
    )
    batch_size: int = Field(128, ge=1)
    max_users: int | None = Field(None, ge=1, description="evaluate a random subset of users")
    exclude_history: bool = False
    with_most_popular: bool = True
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="where the model decodes (auto: cuda when available)"
    )


def _device(cfg: Config) -> str:
    import torch

    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise UserFacingError("device=cuda but this machine has no CUDA device (use device=auto or cpu)")
    return "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()) else "cpu"


def _ranker(kind: str, meta: dict, state: dict, item_tokens, cfg: Config):
    if kind == "tiger":
        from rec_core.generative.model import TigerModelConfig, build_tiger
        from rec_core.generative.ranker import GenerativeRanker
        from rec_core.semantic_ids.codes import SIDVocab

        vocab = SIDVocab.from_dict(meta["vocab"])
        model = build_tiger(TigerModelConfig.model_validate(meta["model"]), vocab)
        model.load_state_dict(state)
        device = _device(cfg)
        return GenerativeRanker(
            model.to(device).eval(),
            vocab,
            item_tokens,
            num_beams=cfg.beams,
            constrained=cfg.constrained,
            max_history=meta["max_history"],
            device=device,
            mask=cfg.trie_mask,
        )
    if kind == "sasrec":
        from rec_core.baselines.sasrec import SASRec, SASRecConfig
        from rec_core.evaluation import ScoreRanker

        model = SASRec(meta["num_items"], SASRecConfig.model_validate(meta["model"]))
        model.load_state_dict(state)
        return ScoreRanker(lambda u, h: model.score(h))
    raise UserFacingError(f"saved model kind {kind!r} is not one this job can evaluate (tiger, sasrec)")


def run(cfg: Config, ctx: RunContext) -> JobResult:
    from rec_core.evaluation import evaluate_ranker
    from rec_core.generative.bundle import load_bundle

    if cfg.checkpoint is None:
        raise UserFacingError("evaluate needs --set checkpoint=<run dir of a tiger or sasrec job>")
    try:
        kind, meta, state, item_tokens = load_bundle(cfg.checkpoint)
    except FileNotFoundError as e:
        raise UserFacingError(str(e)) from None
    split, _ = load_sequential(
        meta["dataset"],
        ctx,
        meta["max_history"],
        SyntheticConfig.model_validate(meta.get("synthetic", {})),
        meta.get("seed", 0),
    )
    if [int(i) for i in split.item_ids] != [int(i) for i in meta.get("item_ids", split.item_ids)]:
        raise UserFacingError(f"the dataset {meta['dataset']!r} no longer has the item index the model was trained on")
    ranker = _ranker(kind, meta, state, item_tokens, cfg)
    out, speed = {}, {}
    for name in cfg.splits:
        if name not in ("valid", "test"):
            raise UserFacingError(f"unknown split {name!r} (valid, test)")
        res = evaluate_ranker(
            ranker,
            getattr(split, name),
            batch_size=cfg.batch_size,
            exclude_history=cfg.exclude_history,
            max_users=cfg.max_users,
            seed=0,
            progress=True,
        )
        out[name], speed[name] = res.metrics, res.users_per_s
    metrics = {**out, "users_per_s": speed}
    rows = {kind: out}
    stats = getattr(ranker, "stats", None)
    if stats is not None:
        metrics["invalid_share"] = stats.invalid_share
    if cfg.with_most_popular:
        rows["MostPopular"] = metrics["most_popular"] = most_popular_metrics(split, cfg)
    report = (
        f"Saved {kind} model `{cfg.checkpoint}` on `{meta['dataset']}`"
        + (
            f", {'constrained' if cfg.constrained else 'unconstrained'} beam search with {cfg.beams} beams, "
            f"invalid share {stats.invalid_share:.3f}"
            if stats is not None
            else ""
        )
        + ".\n\n"
        + metrics_table(rows)
    )
    return JobResult(metrics=metrics, report=report)


JOB = Job(
    name="evaluate",
    config=Config,
    run=run,
    resources=lambda cfg: {"CPU": 1.0},
    summary="Recall/NDCG@K of a saved tiger or sasrec model in the shared evaluation harness",
)

if __name__ == "__main__":
    JOB.main()
