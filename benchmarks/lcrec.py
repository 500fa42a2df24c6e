"""BENCHMARKS.md section `lcrec`: the LC-Rec job on one protocol with the other sequential models, and what each
training engine costs on CPU.

1. ml-100k: the lcrec cpu preset (SmolLM2-135M-Instruct + LoRA, ~45 min on 2 cores) beside MostPopular, SASRec-CE
   and TIGER, all on the same fixed 300 test users (seed 0), full ranking; TIGER on the same k-means codes (3 x 32 +
   the collision level). Also the lcrec run's item2index, item-enrich BLEU / ROUGE-L and I2I rows.
2. Engines: tokens/s and peak resident memory per worker for DDP, ZeRO-2, ZeRO-3 and ZeRO-3 + CPU offload, 2 workers x
   1 CPU, on a from-config model of SmolLM2-135M's architecture (30 layers, d 576, 9 heads / 3 KV heads, FFN 1536,
   vocabulary 49,152, random weights: no download) with LoRA + the SID rows, on the synthetic chains.

    python -m benchmarks.run --set sections=[lcrec]
"""

from __future__ import annotations

import time

from benchmarks.results_io import md_tables, num, put, slug
from rec_core.paths import REPO_ROOT

WORK = REPO_ROOT / "runs" / "bench-lcrec"
USERS = 300
CODES = ["kmeans_levels=3", "kmeans_codebook=32"]  # the lcrec cpu preset's codes, for TIGER too
SMOLLM2_ARCH = [
    "model.tiny.hidden_size=576",
    "model.tiny.intermediate_size=1536",
    "model.tiny.num_hidden_layers=30",
    "model.tiny.num_attention_heads=9",
    "model.tiny.num_key_value_heads=3",
    "model.tiny.tie_word_embeddings=true",
    "model.tiny.vocab_size=49152",
    "model.lora_r=8",
    "model.lora_alpha=32",
]
ENGINES = {
    "DDP": [],
    "ZeRO-2": ["train.deepspeed=true", "train.zero_stage=2"],
    "ZeRO-3": ["train.deepspeed=true", "train.zero_stage=3"],
    "ZeRO-3 + CPU offload": ["train.deepspeed=true", "train.zero_stage=3", "train.offload_optimizer=true"],
}
ANCHORS = [
    ("LC-Rec (paper), LLaMA-7B full fine-tune", "Instruments", "NDCG@10 ≈ 0.09"),
    ("LC-Rec, Qwen3-1.7B full fine-tune (phonism/genrec README)", "Beauty", "Recall@10 0.0791, NDCG@10 0.0438"),
]


def bench(quick: bool) -> str:
    from jobs import lcrec, sasrec, tiger
    from jobs.common import runtime
    from jobs.common.config import RuntimeConfig
    from jobs.common.job import run_job

    runtime.init_ray(RuntimeConfig(num_cpus=2))
    users = 50 if quick else USERS
    common = ["dataset=ml-100k", "train.resume=false"]
    runs: dict[str, tuple[dict, float, list[str]]] = {}

    def go(key, job, preset, sets):
        t0 = time.perf_counter()
        m = run_job(job, preset=preset, overrides=sets, out_dir=WORK / key, init_runtime=False).metrics
        runs[key] = (m, time.perf_counter() - t0, sets)

    engines = {}
    for name, sets in ENGINES.items():
        size = ["max_examples=96"] if quick else ["max_examples=320"]
        engine_sets = [
            *SMOLLM2_ARCH,
            *sets,
            *size,
            "train.num_workers=2",
            "train.cpus_per_worker=1",
            "train.epochs=1",
            "train.batch_size=8",
            "train.resume=false",
            "eval.test_users=8",
            "eval.item2index_items=0",
            "eval.enrich_items=0",
            "eval.i2i_items=0",
        ]
        t0 = time.perf_counter()
        out = WORK / f"engine-{slug(name)}"
        m = run_job(lcrec.JOB, preset="smoke", overrides=engine_sets, out_dir=out, init_runtime=False).metrics
        engines[name] = (m, time.perf_counter() - t0)
    go(
        "sasrec",
        sasrec.JOB,
        "cpu",
        [*common, "loss=ce", f"eval.test_users={users}", f"train.epochs={5 if quick else 100}", "eval.every=10"],
    )
    go(
        "tiger",
        tiger.JOB,
        "cpu",
        [
            *common,
            *CODES,
            f"eval.test_users={users}",
            "eval.compare_users=0",
            "eval.valid_users=300",
            "recent_windows=20",  # the newest 20 windows per user: 72 steps an epoch instead of 380
            f"train.epochs={1 if quick else 8}",
        ],
    )
    quick_lcrec = ["max_examples=300", "eval.item2index_items=50", "eval.enrich_items=10", "eval.i2i_items=100"]
    go("lcrec", lcrec.JOB, "cpu", [*common, f"eval.test_users={users}", *(quick_lcrec if quick else [])])
    return render(runs, engines, users)


