"""SASRec baseline (Kang & McAuley 2018) on Ray Train, evaluated in the same harness as TIGER.

genrec run sasrec --preset cpu --set dataset=beauty --set loss=ce    # or loss=bce (the original)
"""

from __future__ import annotations

import time
from typing import Literal

import torch
from pydantic import Field

from jobs.common.config import DatasetName, JobConfig, TrainConfig
from jobs.common.job import Job, JobResult, RunContext
from jobs.common.sequential import SyntheticConfig, load_sequential, metrics_table, most_popular_metrics
from rec_core.baselines.sasrec import SASRec, SASRecConfig, SASRecSequences
from rec_core.config import StrictModel


class SASRecEval(StrictModel):
    batch_size: int = Field(512, ge=1)
    every: int = Field(1, ge=1)
    valid_users: int | None = Field(5000, ge=1)
    patience: int = Field(10, ge=1)
    exclude_history: bool = False
    test_users: int | None = Field(
        None,
        ge=1,
        description="final evaluation on a fixed random subset (None: all); "
        "same subset as a tiger run with the same value",
    )


class Config(JobConfig):
    dataset: DatasetName = "beauty"
    loss: Literal["ce", "bce"] = Field("ce", description="ce: softmax over all items; bce: original, one negative")
    max_history: int = Field(20, ge=1)
    warmup_steps: int = Field(100, ge=0)
    model: SASRecConfig = Field(default_factory=SASRecConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=200, batch_size=256, lr=1e-3))
    eval: SASRecEval = Field(default_factory=SASRecEval)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)


def _model_cfg(cfg_model: dict, loss: str, max_history: int) -> SASRecConfig:
    return SASRecConfig.model_validate({**cfg_model, "loss": loss, "max_len": max_history})


