"""Benchmark section `tiger_gpu` (needs CUDA; on a machine without one it is skipped and its last figures are
kept): the TIGER `gpu` preset (the paper's 4+4-layer T5, bf16) on Beauty with a training-time cap, evaluated on
all users with trie-constrained beam search on the GPU, beside MostPopular and the paper's rows.

    python -m benchmarks.run --set sections=[tiger_gpu]
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from benchmarks.results_io import md_tables, num, put
from benchmarks.tiger import PAPER, WORK, _row, kmeans_codes, ranking_figures

# Device time is rationed where this runs: the preset's 200 epochs do not fit, so training stops after the
# epoch that crosses this cap (train.time_limit_s) and the best validated checkpoint is evaluated. The preset's
# 10k warm-up steps would leave such a run at a fraction of its learning rate, so capped runs warm up over 1k.
TIME_LIMIT_S = 120
OTHER_LIMIT_S = 30
TEST_USERS = 5000  # a fixed random subset, the same for MostPopular
CAPPED = ["warmup_steps=1000", "eval.every=2", "eval.valid_users=1000", "train.resume=false"]
# The other datasets: Instruments with LC-Rec's released IDs (its mirror has no item text to embed);
# ml-latest-small with MiniLM k-means codes of its titles, made on the CPU (`benchmarks.tiger.kmeans_codes`).
OTHER = (
    ("instruments", "released", "LC-Rec's released 4-level IDs"),
    ("ml-latest-small", "kmeans", "MiniLM k-means codes of the titles (3x256 + collision level)"),
)


def bench(quick: bool) -> str | None:
    import torch

    if not torch.cuda.is_available():
        return None
    from jobs import tiger
    from jobs.common import runtime
    from jobs.common.config import RuntimeConfig
    from jobs.common.job import run_job

    runtime.init_ray(RuntimeConfig(num_cpus=os.cpu_count(), num_gpus=1))
    codes = kmeans_codes("beauty")  # cached: the CPU section's codes
    limit = 30 if quick else TIME_LIMIT_S
    users = 1000 if quick else TEST_USERS
    log = Path(os.environ.get("GENREC_BENCH_PARTIAL", WORK / "tiger_gpu.partial.md"))
    device = torch.cuda.get_device_name(0)
    sets = [
        "dataset=beauty",
        f"codes={codes}",
        f"train.time_limit_s={limit}",
        *CAPPED,
        "eval.compare_users=1000",
        f"eval.test_users={users}",
    ]
    t0 = time.perf_counter()
    res = run_job(tiger.JOB, preset="gpu", overrides=sets, out_dir=WORK / "tiger-beauty-gpu", init_runtime=False)
    text = render(res.metrics, time.perf_counter() - t0, limit, users, sets, device)
    log.write_text(text + "\n")
    return text + "\n\n" + run_others(users, log, head=text)


def run_others(users: int, log: Path, head: str = "") -> str:
    """The capped Instruments and ml-latest-small runs (Ray already initialised); partial results go to `log`."""
    from jobs import tiger
    from jobs.common.job import run_job

    others = []
    for dataset, source, codes_note in OTHER:
        codes_set = f"codes={kmeans_codes(dataset)}" if source == "kmeans" else f"codes_source={source}"
        sets = [
            f"dataset={dataset}",
            codes_set,
            f"train.time_limit_s={OTHER_LIMIT_S}",
            *CAPPED,
            "eval.compare_users=0",
            f"eval.test_users={users}",
        ]
        t0 = time.perf_counter()
        res = run_job(
            tiger.JOB, preset="gpu", overrides=sets, out_dir=WORK / f"tiger-{dataset}-gpu", init_runtime=False
        )
        others.append((dataset, codes_note, res.metrics, time.perf_counter() - t0, sets))
        log.write_text(head + "\n\n" + render_others(others, users) + "\n")
    return render_others(others, users)


def render_others(others: list, users: int) -> str:
    lines = [
        "### Instruments and ml-latest-small (gpu preset, same harness)",
        "",
        f"Same protocol (last item = test, second last = valid, full ranking, at most {users:,} fixed random test "
        f"users), gpu preset, training capped at {OTHER_LIMIT_S} s each: early points, like the Beauty row above.",
        "",
        "| dataset | model | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 | notes |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for dataset, codes_note, m, wall, _ in others:
        lines += [
            f"| {dataset} | {r}"
            for r in (
                _row("MostPopular", m, "most_popular/test/", "train-sequence counts").removeprefix("| "),
                _row(
                    "TIGER (ours)",
                    m,
                    extra=f"{codes_note}; {int(m['epochs_trained'])} epoch(s), fit {m['fit_s']:.0f} s, "
                    f"{wall:.0f} s wall; invalid IDs returned: {int(m['invalid_ids_constrained'])}",
                ).removeprefix("| "),
            )
        ]
    root = str(WORK.parent.parent) + os.sep  # commands name repo-relative paths
    lines += [
        "",
        "Commands: "
        + "; ".join(
            "`genrec run tiger --preset gpu " + " ".join(f"--set {s}".replace(root, "") for s in sets) + "`"
            for *_, sets in others
        ),
    ]
    return "\n".join(lines)


def render(m: dict, wall: float, limit: float, users: int, sets: list[str], device: str) -> str:
    steps = int(m["epochs_trained"]) * 514  # 131k training windows / batch 256
    dec = {
        k: {f: m[f"decode/{k}/{f}"] for f in ("users_per_s", "invalid_share")}
        for k in ("constrained", "constrained_callback", "unconstrained")
    }
    lines = [
        "## TIGER on a GPU (Beauty, gpu preset)",
        "",
        f"_{device}, {os.cpu_count()} CPU cores._",
        "",
        "Same protocol and harness as the CPU section above, but the paper's model size (4+4 layers, d_model 128, "
        f"6 heads x 64, FFN 1024, dropout 0.1), bf16 autocast, 20 beams, evaluated on "
        f"a fixed random {users:,} of the 22,363 users (the same users for MostPopular). Training was capped at "
        f"{limit} s (`train.time_limit_s`), with 1k warm-up steps instead of the preset's 10k: "
        f"{int(m['epochs_trained'])} epochs, ~{steps:,} steps of 256, where the paper trains ~200k steps, so this is "
        "an early point on the paper's curve, not a reproduction.",
        "",
        "| model | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 | notes |",
        "|---|---:|---:|---:|---:|---|",
        _row("MostPopular", m, "most_popular/test/", "train-sequence counts"),
        _row(
            "TIGER (ours, gpu preset)",
            m,
            extra=f"{int(m['epochs_trained'])} epochs, fit {m['fit_s']:.0f} s, "
            f"{wall:.0f} s wall in all; invalid IDs returned: {int(m['invalid_ids_constrained'])}",
        ),
        *(
            f"| {name} | {r5:.4f} | {n5:.4f} | {r10:.4f} | {n10:.4f} | published (Rajput et al. 2023, Table 1) |"
            for name, (r5, n5, r10, n10) in PAPER.items()
        ),
        "",
        "Decoding on the GPU, same model, same 1,000 test users, batch 256 x 20 beams:",
        "",
        "| decoding | users/s | vs unconstrained | invalid share |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | {dec[k]['users_per_s']:.0f} | "
            f"{dec[k]['users_per_s'] / dec['unconstrained']['users_per_s']:.2f}x | {dec[k]['invalid_share']:.3f} |"
            for k, label in (
                ("constrained", "trie as tensors (`TrieLogitsProcessor`, default)"),
                ("constrained_callback", "trie through `prefix_allowed_tokens_fn` (transformers' per-beam callback)"),
                ("unconstrained", "unconstrained + filtering"),
            )
        ),
        "",
        f"Full evaluation ran at {m['eval_users_per_s']:.0f} users/s on the "
        f"{'GPU' if m.get('eval_on_gpu') else 'CPU'}.",
        "",
        "Command: `genrec run tiger --preset gpu "
        + " ".join(f"--set {s}" for s in sets if not s.startswith("codes="))
        + " --set codes=runs/bench-tiger/beauty-codes/codes/codes.parquet` (the CPU section's codes).",
    ]
    return "\n".join(lines)


def figures(md: str) -> dict:
    """beauty/<model>/<metric>, decode/<mask>/<figure> and <dataset>/<model>/<metric> for the other datasets."""
    tables = md_tables(md)
    out = ranking_figures(tables[0]["rows"], "beauty")
    decode_keys = {
        "trie as tensors": "constrained",
        "trie through": "constrained_callback",
        "unconstrained": "unconstrained",
    }
    for r in tables[1]["rows"]:
        k = next(v for p, v in decode_keys.items() if r["decoding"].startswith(p))
        put(out, f"decode/{k}/users_per_s", num(r["users/s"]))
        put(out, f"decode/{k}/over_unconstrained", num(r["vs unconstrained"]))
        put(out, f"decode/{k}/invalid_share", num(r["invalid share"]))
    out.update(ranking_figures(tables[2]["rows"]))
    for pattern, key in (
        (r"fixed random ([\d,]+) of the", "beauty/test_users"),
        (r"capped at (\d+) s \(", "beauty/time_limit_s"),
        (r"capped at (\d+) s each", "others/time_limit_s"),
        (r"ran at (\d+) users/s", "beauty/eval_users_per_s"),
    ):
        m = re.search(pattern, md)
        if m:
            put(out, key, num(m.group(1)))
    return out