def _ranking_row(name: str, m: dict, prefix: str, notes: str) -> str:
    cells = [m.get(f"{prefix}{k}") for k in ("recall@5", "ndcg@5", "recall@10", "ndcg@10")]
    return f"| {name} | " + " | ".join("–" if c is None else f"{c:.4f}" for c in cells) + f" | {notes} |"


def render(runs: dict, engines: dict, users: int) -> str:
    lc, lc_s, lc_sets = runs["lcrec"]
    sa, sa_s, sa_sets = runs["sasrec"]
    tg, tg_s, tg_sets = runs["tiger"]
    ci = f"95% CI [{lc['recall@10_ci_low']:.4f}, {lc['recall@10_ci_high']:.4f}]"
    lines = [
        "## LC-Rec: an LLM with semantic-ID tokens, on one protocol with the sequential models",
        "",
        f"ml-100k (943 users, 1,682 items), leave-last-out, full ranking, no history masking, test on the same fixed "
        f"random {users} users (seed 0) for every row. LC-Rec is the lcrec cpu preset: SmolLM2-135M-Instruct (the "
        "offline GGUF) with LoRA r=8 on q/k/v/o/gate/up/down + the new SID rows, one epoch of multi-task prompts, "
        "history 10, 20 constrained beams; TIGER (history 20) uses the same k-means codes (3 x 32 + the collision "
        "level).",
        "",
        "| model | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 | notes |",
        "|---|---:|---:|---:|---:|---|",
        _ranking_row(
            "LC-Rec (ours, SmolLM2-135M + LoRA)",
            lc,
            "test/",
            f"{ci}; {lc['invalid_ids']} invalid IDs; {lc['train_examples']} examples, {lc['train_tokens']} tokens, "
            f"{lc['train_tokens_per_s']:.0f} tokens/s; {lc_s:.0f} s wall",
        ),
        _ranking_row("MostPopular", lc, "most_popular/test/", "train-sequence counts"),
        _ranking_row("SASRec-CE", sa, "test/", f"{sa.get('epochs_trained', '?')} epochs; {sa_s:.0f} s wall"),
        _ranking_row(
            "TIGER",
            tg,
            "test/",
            f"{tg.get('epochs_trained', '?')} epochs of each user's newest 20 windows; {tg_s:.0f} s wall",
        ),
        f"| random | – | – | {lc['random_recall@10']:.4f} | – | 10 / items |",
        "",
        "The LC-Rec run's other tasks:",
        "",
        "| task | ours | baseline | baseline is |",
        "|---|---:|---:|---|",
        f"| item2index exact match | {lc.get('item2index_acc', float('nan')):.4f} | "
        f"{lc.get('item2index_chance', float('nan')):.4f} | chance (1 / items) |",
        f"| item-enrich BLEU | {lc.get('bleu', float('nan')):.2f} | {lc.get('bleu_base', float('nan')):.2f} | "
        "the untuned base, same prompts |",
        f"| item-enrich ROUGE-L | {lc.get('rouge_l', float('nan')):.4f} | {lc.get('rouge_l_base', float('nan')):.4f} | "
        "the untuned base, same prompts |",
        f"| I2I Recall@10 (learned SID rows) | {lc.get('i2i_recall@10', float('nan')):.4f} | "
        f"{lc.get('i2i_text_recall@10', float('nan')):.4f} | the title's input text embeddings |",
        f"| I2I Recall@10, random vectors | {lc.get('i2i_random_recall@10', float('nan')):.4f} | – | – |",
        *(
            [
                f"| item search precision@10 | {lc['search_precision@10']:.4f} | {lc['search_chance']:.4f} | "
                "chance (share of items carrying the query's keywords) |"
            ]
            if "search_precision@10" in lc
            else []
        ),
        *(
            [
                f"| preference keyword F1 | {lc['preference_f1']:.4f} | {lc['preference_f1_baseline']:.4f} | "
                "always the three commonest keywords |"
            ]
            if "preference_f1" in lc
            else []
        ),
        "",
        "Published anchors (other datasets and far larger models, so not comparable row for row):",
        "",
        *[f"- {who}: {ds}, {fig}." for who, ds, fig in ANCHORS],
        "",
        "### Training engines on CPU",
        "",
        "2 workers x 1 CPU, a from-config model of SmolLM2-135M's architecture (30 layers, d 576, vocabulary 49,152, "
        "random weights) with LoRA r=8 + the SID rows, batch 8 per worker, fp32, one epoch of the synthetic chains' "
        "prompts. tokens/s: rank 0's non-padding tokens per second of its epoch, times the workers; memory: the "
        "peak resident set of rank 0's process (model, optimizer, activations, DeepSpeed's buffers).",
        "",
        "| engine | tokens/s | vs DDP | peak RSS per worker GB | epoch loss (first → last) | run s |",
        "|---|---:|---:|---:|---|---:|",
    ]
    base = engines.get("DDP", (None,))[0]
    for name, (m, secs) in engines.items():
        tps = 2 * m["train_tokens_per_s"]
        ratio = tps / (2 * base["train_tokens_per_s"]) if base else float("nan")
        # one epoch has one epoch loss: show it once rather than as a "change" from itself
        same = m["loss_first"] == m["loss_last"]
        loss = f"{m['loss_first']:.3f}" if same else f"{m['loss_first']:.3f} → {m['loss_last']:.3f}"
        lines.append(f"| {name} | {tps:.0f} | {ratio:.2f} | {m['peak_rss_gb']:.2f} | {loss} | {secs:.0f} |")
    lines += [
        "",
        "Commands: "
        + "; ".join(f"`genrec run {k} --preset cpu --set {' --set '.join(s)}`" for k, (_, _, s) in runs.items())
        + "; engines: `genrec run lcrec --preset smoke` with `--set` "
        + ", ".join(f"`{s}`" for s in SMOLLM2_ARCH)
        + ", 2 workers x 1 CPU, 320 examples, and the engine's switches.",
        "",
        "On a GPU (not lent to this task so far): tokens/s and MFU of the same from-config model, and QLoRA memory, "
        "are still to be measured.",
    ]
    return "\n".join(lines)


def figures(md: str) -> dict:
    out: dict = {}
    for t in md_tables(md):
        for r in t["rows"]:
            if "Recall@10" in r:
                key = slug(r["model"].split(" (")[0])
                for col in ("Recall@5", "NDCG@5", "Recall@10", "NDCG@10"):
                    put(out, f"ml-100k/{key}/{col.lower()}", num(r[col]))
            elif "task" in r:
                key = slug(r["task"])
                put(out, f"ml-100k/lcrec/{key}", num(r["ours"]))
                put(out, f"ml-100k/lcrec/{key}/baseline", num(r["baseline"]))
            elif "engine" in r:
                key = slug(r["engine"])
                put(out, f"engine/{key}/tokens_per_s", num(r["tokens/s"]))
                put(out, f"engine/{key}/vs_ddp", num(r["vs DDP"]))
                put(out, f"engine/{key}/peak_rss_gb", num(r["peak RSS per worker GB"]))
    return out
