"""Benchmark section `semantic_ids`: embedding throughput (Ray Data vs plain encode), semantic-ID quality
(RQ-VAE and residual k-means vs released LC-Rec / MiniOneRec IDs), RQ-VAE time per epoch (workers, DeepSpeed).

Called by `genrec bench` (`python -m benchmarks.run --set sections=[semantic_ids]`); Ray is already up.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.results_io import md_tables, num, nums, put, slug
from rec_core.paths import default_data_dir, default_mirror


def _items(name: str, limit: int | None):
    from rec_core.data import load_dataset

    items = load_dataset(name, default_data_dir(), default_mirror()).items
    return items.head(limit).reset_index(drop=True) if limit else items


def repeated(items: pd.DataFrame, times: int) -> pd.DataFrame:
    """The corpus `times` over with fresh integer ids: enough work that start-up stops dominating."""
    step = int(items["item_id"].max()) + 1
    return pd.concat(
        [items.assign(item_id=items["item_id"].astype(np.int64) + r * step) for r in range(times)], ignore_index=True
    )


# A plain script as a user would run it: a fresh interpreter that imports sentence-transformers, loads the
# model and encodes. Prints the wall clock once the model is loaded (start-up ends there).
_FRESH_PLAIN = """
import json, sys, time
from sentence_transformers import SentenceTransformer
texts = json.load(open(sys.argv[1]))
model = SentenceTransformer(sys.argv[2], device=sys.argv[3])
print(time.time(), flush=True)
model.encode(texts, batch_size=int(sys.argv[4]), normalize_embeddings=True, show_progress_bar=False)
"""


def _fresh_plain_encode(
    texts: list[str], model_dir: str, device: str, batch_size: int, work: Path
) -> tuple[float, float]:
    """(seconds end to end, seconds to model loaded) of `_FRESH_PLAIN` in a new process, timed from launch."""
    import json
    import subprocess
    import sys

    work.mkdir(parents=True, exist_ok=True)
    path = work / "texts.json"
    path.write_text(json.dumps(texts))
    launched, t0 = time.time(), time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _FRESH_PLAIN, str(path), model_dir, device, str(batch_size)],
        capture_output=True,
        text=True,
        check=True,
    )
    total = time.perf_counter() - t0
    return total, float(out.stdout.split()[0]) - launched


def embedding_throughput(
    items, work: Path, batch_size: int = 128, corpus: str = "Beauty item names", only: str | None = None
) -> tuple[str, np.ndarray]:
    """Plain SentenceTransformer.encode (in this warm process, and as a fresh script) vs the Ray Data actor
    pipeline, same texts, same run. `only`: run just the Ray variants whose label contains it."""
    import torch
    from sentence_transformers import SentenceTransformer

    from data_pipelines.embed import EmbedConfig, assemble_texts, embed_items, embedding_matrix
    from rec_core.offline_models import resolve_model

    texts = assemble_texts(items, ["title"])
    n = len(texts)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.perf_counter()
    model = SentenceTransformer(resolve_model("minilm"), device=device)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = model.encode(texts, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False)
    t_plain = time.perf_counter() - t0
    del model
    t_warm = t_load + t_plain
    t_fresh, fresh_start = _fresh_plain_encode(texts, resolve_model("minilm"), device, batch_size, work / "fresh")
    gpu = device == "cuda"
    variants = (
        [("1 actor x 1 GPU", dict(num_actors=1, cpus_per_actor=1, gpus_per_actor=1, batch_size=batch_size))]
        if gpu
        else [
            (
                "1 actor x 1 CPU, 2 threads, sentence-transformers",
                dict(num_actors=1, cpus_per_actor=1, threads_per_actor=2),
            ),
            (
                "2 actors x 0.5 CPU, 1 thread each, sentence-transformers",
                dict(num_actors=2, cpus_per_actor=0.5, threads_per_actor=1),
            ),
            (
                "2 actors x 0.5 CPU, 1 thread each, transformers mean pooling (`kind=hf_mean`)",
                dict(num_actors=2, cpus_per_actor=0.5, threads_per_actor=1, kind="hf_mean"),
            ),
        ]
    )
    variants = [v for v in variants if only is None or only in v[0]]
    where = "1 GPU" if gpu else f"{torch.get_num_threads()} threads"

    def row(label, total, start, per_actor, steady_s, diff):
        return (
            f"| {label} | {n / total:,.0f} | {t_warm / total:.2f} | {t_fresh / total:.2f} | {start} | {per_actor} "
            f"| {n / steady_s:,.0f} | {t_plain / steady_s:.2f} | {diff} |"
        )

    rows = [
        row(
            f"plain `SentenceTransformer.encode`, this (warm) process, {where}",
            t_warm,
            f"{t_load:.1f}",
            "—",
            t_plain,
            "—",
        ),
        row(
            f"plain `SentenceTransformer.encode`, fresh `python` process, {where}",
            t_fresh,
            f"{fresh_start:.1f}",
            "—",
            t_fresh - fresh_start,
            "—",
        ),
    ]
    for i, (label, kw) in enumerate(variants):
        cfg = EmbedConfig(
            text_fields=["title"], part_rows=max(1024, n // 48), batch_size=kw.pop("batch_size", batch_size), **kw
        )
        t0 = time.perf_counter()
        emb = embed_items(items, cfg, out_dir=work / f"emb-{i}-{cfg.num_actors}")
        t_ray = time.perf_counter() - t0
        diff = float(np.abs(embedding_matrix(emb) - ref).max())
        st = emb.attrs["embed_stats"]
        rows.append(
            row(
                f"Ray Data, {label}",
                t_ray,
                f"{st['first_encode_after_s']:.1f}",
                ", ".join(f"{x:.1f}" for x in st["actor_init_s"]),
                st["encoding_window_s"],
                f"{diff:.1e}",
            )
        )
    table = "\n".join(
        [
            "| pipeline | items/s end to end | ratio vs plain, warm process | ratio vs plain, fresh process "
            "| start-up s (to the first model call) | of which actor start-up s (imports + model load, per actor) "
            "| items/s once encoding | steady-state ratio vs plain encode | max abs diff vs plain |",
            "|---|---:|---:|---:|---:|---|---:|---:|---|",
            *rows,
        ]
    )
    note = (
        f"{n:,} {corpus} (MiniLM, 384-d, batch {batch_size}). End to end for Ray Data: read, repartition, "
        "preprocess, actor start-up and model load in every actor, encode, atomic Parquet writes, read-back. Two "
        "plain references: this benchmark's own process, which has already imported torch and "
        "sentence-transformers (its time is model load + encode), and the same encode as a fresh `python` "
        "script (interpreter start, imports, model load, encode), which is what a Ray actor, itself a fresh "
        "process, has to do too. 'Start-up' runs from the start of the pipeline (or process) to the first model "
        "call; 'once encoding' is the rate from the first model call to the last part written (plain: the "
        "encode call). Importing sentence-transformers also imports scikit-learn, peft and bitsandbytes; "
        "`kind=hf_mean` runs the same MiniLM checkpoint through transformers with the same mean pooling and L2 "
        "norm (same vectors, see the last column) without that import."
    )
    return note + "\n\n" + table, ref


def quality(work: Path, quick: bool) -> str:
    from jobs.common.job import RunContext, run_job
    from jobs.semantic_ids import JOB, released_rows, stats_table

    epochs = 3 if quick else 30
    rows, recon, cmds = {}, {}, []
    # Instruments joins once its item text is pulled (Instruments.item.json; the development mirror lacks it).
    instruments_text = bool(_items("instruments", None)["title"].notna().any())
    for dataset in ("beauty", "industrial_scientific") + (("instruments",) if instruments_text else ()):
        for quantizer in ("rqvae", "rqkmeans"):
            sets = [
                f"dataset={dataset}",
                f"quantizer={quantizer}",
                f"train.epochs={epochs}",
                f"embeddings_dir={work / ('emb-' + dataset)}",
                "compare_released=false",
            ]
            if quick:
                sets.append("max_items=3000")
            res = run_job(JOB, preset="cpu", overrides=sets, out_dir=work / f"{dataset}-{quantizer}")
            m = res.metrics
            rows[f"{quantizer} on {dataset} (before handling)"] = {
                "items": m["items"],
                "levels": 3,
                "collision_rate": m["quality/collision_rate_before"],
                "colliding_items": m["collisions/colliding_items_before"] / m["items"],
                "max_items_per_sid": m["quality/max_items_per_sid_before"],
                **{k.split("/")[1]: v for k, v in m.items() if k.startswith(("quality/usage_", "quality/perplexity_"))},
            }
            recon[f"{quantizer} on {dataset}"] = (
                m["quality/recon_cosine"],
                m["quality/recon_mse"],
                m["quality/unique_items"],
                m["items"],
                m.get("timing/quantize_s"),
            )
            cmds.append("genrec run semantic_ids --preset cpu " + " ".join(f"--set {s}" for s in sets[:3] + sets[5:]))
    ctx = RunContext(out_dir=work, data_dir=default_data_dir(), mirror=default_mirror())
    rows.update(released_rows(ctx))
    rec_rows = "\n".join(
        f"| {k} | {c:.4f} | {mse:.2e} | {u:,} / {n:,} | {t:.0f} |" for k, (c, mse, u, n, t) in recon.items()
    )
    instruments_note = (
        "Instruments: our codes from its item text vs LC-Rec's released 4-level IDs; Industrial_and_Scientific: ours "
        "vs MiniOneRec's released 3-level IDs."
        if instruments_text
        else "The Instruments data here has **no item text** (Instruments.item.json is not in the mirror), so we "
        "cannot embed Instruments: its row is LC-Rec's released 4-level IDs scored by our code; "
        "Industrial_and_Scientific (MiniOneRec, with text) is the like-for-like comparison: our codes vs MiniOneRec's "
        "released 3-level IDs on its 3,686 items."
    )
    return "\n".join(
        [
            f"MiniLM embeddings of each item's text (Beauty: the generated item names, Industrial"
            f"{' and Instruments' if instruments_text else ''}: title + brand + categories + description)"
            f"{' — quick mode: first 3,000 items of each dataset' if quick else ''}. "
            f"3 levels x 256 codes; RQ-VAE {epochs} epochs (cpu preset otherwise). {instruments_note}",
            "",
            stats_table(rows, 4),
            "",
            "| run | recon cosine | recon MSE | unique IDs after `sinkhorn` handling | quantize time (s) |",
            "|---|---|---|---|---|",
            rec_rows,
            "",
            "Commands: " + "; ".join(f"`{c}`" for c in cmds),
        ]
    )


def rqvae_epoch_time(x, preset: str, sets: list[str], epochs: int, out: Path) -> tuple[float, float]:
    """Median training-step seconds per epoch after the first (k-means init) epoch, and the last epoch's loss,
    of the semantic_ids job's RQ-VAE under `preset` + `sets`."""
    from jobs.common.job import RunContext
    from jobs.semantic_ids import JOB, fit_rqvae

    cfg = JOB.resolve(
        preset, None, sets + [f"train.epochs={epochs}", "train.checkpoint_every=1000", "train.resume=false"]
    )
    out.mkdir(parents=True, exist_ok=True)
    *_, hist = fit_rqvae(np.asarray(x, dtype=np.float32), cfg, RunContext(out_dir=out, data_dir=out, mirror=None))
    return float(np.median([h["epoch_time_s"] for h in hist[1:]] or [hist[0]["epoch_time_s"]])), hist[-1]["loss"]


