"""Benchmark section `semantic_ids_gpu` (needs CUDA; on a machine without one it is skipped and its last figures
are kept): the Ray Data embedding pipeline with one GPU actor vs plain `SentenceTransformer.encode` on the same
GPU, and RQ-VAE (gpu preset) time per epoch with fp32 / bf16 autocast / DeepSpeed ZeRO-2 bf16.

    python -m benchmarks.run --set sections=[semantic_ids_gpu]
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import semantic_ids
from benchmarks.results_io import md_tables, num, put
from benchmarks.semantic_ids import _items, embedding_figures, embedding_throughput, repeated, rqvae_epoch_time

# sha256 of all-MiniLM-L6-v2's model.safetensors (DESIGN.md): tells the genuine weights from a stand-in.
MINILM_SHA256_PREFIX = "53aa5117"


def _weights_line() -> str:
    from rec_core.offline_models import resolve_model

    f = Path(resolve_model("minilm")) / "model.safetensors"
    digest = hashlib.sha256(f.read_bytes()).hexdigest()
    if digest.startswith(MINILM_SHA256_PREFIX):
        return "Weights: the genuine all-MiniLM-L6-v2 checkpoint."
    return (
        f"Weights: **not** the published all-MiniLM-L6-v2 file (sha256 {digest[:8]}…): a checkpoint of the same "
        "architecture and tokenizer, so speed is comparable and the vectors are not."
    )


def rqvae_epoch_times(x: np.ndarray, work: Path, epochs: int = 4) -> str:
    variants = [
        ("1 GPU worker, fp32", ["train.precision=fp32"]),
        ("1 GPU worker, bf16 autocast", ["train.precision=bf16"]),
        (
            "1 GPU worker, DeepSpeed ZeRO-2, bf16",
            ["train.precision=bf16", "train.deepspeed=true", "train.zero_stage=2"],
        ),
    ]
    rows, base = [], None
    for i, (label, sets) in enumerate(variants):
        per, loss = rqvae_epoch_time(x, "gpu", sets, epochs, work / f"rqvae-gpu-{i}")
        base = base or per
        rows.append(f"| {label} | {per:.3f} | {base / per:.2f} | {loss:.4f} |")
    return "\n".join(
        [
            f"{len(x):,} embeddings (384-d), gpu-preset RQ-VAE (384-2048-1024-512-256-128-64-32, 3 x 256 codes), batch "
            f"1024, {epochs} epochs; median training-step time per epoch after the first (k-means init) epoch, "
            "evaluation excluded.",
            "",
            "| setup | s / epoch | speed-up vs fp32 | last-epoch loss |",
            "|---|---:|---:|---:|",
            *rows,
        ]
    )


def bench(quick: bool) -> str | None:
    import ray
    import torch

    if not torch.cuda.is_available():
        return None
    if not ray.is_initialized():
        from jobs.common.config import RuntimeConfig
        from jobs.common.runtime import init_ray

        init_ray(RuntimeConfig(num_gpus=torch.cuda.device_count()))
    work = Path(tempfile.mkdtemp(prefix="bench-semids-gpu-"))
    log = Path(os.environ.get("GENREC_BENCH_PARTIAL", work / "partial.md"))
    parts: list[str] = []

    def add(*lines):  # keep what is measured even if a later step fails or the lease runs out
        parts.extend(lines)
        log.write_text("\n".join(parts) + "\n")

    items = _items("beauty", 3000 if quick else None)
    times = 2 if quick else 20
    add(
        "## Semantic IDs on a GPU",
        "",
        f"_{torch.cuda.get_device_name(0)}, {os.cpu_count()} CPU cores. {_weights_line()}_",
        "",
        "### Embedding throughput: Ray Data GPU actor vs plain encode on the same GPU",
        "",
    )
    small_md, x = embedding_throughput(items, work / "small", batch_size=512)
    add(small_md, "")
    big_md, _ = embedding_throughput(
        repeated(items, times), work / "big", batch_size=512, corpus=f"texts: Beauty's item names {times} times over"
    )
    add(
        big_md,
        "",
        "On a GPU the encode itself takes seconds, so for one small catalogue the actor's start-up (a fresh process "
        "importing torch and sentence-transformers, creating a CUDA context, loading the model) is most of the "
        "Ray run; the repeated corpus shows the rate once that is paid.",
        "",
        "### RQ-VAE time per epoch on a GPU",
        "",
    )
    add(rqvae_epoch_times(x, work))
    return "\n".join(parts)


# The GPU table measured so far has these columns; a new run renders `embedding_throughput`'s (the CPU section's).
EMBEDDING_COLUMNS = {
    **semantic_ids.EMBEDDING_COLUMNS,
    "items/s (encode only)": "items_per_s",
    "items/s (incl. model load)": "items_per_s_incl_load",
    "ratio vs plain encode": "ratio_vs_plain",
    "ratio incl. load": "ratio_vs_plain_incl_load",
    "start-up s per actor (imports + model load)": "startup_s",
    "max abs diff vs plain": "max_abs_diff",
}


def figures(md: str) -> dict:
    """embedding/<corpus>/<pipeline>/<figure> for both throughput tables, and rqvae_epoch/<setup>/* if measured."""
    out: dict = {}
    setups = {
        "1 GPU worker, fp32": "fp32",
        "1 GPU worker, bf16 autocast": "bf16",
        "1 GPU worker, DeepSpeed ZeRO-2, bf16": "zero2_bf16",
    }
    for t in md_tables(md):
        first = t["rows"][0]
        if "pipeline" in first:
            out.update(embedding_figures(t, EMBEDDING_COLUMNS))
        elif "s / epoch" in first:
            for r in t["rows"]:
                put(out, f"rqvae_epoch/{setups[r['setup']]}/s_per_epoch", num(r["s / epoch"]))
                put(out, f"rqvae_epoch/{setups[r['setup']]}/speedup", num(r["speed-up vs fp32"]))
                put(out, f"rqvae_epoch/{setups[r['setup']]}/last_loss", num(r["last-epoch loss"]))
    return out
