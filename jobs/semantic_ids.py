"""Semantic IDs (TIGER / LC-Rec stage 1): item text -> embeddings (Ray Data actors) -> RQ-VAE on Ray Train
(DDP or DeepSpeed) or residual k-means -> collision handling -> codes.parquet + quality report.

    genrec run semantic_ids --preset cpu --set dataset=beauty quantizer=rqvae
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from data_pipelines.embed import EmbedConfig, embed_items, embedding_matrix
from jobs.common.config import DatasetName, JobConfig, TrainConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from jobs.common.runtime import peak_request
from rec_core.config import StrictModel
from rec_core.semantic_ids.codes import write_codes
from rec_core.semantic_ids.collisions import resolve_collisions
from rec_core.semantic_ids.quality import code_stats, collision_floor, reconstruction_stats
from rec_core.semantic_ids.rqvae import RQVAEConfig

RELEASED = {
    "instruments": "LC-Rec / LETTER Instruments (released)",
    "industrial_scientific": "MiniOneRec Industrial_and_Scientific (released)",
}


class RQKMeansConfig(StrictModel):
    niter: int = Field(25, ge=1, description="faiss k-means iterations per level")


class Config(JobConfig):
    dataset: DatasetName = "beauty"
    quantizer: Literal["rqvae", "rqkmeans"] = "rqvae"
    collision: Literal["tiger", "sinkhorn", "none"] = Field(
        "sinkhorn", description="tiger = extra disambiguation level; sinkhorn = LC-Rec uniform last level"
    )
    levels: int = Field(3, ge=1, description="code levels before collision handling")
    codebook_size: int = Field(256, ge=2)
    max_items: int | None = Field(None, ge=1, description="use only the first N items (smoke runs)")
    sinkhorn_epsilon: float = Field(0.003, gt=0)
    sinkhorn_rounds: int = Field(20, ge=0)
    embeddings_dir: Path | None = Field(
        None, description="where embedding parts live (default: <run dir>/embeddings); share it to reuse them"
    )
    compare_released: bool = Field(True, description="score the released LC-Rec / MiniOneRec SIDs with the same code")
    kmeans_baseline: bool = Field(
        True,
        description="quantizer=rqvae: also fit plain residual k-means (same levels and codebook) on the same "
        "embeddings, and report its reconstruction and collisions beside the RQ-VAE's",
    )
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    rqvae: RQVAEConfig = Field(default_factory=RQVAEConfig)
    rqkmeans: RQKMeansConfig = Field(default_factory=RQKMeansConfig)
    eval_every: int = Field(
        5,
        ge=1,
        description="RQ-VAE: score every item's codes (recon cosine, collisions) every N epochs and after "
        "the last; the other epochs report their loss only",
    )
    train: TrainConfig = Field(default_factory=lambda: TrainConfig(epochs=20, batch_size=1024, lr=1e-3))

    def rqvae_config(self) -> RQVAEConfig:
        """levels / codebook_size are top-level so both quantizers share them."""
        return self.rqvae.model_copy(update={"levels": self.levels, "codebook_size": self.codebook_size})


# ---------------------------------------------------------------------------------------------
# RQ-VAE on Ray Train


def rqvae_train_loop(loop_cfg: dict) -> None:
    """Runs on every Ray Train worker. Batches are index slices of the in-memory matrix (`shard_batches`), not a
    DataLoader; the codes of all items are scored every `eval_every` epochs and after the last."""
    import ray
    import torch

    from jobs.common.train import WorkerSession, train_config_from_loop
    from rec_core.semantic_ids.rqvae import RQVAE, rqvae_encode_numpy, shard_batches

    train = train_config_from_loop(loop_cfg)
    torch.manual_seed(loop_cfg["seed"])
    x = np.asarray(ray.get(loop_cfg["x_ref"]), dtype=np.float32)
    qcfg = RQVAEConfig.model_validate(loop_cfg["rqvae"])
    model = RQVAE(x.shape[1], qcfg)
    sess = WorkerSession(train, model, lambda p: torch.optim.AdamW(p, lr=train.lr, weight_decay=train.weight_decay))
    xt = torch.from_numpy(x).to(sess.device)
    dtype = torch.bfloat16 if train.deepspeed and train.precision == "bf16" else None
    eval_every = loop_cfg.get("eval_every", 1)
    for epoch in range(sess.start_epoch, train.epochs):
        sess.train_mode(True)
        t_epoch = time.perf_counter()
        tot = rec = n = 0.0
        for idx in shard_batches(len(x), train.batch_size, sess.rank, sess.world_size, loop_cfg["seed"], epoch):
            xb = xt[idx.to(sess.device)]
            with sess.autocast():
                out = sess.model(xb.to(dtype) if dtype else xb)
            sess.step(out.loss)
            tot += out.loss.item() * len(xb)
            rec += out.recon_loss.item() * len(xb)
            n += len(xb)
        epoch_time = time.perf_counter() - t_epoch  # training steps only; the eval below is not counted
        metrics = {"loss": tot / n, "epoch_time_s": epoch_time, "train_recon_loss": rec / n}
        if (epoch + 1) % eval_every == 0 or epoch + 1 == train.epochs:
            codes, recon, _ = rqvae_encode_numpy(sess.module, x)
            stats = code_stats(codes, [qcfg.codebook_size] * qcfg.levels)
            metrics |= {
                **reconstruction_stats(x, recon),
                "collision_rate": stats["collision_rate"],
                **{k: v for k, v in stats.items() if k.startswith(("usage_", "perplexity_"))},
            }
        if sess.report(metrics, epoch):  # train.time_limit_s ran out
            break


def fit_rqvae(x: np.ndarray, cfg: Config, ctx: RunContext):
    import ray
    import torch

    from jobs.common.train import fit_torch, load_model_state
    from rec_core.semantic_ids.rqvae import RQVAE, rqvae_encode_numpy

    qcfg = cfg.rqvae_config()
    per_worker = len(x) / cfg.train.num_workers
    if min(per_worker, cfg.train.batch_size) < qcfg.codebook_size and qcfg.kmeans_init:
        raise UserFacingError(
            f"k-means init needs a first batch of at least codebook_size={qcfg.codebook_size} items per worker; "
            f"got batch_size={cfg.train.batch_size}, {int(per_worker)} items per worker: raise train.batch_size "
            f"or lower codebook_size"
        )
    loop_cfg = {"x_ref": ray.put(x), "rqvae": qcfg.model_dump(), "seed": cfg.seed, "eval_every": cfg.eval_every}
    res = fit_torch(
        rqvae_train_loop, loop_cfg, cfg.train, run_dir=ctx.out_dir / "train", name="rqvae", callbacks=ctx.callbacks
    )
    model = RQVAE(x.shape[1], qcfg)
    model.load_state_dict(load_model_state(res.model_checkpoint()))
    codes, recon, latents = rqvae_encode_numpy(model, x)
    books = model.codebooks()
    last_inputs = latents - sum((books[lv][codes[:, lv]] for lv in range(qcfg.levels - 1)), np.zeros_like(latents))
    torch.save(model.state_dict(), ctx.path("rqvae.pt"))
    return codes, recon, last_inputs, books[-1], res.history


def fit_rqkmeans(x: np.ndarray, cfg: Config):
    from rec_core.semantic_ids.rqkmeans import ResidualKMeans

    rq = ResidualKMeans(cfg.levels, cfg.codebook_size, niter=cfg.rqkmeans.niter, seed=cfg.seed).fit(x)
    codes, inputs = rq.encode_with_residuals(x)
    return codes, rq.decode(codes), inputs[-1], rq.codebooks()[-1], []


# ---------------------------------------------------------------------------------------------
# The job


def load_items(cfg: Config, ctx: RunContext) -> pd.DataFrame:
    from rec_core.data import load_dataset

    items = load_dataset(cfg.dataset, ctx.data_dir, ctx.mirror).items
    if cfg.max_items:
        items = items.head(cfg.max_items)
    fields = [f for f in cfg.embed.text_fields if f in items.columns]
    has_text = items[fields].notna().any(axis=1) if fields else pd.Series(False, index=items.index)
    if not has_text.any():
        raise UserFacingError(
            f"dataset {cfg.dataset!r} has no item text in the fields {cfg.embed.text_fields} (columns: "
            f"{list(items.columns)}). The Instruments mirror ships SIDs but no text: put Instruments.item.json "
            f"(LETTER's) beside its other files and run `genrec data pull instruments --from MIRROR --force`, "
            f"pull it without a mirror (downloads the text), or use dataset=industrial_scientific"
        )
    return items.reset_index(drop=True)


def released_rows(ctx: RunContext) -> dict[str, dict]:
    from rec_core.data import released_sids

    rows = {}
    for name, label in RELEASED.items():
        try:
            sids = released_sids(name, ctx.data_dir, ctx.mirror)
        except Exception as e:  # noqa: BLE001 - a missing mirror only drops the comparison row
            rows[label] = {"error": str(e)}
            continue
        codes = np.array(sids["sid"].tolist(), dtype=np.int64)
        rows[label] = code_stats(codes, [256] * codes.shape[1])
    return rows


def run(cfg: Config, ctx: RunContext) -> JobResult:
    items = load_items(cfg, ctx)
    t0 = time.perf_counter()
    emb = embed_items(items, cfg.embed, out_dir=cfg.embeddings_dir or ctx.out_dir / "embeddings")
    t_embed = time.perf_counter() - t0
    x = embedding_matrix(emb)
    if len(x) < cfg.codebook_size:
        raise UserFacingError(f"{len(x)} items is fewer than codebook_size={cfg.codebook_size}")
    fit = fit_rqvae if cfg.quantizer == "rqvae" else (lambda x_, c_, _ctx: fit_rqkmeans(x_, c_))
    t0 = time.perf_counter()
    codes, recon, last_inputs, last_book, history = fit(x, cfg, ctx)
    t_fit = time.perf_counter() - t0
    before = code_stats(codes, [cfg.codebook_size] * cfg.levels)
    final, info = resolve_collisions(
        codes,
        cfg.collision,
        last_inputs=last_inputs,
        last_codebook=last_book,
        rounds=cfg.sinkhorn_rounds,
        epsilon=cfg.sinkhorn_epsilon,
    )
    sizes = [cfg.codebook_size] * cfg.levels + ([int(final[:, -1].max()) + 1] if final.shape[1] > cfg.levels else [])
    after = code_stats(final, sizes)
    write_codes(ctx.out_dir, emb["item_id"].to_numpy(), final, sizes)
    recon_stats = reconstruction_stats(x, recon)
    ctx.report_progress({"collision_rate": before["collision_rate"], **recon_stats})
    released = released_rows(ctx) if cfg.compare_released else {}
    metrics = {
        "quality": {
            **recon_stats,
            "collision_rate_before": before["collision_rate"],
            "collision_floor": collision_floor(x),
            "collision_rate_after": after["collision_rate"],
            "max_items_per_sid_before": before["max_items_per_sid"],
            "max_items_per_sid_after": after["max_items_per_sid"],
            "unique_items": after["distinct_sids"],
            **{k: v for k, v in before.items() if k.startswith(("usage_", "perplexity_"))},
        },
        "embed": {k: v for k, v in emb.attrs["embed_stats"].items() if isinstance(v, (int, float))},
        "collisions": {k: v for k, v in info.items() if isinstance(v, (int, float, bool))},
        "items": len(items),
        "timing": {"embed_s": round(t_embed, 2), "quantize_s": round(t_fit, 2)},
    }
    if cfg.quantizer == "rqvae" and cfg.kmeans_baseline:
        t0 = time.perf_counter()
        km_codes, km_recon, *_ = fit_rqkmeans(x, cfg)
        metrics["baseline_rqkmeans"] = {
            **reconstruction_stats(x, km_recon),
            "collision_rate_before": code_stats(km_codes, [cfg.codebook_size] * cfg.levels)["collision_rate"],
            "fit_s": round(time.perf_counter() - t0, 2),
        }
    if history:
        step_s = sum(h.get("epoch_time_s", 0.0) for h in history)
        metrics["train"] = {
            "epochs": len(history),
            "final_loss": history[-1].get("loss"),
            "first_loss": history[0].get("loss"),
            # training steps only (rank 0's clock), every epoch: what the per-epoch lines show
        }
        if step_s:
            metrics["train"]["items_per_s"] = round(len(x) * len(history) / step_s, 1)
    report = quality_report(cfg, before, after, recon_stats, info, released, emb.attrs["embed_stats"])
    report += (
        f"\n\nCollision floor: {metrics['quality']['collision_floor']:.4f}. Items with identical embeddings must share "
        "an ID before handling (1 - distinct embeddings / items); only the handling step separates them."
    )
    if "baseline_rqkmeans" in metrics:
        b = metrics["baseline_rqkmeans"]
        report += (
            f"\n\nBaseline on the same embeddings: plain residual k-means ({cfg.levels} x {cfg.codebook_size}, "
            f"{b['fit_s']:.1f} s): reconstruction cosine {b['recon_cosine']:.4f} "
            f"(RQ-VAE {recon_stats['recon_cosine']:.4f}), collision rate before handling "
            f"{b['collision_rate_before']:.4f} (RQ-VAE {before['collision_rate']:.4f}).\n"
        )
    return JobResult(metrics=metrics, report=report, artifacts=["codes.parquet", "sid_meta.json"])


def stats_table(rows: dict[str, dict], levels: int) -> str:
    lv_cols = [f"usage_l{i}" for i in range(1, levels + 1)] + [f"perplexity_l{i}" for i in range(1, levels + 1)]
    head = "| codes | items | levels | collision rate | colliding items | max items/SID | " + " | ".join(lv_cols) + " |"
    out = [head, "|" + "---|" * (6 + len(lv_cols))]
    for name, s in rows.items():
        if "error" in s:
            out.append(f"| {name} | unavailable: {s['error'][:80]} |")
            continue
        cells = ["—" if c not in s else f"{s[c]:.3f}" if c.startswith("usage") else f"{s[c]:.1f}" for c in lv_cols]
        out.append(
            f"| {name} | {s['items']} | {s['levels']} | {s['collision_rate']:.4f} | {s['colliding_items']:.4f} "
            f"| {s['max_items_per_sid']} | " + " | ".join(cells) + " |"
        )
    return "\n".join(out)


def quality_report(cfg, before, after, recon, info, released, estats) -> str:
    ours = f"{cfg.quantizer} on {cfg.dataset}"
    rows = {f"{ours}, before collision handling": before, f"{ours}, after `{cfg.collision}`": after, **released}
    levels = max(s.get("levels", 0) for s in rows.values())
    return "\n".join(
        [
            f"## Semantic IDs: {cfg.quantizer}, {cfg.levels} levels x {cfg.codebook_size} codes, "
            f"collision handling `{cfg.collision}`",
            "",
            f"Items: {estats['items']} embedded with `{cfg.embed.encoder}` ({cfg.embed.kind}, "
            f"fields {cfg.embed.text_fields}); "
            f"{estats['reused']} reused from finished parts, {estats['computed']} computed.",
            "",
            f"Reconstruction: mean cosine **{recon['recon_cosine']:.4f}**, MSE {recon['recon_mse']:.6f}.",
            "",
            stats_table(rows, levels),
            "",
            f"Collision handling: {json.dumps(info)}",
            "",
            "Released rows are scored by the same `code_stats` (256 codes per level). Codes: `codes.parquet` "
            "(item_id, sid), `sid_meta.json`.",
        ]
    )


def resources(cfg: Config) -> dict[str, float]:
    return peak_request(cfg.embed.resources(), cfg.train.resources() if cfg.quantizer == "rqvae" else {"CPU": 1.0})


JOB = Job(
    name="semantic_ids",
    config=Config,
    run=run,
    resources=resources,
    in_demo=True,
    demo_order=10,
    summary="item text -> embeddings (Ray Data) -> RQ-VAE (Ray Train/DeepSpeed) or residual k-means "
    "-> unique semantic IDs",
    headline=("quality/recon_cosine", "baseline_rqkmeans/recon_cosine"),
)

if __name__ == "__main__":
    JOB.main()