def epoch_times(x: np.ndarray, work: Path) -> str:
    """RQ-VAE time per epoch (training steps only) on the Beauty embeddings: workers and DeepSpeed."""
    x = np.asarray(x, dtype=np.float32)
    ncpu = os.cpu_count() or 2
    variants = [
        ("1 worker, DDP off", ["train.num_workers=1", f"train.cpus_per_worker={min(2, ncpu)}"]),
        ("2 workers, DDP (gloo)", ["train.num_workers=2", f"train.cpus_per_worker={min(1, ncpu / 2)}"]),
        (
            "1 worker, DeepSpeed ZeRO-2",
            [
                "train.num_workers=1",
                f"train.cpus_per_worker={min(2, ncpu)}",
                "train.deepspeed=true",
                "train.zero_stage=2",
            ],
        ),
        (
            "2 workers, DeepSpeed ZeRO-2",
            [
                "train.num_workers=2",
                f"train.cpus_per_worker={min(1, ncpu / 2)}",
                "train.deepspeed=true",
                "train.zero_stage=2",
            ],
        ),
    ]
    rows, base = [], None
    epochs = 3
    for label, sets in variants:
        per, _ = rqvae_epoch_time(x, "cpu", sets, epochs, work / f"epochs-{len(rows)}")
        base = base or per
        rows.append(f"| {label} | {per:.2f} | {base / per:.2f} |")
    return "\n".join(
        [
            f"{len(x):,} Beauty embeddings (384-d), cpu-preset RQ-VAE (384-512-256-128-32, 3 x 256 codes), batch 1024 "
            f"per worker, {epochs} epochs; median training-step time per epoch after the first (k-means init) epoch, "
            "evaluation excluded, rank 0's clock.",
            "",
            "| setup | s / epoch | speed-up vs 1 worker |",
            "|---|---|---|",
            *rows,
        ]
    )


