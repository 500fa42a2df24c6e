"""Benchmark section `sequential_baselines`: MostPopular, SASRec-BCE and SASRec-CE on Instruments and
ml-latest-small (cpu preset, the TIGER protocol and harness), the other datasets the TIGER issue asks for. The
TIGER rows for these datasets need a GPU (section `tiger_gpu`).

    python -m benchmarks.run --set sections=[sequential_baselines]
"""

from __future__ import annotations

import time

from benchmarks.results_io import md_tables
from benchmarks.tiger import WORK, _row, ranking_figures

DATASETS = ("instruments", "ml-latest-small")
NOTE = (
    "ml-latest-small has 610 users and SASRec trains on one sequence per user, so the cpu preset's 4 epochs are "
    "about 12 optimizer steps of 256: its SASRec rows there are a barely trained model (1 hit in 610 test users), "
    "not a result; a fair row needs many more epochs, which were not run."
)


def bench(quick: bool) -> str:
    from jobs import sasrec
    from jobs.common import runtime
    from jobs.common.config import RuntimeConfig
    from jobs.common.job import run_job

    runtime.init_ray(RuntimeConfig(num_cpus=2))
    quick_sets = ["train.epochs=1", "eval.test_users=300"] if quick else []
    runs = []
    for dataset in DATASETS:
        for loss in ("bce", "ce"):
            sets = [f"dataset={dataset}", f"loss={loss}", "train.resume=false", *quick_sets]
            t0 = time.perf_counter()
            m = run_job(
                sasrec.JOB, preset="cpu", overrides=sets, out_dir=WORK / f"sasrec-{loss}-{dataset}", init_runtime=False
            ).metrics
            runs.append((dataset, loss, m, time.perf_counter() - t0, sets))
    return render(runs)


def render(runs: list) -> str:
    lines = [
        "## Sequential baselines on Instruments and ml-latest-small",
        "",
        "Same protocol and harness as the Beauty table (last item = test, second last = valid, full ranking, no "
        "history masking; test on a fixed random 3,000 users, or all where fewer). SASRec is the cpu preset "
        "(2 layers, d_model 64, 4 epochs), far from converged; the TIGER rows for these datasets are in "
        '"TIGER on a GPU".',
        "",
        "| dataset | model | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 | notes |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for dataset in DATASETS:
        mine = [r for r in runs if r[0] == dataset]
        if not mine:
            continue
        lines.append(
            f"| {dataset} | "
            + _row("MostPopular", mine[0][2], "most_popular/test/", "train-sequence counts").removeprefix("| ")
        )
        for _, loss, m, wall, _ in mine:
            lines.append(
                f"| {dataset} | "
                + _row(
                    f"SASRec-{loss.upper()}", m, extra=f"{int(m['epochs_trained'])} epoch(s), {wall:.0f} s wall"
                ).removeprefix("| ")
            )
    lines += ["", NOTE]
    lines += [
        "",
        "Commands: "
        + "; ".join(
            "`genrec run sasrec --preset cpu " + " ".join(f"--set {s}" for s in sets) + "`" for *_, sets in runs
        ),
    ]
    return "\n".join(lines)


def figures(md: str) -> dict:
    """<dataset>/<model>/<metric> (+ epochs, wall_s) from the table of `render`."""
    return ranking_figures(md_tables(md)[0]["rows"])
