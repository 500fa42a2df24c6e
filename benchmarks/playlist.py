"""BENCHMARKS.md section: text -> movie list on ml-latest-small held-out texts, T5 vs retrieval vs popularity."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

COMMAND = "genrec run playlist --preset cpu"


def bench(quick: bool = False) -> str:
    import ray

    from jobs.common.job import run_job
    from jobs.playlist import JOB

    preset = "smoke" if quick else "cpu"
    out = Path("runs") / f"bench-playlist-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    res = run_job(JOB, preset=preset, out_dir=out, init_runtime=not ray.is_initialized())
    return section(res.metrics, preset, out, quick, boot=paired_bootstrap(out, reps=200 if quick else 5000))


def paired_bootstrap(run_dir: Path, reps: int = 5000, seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """T5 beam (alone, and with the exported keyword-fusion weight) minus a baseline, per metric: (mean difference,
    95 % CI low, high) by a bootstrap over held-out *texts* (every list of a text shares its generated list, so
    texts, not pairs, are the independent units). Keys `<t5|t5f>-<pop|kw>/<metric>`. Regenerates the beam lists
    from the run's exported model, exactly as the job's evaluation does."""
    import numpy as np
    import pandas as pd

    from rec_core.playlist.baselines import WordPopularity, popularity_list
    from rec_core.playlist.generator import Playlister
    from rec_core.playlist.metrics import list_ndcg_at_k, list_recall_at_k

    run_dir = Path(run_dir)
    cfg = json.loads((run_dir / "config.json").read_text())
    corpus = pd.read_parquet(run_dir / "corpus.parquet")
    train, test = corpus[corpus["split"] == "train"], corpus[corpus["split"] == "test"]
    texts = sorted(test["text"].unique())[: cfg["eval"].get("max_test_texts") or None]  # the job's own test subset
    test = test[test["text"].isin(set(texts))]
    length, beams, batch = cfg["eval"]["length"], cfg["eval"]["num_beams"], cfg["eval"]["batch_texts"]
    pl = Playlister.load(run_dir / "model")

    def beam(fusion: float) -> dict:
        return {
            r.text: r.items
            for s in range(0, len(texts), batch)
            for r in pl.generate(
                texts[s : s + batch],
                length=length,
                mode="beam",
                num_beams=beams,
                seed=cfg["seed"] + s,
                keyword_fusion=fusion,
            )
        }

    t5, t5f = beam(0.0), beam(pl.keyword_fusion)
    pop = popularity_list(train["items"], length)
    kw = dict(zip(texts, WordPopularity(train["text"], train["items"]).lists(texts, length)))
    rows = []
    for text, items in zip(test["text"], test["items"]):
        y = list(items)
        rows.append(
            {
                "text": text,
                **{
                    f"{name}/{mk}": fn(pred, y, 10)
                    for name, pred in (("t5", t5[text]), ("t5f", t5f[text]), ("pop", pop), ("kw", kw[text]))
                    for mk, fn in (("ndcg@10", list_ndcg_at_k), ("recall@10", list_recall_at_k))
                },
            }
        )
    sums = pd.DataFrame(rows).groupby("text").agg(["sum", "size"])
    n = sums.xs("size", axis=1, level=1).iloc[:, 0].to_numpy()
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(n), len(n)) for _ in range(reps)]
    out = {}
    for model in ("t5", "t5f"):
        for base in ("pop", "kw"):
            for mk in ("ndcg@10", "recall@10"):
                d = (sums[(f"{model}/{mk}", "sum")] - sums[(f"{base}/{mk}", "sum")]).to_numpy()
                boot = np.array([d[b].sum() / n[b].sum() for b in draws])
                lo, hi = np.percentile(boot, [2.5, 97.5])
                out[f"{model}-{base}/{mk}"] = (float(d.sum() / n.sum()), float(lo), float(hi))
    return out


def section(m: dict, preset: str, out: Path, quick: bool, boot: dict | None = None) -> str:
    rows = [
        ("T5 beam (constrained, no repeats)", "t5_beam"),
        ("T5 beam + keyword fusion (weight chosen on valid texts)", "t5_fusion"),
        ("T5 sampled (T from config)", "t5_sample"),
        ("MiniLM text-item retrieval", "retrieval"),
        ("Popularity", "popularity"),
        ("Keyword popularity (train lists sharing a word)", "keyword_popularity"),
    ]
    lines = [
        f"## Playlist generation: text -> movie list (ml-latest-small){' — QUICK (smoke sizes)' if quick else ''}",
        "",
        f"Dataset: MovieLens ml-latest-small; corpus of {int(m.get('corpus/pairs', 0))} (text, list) pairs from tag "
        "applications and liked-rating sessions (see the run's report.md); whole texts held out "
        f"({int(m.get('test_texts', 0))} test texts, {int(m.get('test_pairs', 0))} pairs). Generated lists of "
        "the configured length; Recall@K = hits in top K / |true list|, NDCG@K with binary gains over min(K, |T|). "
        "No published anchor exists for this corpus (it is built here); the baselines are the reference. "
        "Hardware: CPU only, 2 cores. Training recipe: lists shuffled every epoch, plus genre-set pairs "
        "(`recipe.*`, rec_core/playlist/training.py). Keyword fusion: beam search with a bonus for the items keyword "
        "popularity retrieves, weighted by their share of the matching training lists (rec_core/playlist/fusion.py); "
        f"weight {m.get('keyword_fusion/weight', float('nan')):g}, the best of `eval.fusion_weights` on the valid "
        "texts.",
        "",
        "| method | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, key in rows:
        if f"test/{key}/ndcg@10" not in m:
            continue  # a run made before this baseline existed
        lines.append(
            f"| {name} | "
            + " | ".join(
                f"{m.get(f'test/{key}/{k}', float('nan')):.4f}" for k in ("recall@5", "ndcg@5", "recall@10", "ndcg@10")
            )
            + " |"
        )
    subsets = [s for s in ("session", "tag") if f"test/t5_beam/{s}/ndcg@10" in m]
    if subsets:
        lines += [
            "",
            "NDCG@10 by source of the held-out text:",
            "",
            "| method | " + " | ".join(subsets) + " |",
            "|---|" + "---:|" * len(subsets),
        ]
        lines += [
            f"| {name} | " + " | ".join(f"{m.get(f'test/{key}/{s}/ndcg@10', float('nan')):.4f}" for s in subsets) + " |"
            for name, key in rows
            if f"test/{key}/{subsets[0]}/ndcg@10" in m
        ]
    if boot:
        names = {"pop": "popularity", "kw": "keyword popularity", "t5": "T5 beam", "t5f": "T5 beam + keyword fusion"}
        lines += [
            "",
            "T5 minus baseline, 95 % CI from a bootstrap over the held-out texts "
            "(`benchmarks.playlist.paired_bootstrap`, 5,000 resamples):",
            "",
            "| model | vs | NDCG@10 difference [95 % CI] | Recall@10 difference [95 % CI] |",
            "|---|---|---|---|",
        ]
        for model in ("t5", "t5f"):
            for base in ("pop", "kw"):
                if f"{model}-{base}/ndcg@10" not in boot:
                    continue
                lines.append(
                    f"| {names[model]} | {names[base]} | "
                    + " | ".join(
                        "{:+.4f} [{:+.4f}, {:+.4f}]".format(*boot[f"{model}-{base}/{mk}"])
                        for mk in ("ndcg@10", "recall@10")
                    )
                    + " |"
                )
    lb, lf, ls, lr = (
        m.get(f"latency/{k}", float("nan"))
        for k in ("t5_beam_single_s", "t5_fusion_single_s", "t5_sample_single_s", "retrieval_batched_s")
    )
    lines += [
        "",
        "Generation latency per list, one text per call (what a `genrec playlist` user waits for): "
        f"beam {lb:.3f} s, beam with fusion {lf:.3f} s, sampling {ls:.3f} s; as a ratio to MiniLM retrieval in the "
        f"same run (batched, per text {lr:.4f} s): beam x{lb / lr:.0f}, fusion x{lf / lr:.0f}, sampling x{ls / lr:.0f}."
        if lr == lr and lr > 0
        else "",
        "",
        f"Validity: invalid IDs {int(m.get('validity/invalid_sid_chunks', -1))}, lists with repeats "
        f"{int(m.get('validity/lists_with_repeats', -1))}, wrong length "
        f"{int(m.get('validity/lists_wrong_length', -1))}.",
        "",
        f"Command: `{COMMAND if preset == 'cpu' else 'genrec run playlist --preset smoke'}` (run dir `{out}`).",
    ]
    return "\n".join(lines) + "\n"


def section_from_run(run_dir: Path) -> str:
    """The section from a finished `genrec run playlist` run dir (its metrics.json and config.json)."""
    run_dir = Path(run_dir)
    m = json.loads((run_dir / "metrics.json").read_text())
    preset = json.loads((run_dir / "config.json").read_text()).get("preset") or "cpu"
    return section(m, preset, run_dir, quick=preset == "smoke", boot=paired_bootstrap(run_dir))


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 2 and sys.argv[1] == "--from-run":
        print(section_from_run(Path(sys.argv[2])))
    else:
        print(bench(quick="--quick" in sys.argv))


def figures(md: str) -> dict:
    """The job's own metric names where it has them: test/<method>/<metric>, test/<method>/<source>/ndcg@10,
    latency/*, validity/*, corpus/pairs, keyword_fusion/weight;
    bootstrap/<t5_beam|t5_fusion>_minus_<pop|kw>/<metric>[_ci_low|_ci_high]."""
    import re

    from benchmarks.results_io import aliases, md_tables, num, nums, put

    keys = {
        "T5 beam + keyword fusion": "t5_fusion",
        "T5 beam": "t5_beam",
        "T5 sampled": "t5_sample",
        "MiniLM": "retrieval",
        "Popularity": "popularity",
        "Keyword popularity": "keyword_popularity",
        "popularity": "pop",
        "keyword popularity": "kw",
    }
    key = lambda label: next(v for k, v in sorted(keys.items(), key=lambda kv: -len(kv[0])) if label.startswith(k))  # noqa: E731
    out: dict = {}
    for t in md_tables(md):
        first = t["rows"][0]
        if "Recall@5" in first:
            for r in t["rows"]:
                for col in ("Recall@5", "NDCG@5", "Recall@10", "NDCG@10"):
                    put(out, f"test/{key(r['method'])}/{col.lower()}", num(r[col]))
        elif "session" in first or "tag" in first:
            for r in t["rows"]:
                for src in ("session", "tag"):
                    if src in r:
                        put(out, f"test/{key(r['method'])}/{src}/ndcg@10", num(r[src]))
        elif "T5 beam vs" in first or "vs" in first:  # stored sections before the fusion row: one model column
            for r in t["rows"]:
                for col, mk in (
                    ("NDCG@10 difference [95 % CI]", "ndcg@10"),
                    ("Recall@10 difference [95 % CI]", "recall@10"),
                ):
                    d, lo, hi = nums(r[col])
                    model, base = (key(r["model"]), r["vs"]) if "vs" in r else ("t5_beam", r["T5 beam vs"])
                    p = f"bootstrap/{model}_minus_{key(base)}/{mk}"
                    put(out, p, d)
                    put(out, f"{p}_ci_low", lo)
                    put(out, f"{p}_ci_high", hi)
    for pattern, names in (
        (r"corpus of (\d+) \(text, list\) pairs", ("corpus/pairs",)),
        (r"\((\d+) test texts, (\d+) pairs\)", ("test_texts", "test_pairs")),
        (r"beam ([\d.]+) s, sampling ([\d.]+) s;", ("latency/t5_beam_single_s", "latency/t5_sample_single_s")),
        (
            r"beam ([\d.]+) s, beam with fusion ([\d.]+) s, sampling ([\d.]+) s;",
            ("latency/t5_beam_single_s", "latency/t5_fusion_single_s", "latency/t5_sample_single_s"),
        ),
        (r"weight ([\d.]+), the best of", ("keyword_fusion/weight",)),
        (r"per text ([\d.]+) s\)", ("latency/retrieval_batched_s",)),
        (
            r"invalid IDs (-?\d+), lists with repeats (-?\d+), wrong length (-?\d+)",
            ("validity/invalid_sid_chunks", "validity/lists_with_repeats", "validity/lists_wrong_length"),
        ),
    ):
        m = re.search(pattern, md)
        if m:
            for k, v in zip(names, m.groups()):
                put(out, k, num(v))
    return aliases(
        out,
        {
            "t5_beam/ndcg@10": "test/t5_beam/ndcg@10",
            "t5_fusion/ndcg@10": "test/t5_fusion/ndcg@10",
            "keyword_popularity/ndcg@10": "test/keyword_popularity/ndcg@10",
        },
    )