def bench(quick: bool) -> str:
    import ray

    if not ray.is_initialized():
        from jobs.common.runtime import init_ray

        init_ray()
    work = Path(tempfile.mkdtemp(prefix="bench-semids-"))
    items = _items("beauty", 3000 if quick else None)
    log = Path(os.environ.get("GENREC_BENCH_PARTIAL", work / "partial.md"))
    parts = ["## Semantic IDs", ""]

    def add(*lines):  # keep what is measured even if a later step fails
        parts.extend(lines)
        log.write_text("\n".join(parts) + "\n")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    add(
        f"_1-minute load average at the start: {load:.1f} on {os.cpu_count()} cores. On a shared machine every "
        "figure below is noisy; ratios are taken within this run only._",
        "",
    )
    emb_md, x = embedding_throughput(items, work)
    add(
        "### Embedding throughput: Ray Data actor pool vs plain encode",
        "",
        emb_md,
        "",
        "Command: `python -m benchmarks.run --set sections=[semantic_ids]`",
        "",
    )
    times = 2 if quick else 4
    big_md, _ = embedding_throughput(
        repeated(items, times), work / "big", only="hf_mean", corpus=f"texts: the same item names {times} times over"
    )
    add("The fixed start-up is paid once per run, so its share falls as the corpus grows:", "", big_md, "")
    add("### RQ-VAE time per epoch", "", epoch_times(x, work), "")
    add("### Semantic-ID quality vs released IDs", "", quality(work, quick))
    return "\n".join(parts)


