"""TIGER (Rajput et al. 2023): a T5 trained from scratch on semantic-ID sequences, trained with Ray Train
(DDP, or DeepSpeed with `train.deepspeed=true`), evaluated with trie-constrained beam search.

    genrec run tiger --preset cpu --set dataset=beauty [--set codes=runs/semantic_ids-.../codes.parquet]

Config -> split + codes (a given `semantic_ids` table, the dataset's released IDs, or k-means codes made here) ->
Ray Train fit (validation NDCG@10 each `eval.every` epochs, early stopping, best checkpoint) -> full valid/test
evaluation in the shared harness -> report (beside MostPopular).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import torch
from pydantic import Field

from data_pipelines.embed import EmbedConfig
from jobs.common.config import DatasetName, JobConfig, TrainConfig
from jobs.common.job import Job, JobResult, RunContext
from jobs.common.sequential import (
    SyntheticConfig,
    aligned_codes,
    codes_job_resources,
    load_sequential,
    metrics_table,
    most_popular_metrics,
    resolve_item_codes,
)
from rec_core.config import StrictModel
from rec_core.generative.model import TigerModelConfig, build_tiger
from rec_core.semantic_ids.codes import SIDVocab


class EvalConfig(StrictModel):
    beams: int = Field(20, ge=1, description="beam width (>= the largest K)")
    batch_size: int = Field(128, ge=1, description="users per generate() call")
    every: int = Field(1, ge=1, description="validate every N epochs")
    valid_users: int | None = Field(2000, ge=1, description="users in the per-epoch validation subset (None: all)")
    patience: int = Field(5, ge=1, description="validations without improvement before early stopping")
    compare_users: int = Field(
        1000,
        ge=0,
        description="test users for the decoding comparison (trie as tensors, trie "
        "through the prefix_allowed_tokens_fn callback, unconstrained + filtering)",
    )
    trie_mask: Literal["tensor", "callback"] = Field(
        "tensor",
        description="how the trie reaches generate(): batched "
        "tensor ops, or transformers' per-beam prefix_allowed_tokens_fn",
    )
    exclude_history: bool = Field(False, description="mask history items (applied identically to every model)")
    test_users: int | None = Field(
        None,
        ge=1,
        description="final valid/test evaluation on a fixed random subset of "
        "users (None: all); the same subset for every model in the run",
    )


class Config(JobConfig):
    dataset: DatasetName = "beauty"
    codes: Path | None = Field(
        None,
        description="codes.parquet from `genrec run semantic_ids` (used as is: nothing "
        "is embedded); None: made by codes_source",
    )
    codes_source: Literal["kmeans", "released"] = Field(
        "kmeans",
        description="when codes is None: embed item text (the shared embedding stage) + residual k-means "
        "here (a quick stand-in for an RQ-VAE run), or the dataset's released SIDs",
    )
    kmeans_levels: int = Field(3, ge=1, description="codes_source=kmeans: levels before the collision level")
    kmeans_codebook: int = Field(256, ge=2)
    embed: EmbedConfig = Field(
        default_factory=EmbedConfig,
        description="codes_source=kmeans: the item-text embedding "
        "stage (its text_fields are the dataset's text columns)",
    )
    max_history: int = Field(20, ge=1)
    recent_windows: int | None = Field(
        None,
        ge=1,
        description="train on each user's last N sliding windows only (None: all; the quick preset's shorter epochs)",
    )
    warmup_steps: int = Field(1000, ge=0)
    model: TigerModelConfig = Field(default_factory=TigerModelConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=20, batch_size=256, lr=1e-3))
    eval: EvalConfig = Field(default_factory=EvalConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)


# ---------------------------------------------------------------------------------------------
# codes


# ---------------------------------------------------------------------------------------------
# Ray Train worker loop


def _sharded_valid_ndcg(model, vocab, item_tokens, valid, beams, batch_size, max_history, rank, world, device):
    """Each rank evaluates its share of the validation subset; sums are all-reduced so every rank sees
    the same figure (and makes the same early-stopping decision)."""
    from rec_core.evaluation import evaluate_ranker
    from rec_core.generative.ranker import GenerativeRanker

    part = valid.iloc[rank::world]
    ranker = GenerativeRanker(model, vocab, item_tokens, num_beams=beams, max_history=max_history, device=device)
    res = evaluate_ranker(ranker, part, batch_size=batch_size)
    sums = torch.tensor(
        [res.metrics[k] * res.users for k in ("ndcg@10", "recall@10")] + [res.users], dtype=torch.float64
    )
    if world > 1 and torch.distributed.is_initialized():
        torch.distributed.all_reduce(sums)
    n = max(float(sums[2]), 1.0)
    return {"valid/ndcg@10": float(sums[0]) / n, "valid/recall@10": float(sums[1]) / n}


def train_loop(c: dict) -> None:
    from jobs.common.train import WorkerSession, train_config_from_loop
    from rec_core.generative.data import BucketCollator, LengthBuckets, TigerCollator, WindowDataset
    from rec_core.generative.train import fast_forward, tiger_loss, warmup_inverse_sqrt

    train_cfg = train_config_from_loop(c)
    ev: EvalConfig = EvalConfig.model_validate(c["eval"])
    vocab = SIDVocab.from_dict(c["vocab"])
    torch.manual_seed(c["seed"])
    model = build_tiger(TigerModelConfig.model_validate(c["model"]), vocab)
    sess = WorkerSession(
        train_cfg, model, lambda params: torch.optim.AdamW(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    )
    ds = WindowDataset(*c["windows"])
    # Each item of LengthBuckets is a whole batch of similar-length windows: far less padding.
    buckets = LengthBuckets(ds, train_cfg.batch_size, seed=c["seed"])
    collate = BucketCollator(TigerCollator(vocab, c["item_tokens"], ds, c["max_history"]))
    loader = sess.prepare_loader(torch.utils.data.DataLoader(buckets, batch_size=1, shuffle=True, collate_fn=collate))
    sched = warmup_inverse_sqrt(sess.optimizer, c["warmup_steps"])
    extra = dict(sess.extra_state or {})
    best, bad, last = extra.get("best", -1.0), extra.get("bad", 0), extra.get("last", -1.0)
    fast_forward(sched, extra.get("steps", 0))
    for epoch in range(sess.start_epoch, train_cfg.epochs):
        t0, total, n = time.perf_counter(), 0.0, 0
        if hasattr(getattr(loader, "sampler", None), "set_epoch"):  # a new shuffle per epoch across DDP ranks
            loader.sampler.set_epoch(epoch)
        batches, data_s = iter(loader), 0.0
        while True:
            t_data = time.perf_counter()  # the input pipeline's share: time spent waiting for the next batch
            batch = next(batches, None)
            data_s += time.perf_counter() - t_data
            if batch is None:
                break
            with sess.autocast():
                loss = tiger_loss(sess.model, batch)
            sess.step(loss)
            sched.step()
            total, n = total + float(loss.detach()), n + 1
        epoch_s = time.perf_counter() - t0
        metrics = {"loss": total / max(n, 1), "epoch_s": epoch_s, "input_share": data_s / epoch_s, "validated": 0}
        if (epoch + 1) % ev.every == 0 or epoch + 1 == train_cfg.epochs:
            metrics["validated"] = 1
            metrics.update(
                _sharded_valid_ndcg(
                    sess.module,
                    vocab,
                    c["item_tokens"],
                    c["valid"],
                    ev.beams,
                    ev.batch_size,
                    c["max_history"],
                    sess.rank,
                    sess.world_size,
                    sess.device,
                )
            )
            last = metrics["valid/ndcg@10"]
            if last > best:
                best, bad = metrics["valid/ndcg@10"], 0
            else:
                bad += 1
        # Every report carries the newest validation score: Ray ranks checkpoints by it (best checkpoint).
        metrics.setdefault("valid/ndcg@10", last)
        metrics["valid/best_ndcg@10"] = best
        extra = {"best": best, "bad": bad, "last": last, "steps": extra.get("steps", 0) + n}
        out_of_time = sess.report(metrics, epoch, extra_state=extra, force_checkpoint=bad >= ev.patience)
        if bad >= ev.patience or out_of_time:
            break


# ---------------------------------------------------------------------------------------------
# driver


def run(cfg: Config, ctx: RunContext) -> JobResult:
    from jobs.common.train import fit_torch, load_model_state
    from rec_core.evaluation import evaluate_ranker
    from rec_core.generative.bundle import save_bundle
    from rec_core.generative.data import sliding_windows
    from rec_core.generative.ranker import GenerativeRanker

    split, features = load_sequential(cfg.dataset, ctx, cfg.max_history, cfg.synthetic, cfg.seed)
    codes = resolve_item_codes(cfg, ctx, split, features)
    item_codes = aligned_codes(codes, split.item_ids, cfg.dataset)
    vocab = SIDVocab(codes.codebook_sizes, cfg.model.num_user_tokens)
    item_tokens = vocab.item_tokens(item_codes)
    windows = sliding_windows(split.train, cfg.max_history, recent=cfg.recent_windows)
    valid_sub = split.valid
    if cfg.eval.valid_users and len(valid_sub) > cfg.eval.valid_users:
        valid_sub = valid_sub.sample(n=cfg.eval.valid_users, random_state=cfg.seed)
    loop_cfg = {
        "seed": cfg.seed,
        "eval": cfg.eval.model_dump(),
        "model": cfg.model.model_dump(),
        "vocab": vocab.to_dict(),
        "item_tokens": item_tokens,
        "windows": windows,
        "valid": valid_sub,
        "max_history": cfg.max_history,
        "warmup_steps": cfg.warmup_steps,
    }
    result = fit_torch(
        train_loop,
        loop_cfg,
        cfg.train,
        run_dir=ctx.out_dir / "train",
        name="tiger",
        score_metric="valid/ndcg@10",
        callbacks=ctx.callbacks,
    )
    fit_s = result.fit_s
    model = build_tiger(cfg.model, vocab)
    model.load_state_dict(load_model_state(result.model_checkpoint()))
    model.eval()
    meta = {
        "dataset": cfg.dataset,
        "max_history": cfg.max_history,
        "model": cfg.model.model_dump(),
        "vocab": vocab.to_dict(),
        "item_ids": split.item_ids.tolist(),
        "seed": cfg.seed,
        "synthetic": cfg.synthetic.model_dump(),
    }
    save_bundle(ctx.out_dir / "model", "tiger", model.state_dict(), meta, item_tokens)
    # The driver decodes on its own GPU when the run trains on GPUs and it has one (a head node may not).
    device = "cuda" if cfg.train.use_gpu and torch.cuda.is_available() else "cpu"
    model.to(device)

    # Full evaluation (constrained), then the same model without the trie on a subset for the speed/validity comparison.
    ranker = GenerativeRanker(
        model,
        vocab,
        item_tokens,
        num_beams=cfg.eval.beams,
        max_history=cfg.max_history,
        device=device,
        mask=cfg.eval.trie_mask,
    )
    kw = dict(
        batch_size=cfg.eval.batch_size,
        exclude_history=cfg.eval.exclude_history,
        progress=True,
        max_users=cfg.eval.test_users,
        seed=0,
    )
    valid = evaluate_ranker(ranker, split.valid, **kw)
    test = evaluate_ranker(ranker, split.test, **kw)
    tiger = {"valid": valid.metrics, "test": test.metrics}
    invalid_constrained = ranker.stats.invalid
    decode = {}
    if cfg.eval.compare_users:
        n = min(cfg.eval.compare_users, len(split.test))
        sub = split.test.sample(n=n, random_state=cfg.seed)
        for name, constrained, mask in (
            ("constrained", True, "tensor"),
            ("constrained_callback", True, "callback"),
            ("unconstrained", False, "tensor"),
        ):
            r = GenerativeRanker(
                model,
                vocab,
                item_tokens,
                num_beams=cfg.eval.beams,
                constrained=constrained,
                max_history=cfg.max_history,
                trie=ranker.trie,
                device=device,
                mask=mask,
            )
            res = evaluate_ranker(r, sub, batch_size=cfg.eval.batch_size, exclude_history=cfg.eval.exclude_history)
            decode[name] = {
                "users_per_s": res.users_per_s,
                "invalid_share": r.stats.invalid_share,
                "recall@10": res.metrics["recall@10"],
                "ndcg@10": res.metrics["ndcg@10"],
            }
    pop = most_popular_metrics(split, cfg.eval)
    hist = result.history
    input_share = _mean_share(hist)
    engine = f"DeepSpeed ZeRO-{cfg.train.zero_stage}" if cfg.train.deepspeed else "DDP"
    best_valid = max((h.get("valid/ndcg@10", -1) for h in hist), default=float("nan"))
    users = "all" if cfg.eval.test_users is None else f"a fixed random {cfg.eval.test_users} (same for every row)"
    report = "\n".join(
        [
            f"TIGER on `{cfg.dataset}`: {len(split.item_ids)} items, {len(split.test)} users, "
            f"{len(windows[2])} training windows; semantic IDs {codes.levels} levels, codebooks "
            f"{list(codes.codebook_sizes)}; vocabulary {vocab.size} tokens.",
            f"Trained {len(hist)} epochs in {fit_s:.0f} s on {cfg.train.num_workers} worker(s) "
            f"({engine}, {cfg.train.precision}); best valid NDCG@10 (subset of {len(valid_sub)}) {best_valid:.4f}; "
            f"the input pipeline took {100 * input_share:.1f} % of the epochs' time.",
            f"Evaluation: trie-constrained beam search, {cfg.eval.beams} beams, full ranking, history masked: "
            f"{cfg.eval.exclude_history}, users: {users}. Invalid IDs returned: {invalid_constrained}.",
            "",
            metrics_table({"TIGER": tiger, "MostPopular": pop}),
            "",
            "Decoding on the same model and test subset: "
            + ", ".join(
                f"{k}: {v['users_per_s']:.1f} users/s, invalid share {v['invalid_share']:.3f}, "
                f"R@10 {v['recall@10']:.4f}"
                for k, v in decode.items()
            ),
            "",
            "Per-epoch: "
            + "; ".join(
                f"{i}: loss {h.get('loss', float('nan')):.3f}"
                + (f", valid ndcg@10 {h['valid/ndcg@10']:.4f}" if h.get("validated") else "")
                for i, h in enumerate(hist)
            ),
        ]
    )
    metrics = {
        "valid": valid.metrics,
        "test": test.metrics,
        "most_popular": pop,
        "decode": decode,
        "invalid_ids_constrained": invalid_constrained,
        "epochs_trained": len(hist),
        "fit_s": fit_s,
        # Share of the training epochs spent waiting for the next batch (collation, host-to-device copy).
        "input_share": input_share,
        "eval_users_per_s": test.users_per_s,
        "eval_on_gpu": int(device == "cuda"),
    }
    return JobResult(metrics=metrics, report=report, artifacts=["model/meta.json", "model/state.pt"])


def _mean_share(hist: list[dict]) -> float:
    """The input pipeline's share of training time over the epochs that measured it (time-weighted)."""
    rows = [h for h in hist if "input_share" in h and h.get("epoch_s")]
    total = sum(h["epoch_s"] for h in rows)
    return sum(h["input_share"] * h["epoch_s"] for h in rows) / total if total else float("nan")


JOB = Job(
    name="tiger",
    config=Config,
    run=run,
    resources=codes_job_resources,
    in_demo=True,
    demo_order=20,
    uses={"codes": "semantic_ids/codes.parquet"},
    summary="TIGER generative retrieval: T5 over semantic IDs, constrained beam search, Recall/NDCG@K",
    headline=("test/recall@10", "most_popular/test/recall@10"),
)

if __name__ == "__main__":
    JOB.main()