def train_loop(c: dict) -> None:
    from jobs.common.train import WorkerSession, train_config_from_loop
    from rec_core.evaluation import ScoreRanker, evaluate_ranker
    from rec_core.generative.train import fast_forward, warmup_inverse_sqrt

    train_cfg = train_config_from_loop(c)
    torch.manual_seed(c["seed"])
    model = SASRec(c["num_items"], SASRecConfig.model_validate(c["model"]))
    sess = WorkerSession(
        train_cfg, model, lambda p: torch.optim.AdamW(p, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    )
    ds = SASRecSequences(c["train_seqs"], c["num_items"], model.cfg.max_len, seed=c["seed"] + sess.rank)
    loader = sess.prepare_loader(
        torch.utils.data.DataLoader(ds, batch_size=train_cfg.batch_size, shuffle=True, collate_fn=ds.collate)
    )
    sched = warmup_inverse_sqrt(sess.optimizer, c["warmup_steps"])
    extra = dict(sess.extra_state or {})
    best, bad, last = extra.get("best", -1.0), extra.get("bad", 0), extra.get("last", -1.0)
    fast_forward(sched, extra.get("steps", 0))
    valid = c["valid"].iloc[sess.rank :: sess.world_size]
    for epoch in range(sess.start_epoch, train_cfg.epochs):
        t0, total, n = time.perf_counter(), 0.0, 0
        for batch in loader:
            with sess.autocast():
                loss = sess.module.loss(batch) if sess.model is sess.module else _wrapped_loss(sess.model, batch)
            sess.step(loss)
            sched.step()
            total, n = total + float(loss.detach()), n + 1
        metrics = {"loss": total / max(n, 1), "epoch_s": time.perf_counter() - t0}
        if (epoch + 1) % c["every"] == 0 or epoch + 1 == train_cfg.epochs:
            res = evaluate_ranker(
                ScoreRanker(lambda u, h: sess.module.score(h, sess.device)), valid, batch_size=c["eval_batch"]
            )
            sums = torch.tensor(
                [res.metrics["ndcg@10"] * res.users, res.metrics["recall@10"] * res.users, res.users],
                dtype=torch.float64,
            )
            if sess.world_size > 1 and torch.distributed.is_initialized():
                torch.distributed.all_reduce(sums)
            metrics["valid/ndcg@10"], metrics["valid/recall@10"] = float(sums[0] / sums[2]), float(sums[1] / sums[2])
            last = metrics["valid/ndcg@10"]
            best, bad = (last, 0) if last > best else (best, bad + 1)
        metrics.setdefault("valid/ndcg@10", last)  # checkpoints are ranked by it
        metrics["valid/best_ndcg@10"] = best
        extra = {"best": best, "bad": bad, "last": last, "steps": extra.get("steps", 0) + n}
        out_of_time = sess.report(metrics, epoch, extra_state=extra, force_checkpoint=bad >= c["patience"])
        if bad >= c["patience"] or out_of_time:
            break


def _wrapped_loss(wrapped, batch):
    """Go through the DDP/DeepSpeed wrapper's forward (gradient hooks), then SASRec's loss head."""
    module = wrapped.module
    h = wrapped(batch["seq"])
    return module.loss(batch, hidden=h)


def run(cfg: Config, ctx: RunContext) -> JobResult:
    from jobs.common.train import fit_torch, load_model_state
    from rec_core.evaluation import ScoreRanker, evaluate_ranker
    from rec_core.generative.bundle import save_bundle

    split, _ = load_sequential(cfg.dataset, ctx, cfg.max_history, cfg.synthetic, cfg.seed)
    n_items = len(split.item_ids)
    mcfg = _model_cfg(cfg.model.model_dump(), cfg.loss, cfg.max_history)
    valid_sub = split.valid
    if cfg.eval.valid_users and len(valid_sub) > cfg.eval.valid_users:
        valid_sub = valid_sub.sample(n=cfg.eval.valid_users, random_state=cfg.seed)
    loop_cfg = {
        "seed": cfg.seed,
        "model": mcfg.model_dump(),
        "num_items": n_items,
        "train_seqs": split.train,
        "valid": valid_sub,
        "warmup_steps": cfg.warmup_steps,
        "every": cfg.eval.every,
        "eval_batch": cfg.eval.batch_size,
        "patience": cfg.eval.patience,
    }
    result = fit_torch(
        train_loop,
        loop_cfg,
        cfg.train,
        run_dir=ctx.out_dir / "train",
        name=f"sasrec-{cfg.loss}",
        score_metric="valid/ndcg@10",
        callbacks=ctx.callbacks,
    )
    fit_s = result.fit_s
    model = SASRec(n_items, mcfg)
    model.load_state_dict(load_model_state(result.model_checkpoint()))
    save_bundle(
        ctx.out_dir / "model",
        "sasrec",
        model.state_dict(),
        {
            "dataset": cfg.dataset,
            "max_history": cfg.max_history,
            "model": mcfg.model_dump(),
            "num_items": n_items,
            "seed": cfg.seed,
            "synthetic": cfg.synthetic.model_dump(),
        },
    )
    ranker = ScoreRanker(lambda u, h: model.score(h))
    kw = dict(
        batch_size=cfg.eval.batch_size, exclude_history=cfg.eval.exclude_history, max_users=cfg.eval.test_users, seed=0
    )
    ours = {
        "valid": evaluate_ranker(ranker, split.valid, **kw).metrics,
        "test": evaluate_ranker(ranker, split.test, **kw).metrics,
    }
    pop = most_popular_metrics(split, cfg.eval)
    hist = result.history
    report = "\n".join(
        [
            f"SASRec ({cfg.loss.upper()} loss) on `{cfg.dataset}`: {n_items} items, {len(split.test)} users. "
            f"Trained {len(hist)} epochs in {fit_s:.0f} s; full ranking, history masked: {cfg.eval.exclude_history}; "
            "users: "
            f"{'all' if cfg.eval.test_users is None else f'a fixed random {cfg.eval.test_users}'}.",
            "",
            metrics_table({f"SASRec-{cfg.loss.upper()}": ours, "MostPopular": pop}),
        ]
    )
    return JobResult(
        metrics={**ours, "most_popular": pop, "epochs_trained": len(hist), "fit_s": fit_s},
        report=report,
        artifacts=["model/meta.json", "model/state.pt"],
    )


JOB = Job(
    name="sasrec",
    config=Config,
    run=run,
    summary="SASRec baseline (CE or BCE loss) in the shared evaluation harness",
    resources=lambda cfg: cfg.train.resources(),
    headline=("test/recall@10", "most_popular/test/recall@10"),
)

if __name__ == "__main__":
    JOB.main()