def embedding_row_key(label: str) -> str:
    """'plain `SentenceTransformer.encode`, this (warm) process, ...' -> plain_warm; 'Ray Data, 2 actors x 0.5 CPU,
    ... (`kind=hf_mean`)' -> ray_2actors_hf_mean; 'Ray Data, 1 actor x 1 GPU' -> ray_1actor_gpu."""
    if label.startswith("plain"):
        return "plain" + ("_warm" if "warm" in label else "_fresh" if "fresh" in label else "")
    n = re.search(r"(\d+) actors?", label).group(1)
    kind = (
        "hf_mean"
        if "hf_mean" in label
        else "st"
        if "sentence-transformers" in label
        else "gpu"
        if "GPU" in label
        else ""
    )
    return f"ray_{n}actor{'s' if n != '1' else ''}" + (f"_{kind}" if kind else "")


def embedding_figures(table: dict, columns: dict) -> dict:
    """embedding/<corpus>/<row>/<figure> for one throughput table; corpus is `beauty` for the catalogue and
    `beauty_x<N>` for it N times over (read from the paragraph above the table)."""
    m = re.search(r"(\d+) times over", table["before"])
    corpus = f"beauty_x{m.group(1)}" if m else "beauty"
    out: dict = {}
    m = re.match(r"([\d,]+) ", table["before"])
    if m:
        put(out, f"embedding/{corpus}/items", num(m.group(1)))
    for r in table["rows"]:
        row = embedding_row_key(r["pipeline"])
        for col, name in columns.items():
            vals = nums(r[col]) if col in r else []
            if name == "actor_startup_max_s" and vals:  # one figure per actor: the slowest
                put(out, f"embedding/{corpus}/{row}/{name}", max(vals))
            elif vals:
                put(out, f"embedding/{corpus}/{row}/{name}", vals[0])
    return out


