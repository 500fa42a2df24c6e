"""NCF / NeuMF and LLM-enhanced NCF on Ray Train: `genrec run ncf --set model=gmf|mlp|neumf|llm_concat|llm_xattn`.

config -> leave-one-out split (+ item metadata text) -> [LM cache] -> TorchTrainer (DDP or DeepSpeed) ->
per-epoch validation/test evaluation -> the test figures of the best validation epoch -> report.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from pydantic import Field

from jobs.common.config import DatasetName, JobConfig, TrainConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from jobs.common.train import WorkerSession, fit_torch, load_model_state, train_config_from_loop
from rec_core.config import StrictModel
from rec_core.ncf.config import LLM_KINDS, LMConfig, ModelKind, NCFDataConfig, NCFModelConfig

METRIC = "valid/ndcg@10"


class SyntheticConfig(StrictModel):
    """dataset=synthetic: clustered users/items whose metadata text names the cluster (tests, smoke)."""

    users: int = Field(200, ge=2)
    items: int = Field(160, ge=2)
    clusters: int = Field(4, ge=1, le=8)
    per_user: int = Field(12, ge=3)
    purity: float = Field(0.9, ge=0, le=1)


class Config(JobConfig):
    dataset: DatasetName = Field(
        "ml-100k", description="ml-100k | ml-latest-small | ml-1m | any rec_core.data name | synthetic"
    )
    model: ModelKind = "neumf"
    pretrain: bool = Field(
        False, description="NeuMF only: initialise from a GMF and an MLP trained first (He et al. 3.4.1)"
    )
    pretrain_alpha: float = Field(
        0.5, ge=0, le=1, description="weight of GMF vs MLP in the pre-trained NeuMF predict layer"
    )
    ncf: NCFModelConfig = Field(default_factory=NCFModelConfig)
    lm: LMConfig = Field(default_factory=LMConfig)
    data: NCFDataConfig = Field(default_factory=NCFDataConfig)
    synthetic: SyntheticConfig = Field(default_factory=SyntheticConfig)
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=10, batch_size=256, lr=1e-3))
    explain_items: int = Field(10, ge=0, description="llm_xattn: items whose attention weights are exported")


# ---------------------------------------------------------------------------------------------- data


def load_data(cfg: Config, ctx: RunContext):
    from rec_core.ncf.data import prepare, synthetic_split

    if cfg.dataset == "synthetic":
        s = cfg.synthetic
        split, items = synthetic_split(
            s.users, s.items, s.clusters, s.per_user, cfg.data.eval_negatives, s.purity, seed=cfg.seed
        )
    else:
        from rec_core.data import load_dataset
        from rec_core.data.splits import ncf_split

        ds = load_dataset(cfg.dataset, data_dir=ctx.data_dir, mirror=ctx.mirror)
        split = ncf_split(ds.interactions, num_negatives=cfg.data.eval_negatives, seed=cfg.seed)
        items = ds.items
    return prepare(split, items, cfg.data.text_fields, seed=cfg.seed)


def lm_cache_dir(cfg: Config, ctx: RunContext) -> Path:
    return Path(cfg.lm.cache_dir) if cfg.lm.cache_dir else Path(ctx.data_dir) / "ncf_lm_cache"


# ------------------------------------------------------------------------------------ worker side


def build(lc: dict, data):
    """The model a loop config describes (LLM cache read from disk, or recomputed if this node lacks it)."""
    from rec_core.ncf.fusion import build_model
    from rec_core.ncf.lm import build_or_load_cache

    kind, lm_cfg = lc["model"], LMConfig.model_validate(lc["lm"])
    cache = None
    if kind in LLM_KINDS and lm_cfg.mode == "cache":
        cache = build_or_load_cache(
            lm_cfg, data.item_texts, lc["cache_dir"], need_tokens=kind == "llm_xattn", seed=lc["seed"]
        )
    torch.manual_seed(lc["seed"])
    return build_model(
        kind,
        data.num_users,
        data.num_items,
        NCFModelConfig.model_validate(lc["ncf"]),
        lm_cfg,
        data.item_texts,
        cache,
        lc["seed"],
    )


def train_loop(lc: dict) -> None:
    from rec_core.ncf.evaluate import evaluate
    from rec_core.ncf.train import epoch_loader, loss_fn, sampler_for

    t = train_config_from_loop(lc)
    torch.set_num_threads(max(1, int(t.cpus_per_worker)))
    data = lc["data"]
    model = build(lc, data)
    if lc.get("init_state") is not None:
        model.load_state_dict(lc["init_state"], strict=False)
    sess = WorkerSession(
        t,
        model,
        lambda params: torch.optim.Adam([p for p in params if p.requires_grad], lr=t.lr, weight_decay=t.weight_decay),
    )
    sampler = sampler_for(data, lc["num_negatives"], lc["seed"])
    exclude = data.user_items() if lc["full_ranking"] else None
    valid = data.valid.subset(lc["max_eval_users"], lc["seed"])
    test = data.test.subset(lc["max_eval_users"], lc["seed"])
    for epoch in range(sess.start_epoch, t.epochs):
        loader = sess.prepare_loader(epoch_loader(sampler, epoch, t.batch_size, lc["seed"]))
        sess.train_mode(True)
        t0, total, parts_sum, n = time.perf_counter(), 0.0, {}, 0
        for u, i, y in loader:
            with sess.autocast():
                loss, parts = loss_fn(sess.model, u, i, y)
            sess.step(loss)
            total += float(loss)
            n += 1
            for k, v in parts.items():
                parts_sum[k] = parts_sum.get(k, 0.0) + float(v)
        epoch_s = time.perf_counter() - t0
        sess.train_mode(False)
        metrics = {
            "loss": total / max(n, 1),
            "epoch_s": epoch_s,
            **{f"loss_{k}": v / max(n, 1) for k, v in parts_sum.items()},
        }
        metrics.update({f"valid/{k}": v for k, v in evaluate(sess.module, valid, exclude).items()})
        metrics.update({f"test/{k}": v for k, v in evaluate(sess.module, test, exclude).items()})
        if sess.report(metrics, epoch):  # train.time_limit_s ran out
            break


# ------------------------------------------------------------------------------------ driver side


def _loop_cfg(cfg: Config, ctx: RunContext, data, kind: str, init_state=None) -> dict:
    return {
        "model": kind,
        "ncf": cfg.ncf.model_dump(),
        "lm": cfg.lm.model_dump(mode="json"),
        "data": data,
        "seed": cfg.seed,
        "num_negatives": cfg.data.num_negatives,
        "full_ranking": cfg.data.full_ranking,
        "max_eval_users": cfg.data.max_eval_users,
        "cache_dir": str(lm_cache_dir(cfg, ctx)),
        "init_state": init_state,
    }


def _fit(cfg: Config, ctx: RunContext, data, kind: str, init_state=None):
    res = fit_torch(
        train_loop,
        _loop_cfg(cfg, ctx, data, kind, init_state),
        cfg.train,
        run_dir=ctx.out_dir / "train",
        name=kind,
        callbacks=ctx.callbacks,
    )
    if not res.history:
        raise UserFacingError(f"ncf: training {kind} reported nothing (see {ctx.out_dir / 'train'})")
    # No ctx.report_progress here: under `genrec tune` the trainer's own per-epoch reports reach Tune.
    return res


def best_epoch(history: list[dict]) -> dict:
    """The epoch with the best validation NDCG@10 (early stopping on validation, never on test)."""
    return max(history, key=lambda h: (h.get(METRIC, float("-inf")), -h["epoch"]))


def _pretrained_neumf_state(cfg: Config, ctx: RunContext, data) -> dict:
    from rec_core.ncf.models import NCF, neumf_from_pretrained

    parts = {}
    for kind in ("gmf", "mlp"):
        res = _fit(cfg, ctx, data, kind)
        m = NCF(data.num_users, data.num_items, cfg.ncf, kind=kind)
        m.load_state_dict(load_model_state(res.checkpoint_dir))
        parts[kind] = (m, best_epoch(res.history))
    return neumf_from_pretrained(parts["gmf"][0], parts["mlp"][0], cfg.ncf, cfg.pretrain_alpha).state_dict(), {
        f"pretrain_{k}/{m}": v
        for k, (_, b) in parts.items()
        for m, v in b.items()
        if m.startswith("test/") or m.startswith("valid/")
    }


def _explain(cfg: Config, ctx: RunContext, data, res) -> list[dict]:
    from rec_core.ncf.explain import explain_items
    from rec_core.ncf.lm import load_tokenizer

    lc = _loop_cfg(cfg, ctx, data, cfg.model)
    model = build(lc, data)
    model.load_state_dict(load_model_state(res.checkpoint_dir), strict=False)
    items = [int(i) for i in dict.fromkeys(data.test.positives.tolist())][: cfg.explain_items]
    tok = load_tokenizer(cfg.lm, data.item_texts, cfg.seed)
    return explain_items(model, tok, data.item_texts, items, cfg.lm.max_length)


def run(cfg: Config, ctx: RunContext) -> JobResult:
    if cfg.pretrain and cfg.model != "neumf":
        raise UserFacingError(f"pretrain=true applies to model=neumf only (got model={cfg.model})")
    t0 = time.perf_counter()
    data = load_data(cfg, ctx)
    load_s = time.perf_counter() - t0
    cache_s = 0.0
    if cfg.model in LLM_KINDS and cfg.lm.mode == "cache":
        from rec_core.ncf.lm import build_or_load_cache

        t0 = time.perf_counter()
        build_or_load_cache(
            cfg.lm, data.item_texts, lm_cache_dir(cfg, ctx), need_tokens=cfg.model == "llm_xattn", seed=cfg.seed
        )
        cache_s = time.perf_counter() - t0
    init_state, extra = (None, {})
    if cfg.pretrain:
        init_state, extra = _pretrained_neumf_state(cfg, ctx, data)
    res = _fit(cfg, ctx, data, cfg.model, init_state)
    best = best_epoch(res.history)
    from rec_core.ncf.evaluate import popularity_evaluate

    pop = popularity_evaluate(data.train_items, data.num_items, data.test, data.user_items())
    epoch_times = [h["epoch_s"] for h in res.history if "epoch_s" in h]
    metrics = {
        **{k: v for k, v in best.items() if k.startswith(("valid/", "test/"))},
        **{f"item_pop/test/{k}": v for k, v in pop.items()},
        "best_epoch": best["epoch"],
        "epochs": len(res.history),
        "final_loss": res.history[-1]["loss"],
        "epoch_s_mean": float(np.mean(epoch_times)) if epoch_times else float("nan"),
        "load_s": load_s,
        "lm_cache_s": cache_s,
        **data.stats,
        **extra,
    }
    artifacts = ["history.json"]
    (ctx.out_dir / "history.json").write_text(json.dumps(res.history, indent=1))
    explanation = []
    if cfg.model == "llm_xattn" and cfg.explain_items and res.checkpoint_dir:
        explanation = _explain(cfg, ctx, data, res)
        (ctx.out_dir / "attention.json").write_text(json.dumps(explanation, indent=1))
        artifacts.append("attention.json")
    return JobResult(metrics=metrics, report=_report(cfg, metrics, res.history, explanation), artifacts=artifacts)


def _report(cfg: Config, m: dict, history: list[dict], explanation: list[dict]) -> str:
    lm = f" · LM `{cfg.lm.name}` ({cfg.lm.mode} mode, LoRA r={cfg.lm.lora_rank})" if cfg.model in LLM_KINDS else ""
    lines = [
        f"## NCF · `{cfg.model}`{' (pre-trained from GMF+MLP)' if cfg.pretrain else ''} on `{cfg.dataset}`{lm}",
        "",
        f"Leave-one-out; NCF protocol = held-out item ranked among {cfg.data.eval_negatives} sampled negatives; "
        f"full ranking = among all items minus the user's training items. Test figures are those of the epoch with "
        f"the best validation NDCG@10 (epoch {m['best_epoch']} of {m['epochs']}).",
        "",
        "| split | HR@10 | NDCG@10 | full Recall@10 | full NDCG@10 |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in ("valid", "test", "item_pop/test"):
        lines.append(
            f"| {s.replace('item_pop/test', 'test, ItemPop baseline')} | "
            + " | ".join(
                f"{m.get(f'{s}/{k}', float('nan')):.4f}" for k in ("hr@10", "ndcg@10", "full_recall@10", "full_ndcg@10")
            )
            + " |"
        )
    lines += [
        "",
        f"Ties between the target and a candidate are broken at random (a model with constant scores ranks at chance); "
        f"test targets with a tie: {m.get('test/targets_with_ties', float('nan')):.1%} of the sampled rankings, "
        f"{m.get('test/full_targets_with_ties', float('nan')):.1%} of the full rankings.",
        "",
        f"Users {m['users']}, items {m['items']}, training pairs {m['train_pairs']}, items without metadata "
        f"{m['items_without_metadata']}. Mean epoch time {m['epoch_s_mean']:.2f} s; LM cache {m['lm_cache_s']:.1f} s.",
        "",
        "| epoch | loss | valid NDCG@10 | test NDCG@10 | epoch s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for h in history:
        lines.append(
            f"| {h['epoch']} | {h['loss']:.4f} | {h.get('valid/ndcg@10', float('nan')):.4f} "
            f"| {h.get('test/ndcg@10', float('nan')):.4f} | {h.get('epoch_s', float('nan')):.2f} |"
        )
    if explanation:
        lines += ["", "### What the ID query attended to (top metadata tokens; `attention.json` has all weights)", ""]
        for e in explanation[:5]:
            lines.append(
                f"- item {e['item']} — {e['text'][:80]!r}: " + ", ".join(f"`{t}` {w:.2f}" for t, w in e["top"])
            )
    return "\n".join(lines)


def resources(cfg: Config) -> dict[str, float]:
    return cfg.train.resources()


JOB = Job(
    name="ncf",
    config=Config,
    run=run,
    summary="NCF/NeuMF and LLM-enhanced NCF (metadata concat, cross-attention + InfoNCE, LoRA) on Ray Train",
    resources=resources,
    in_demo=True,
    demo_order=60,
    headline=("test/ndcg@10", "item_pop/test/ndcg@10"),
)

if __name__ == "__main__":
    JOB.main()