EMBEDDING_COLUMNS = {
    "items/s end to end": "items_per_s",
    "ratio vs plain, warm process": "ratio_vs_plain_warm",
    "ratio vs plain, fresh process": "ratio_vs_plain_fresh",
    "start-up s (to the first model call)": "startup_s",
    "of which actor start-up s (imports + model load, per actor)": "actor_startup_max_s",
    "items/s once encoding": "steady_items_per_s",
    "steady-state ratio vs plain encode": "steady_ratio_vs_plain",
    "max abs diff vs plain": "max_abs_diff",
}


def figures(md: str) -> dict:
    """embedding/<corpus>/<pipeline>/<figure>, rqvae_epoch/<setup>/<s_per_epoch|speedup>, <quantizer>/<dataset>/<figure>
    (quality before collision handling, recon after), released/<ids>/<figure>, from the tables of `bench`."""
    out: dict = {}
    m = re.search(r"load average at the start: ([\d.]+)", md)
    if m:
        put(out, "load_avg_start", num(m.group(1)))
    setups = {
        "1 worker, DDP off": "1_worker",
        "2 workers, DDP (gloo)": "2_workers_ddp",
        "1 worker, DeepSpeed ZeRO-2": "1_worker_zero2",
        "2 workers, DeepSpeed ZeRO-2": "2_workers_zero2",
    }
    for t in md_tables(md):
        first = t["rows"][0]
        if "pipeline" in first:
            out.update(embedding_figures(t, EMBEDDING_COLUMNS))
        elif "s / epoch" in first:
            for r in t["rows"]:
                put(out, f"rqvae_epoch/{setups[r['setup']]}/s_per_epoch", num(r["s / epoch"]))
                put(out, f"rqvae_epoch/{setups[r['setup']]}/speedup", num(r["speed-up vs 1 worker"]))
        elif "codes" in first:
            for r in t["rows"]:
                label = r["codes"]
                if " on " in label:
                    q, ds = label.split(" (")[0].split(" on ")
                    p = f"{slug(q)}/{slug(ds)}"
                else:
                    p = "released/" + slug(label.replace("(released)", ""))
                for col, v in r.items():
                    if col != "codes":
                        put(out, f"{p}/{slug(col).replace('max_items_sid', 'max_items_per_sid')}", num(v))
                if "(before handling)" in label:  # the name the quality checks read
                    put(out, f"{p}/collision_rate_before", num(r["collision rate"]))
        elif "recon cosine" in first:
            for r in t["rows"]:
                q, ds = r["run"].split(" on ")
                p = f"{slug(q)}/{slug(ds)}"
                put(out, f"{p}/recon_cosine", num(r["recon cosine"]))
                put(out, f"{p}/recon_mse", num(r["recon MSE"]))
                put(out, f"{p}/unique_ids", num(r["unique IDs after `sinkhorn` handling"]))
                put(out, f"{p}/quantize_s", num(r["quantize time (s)"]))
    return out
