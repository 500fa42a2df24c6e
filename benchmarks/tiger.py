"""BENCHMARKS.md section: TIGER vs SASRec (CE, BCE) vs MostPopular on Beauty (TIGER protocol), decoding
speed with and without the trie, and Ray Train's overhead over the same loop in plain PyTorch.

Every row is produced by the jobs' own code paths (`run_job(JOB, preset="cpu", ...)`), so the command
under each table reproduces it."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import torch

from benchmarks.results_io import md_tables, num, put, slug
from jobs.common.job import RunContext, run_job
from rec_core.paths import REPO_ROOT, default_data_dir, default_mirror

WORK = REPO_ROOT / "runs" / "bench-tiger"
PAPER = {  # Rajput et al. 2023, Table 1 (Beauty): R@5, N@5, R@10, N@10
    "TIGER (paper)": (0.0454, 0.0321, 0.0648, 0.0384),
    "SASRec (paper's table)": (0.0387, 0.0249, 0.0605, 0.0318),
}


def _row(name, m, prefix="test/", extra=""):
    if m is None:
        return f"| {name} | – | – | – | – | not measured: the run did not finish on this machine before the deadline |"
    return (
        f"| {name} | {m[prefix + 'recall@5']:.4f} | {m[prefix + 'ndcg@5']:.4f} | {m[prefix + 'recall@10']:.4f} "
        f"| {m[prefix + 'ndcg@10']:.4f} | {extra} |"
    )


def kmeans_codes(dataset: str, seed: int = 0) -> Path:
    """Item text embeddings -> 3x256 residual k-means + collision level (cached), the same as
    `--set codes_source=kmeans`; made once so that every run (CPU or GPU) uses the same IDs."""
    from jobs.common.sequential import kmeans_codes as make_codes
    from jobs.common.sequential import load_sequential

    out = WORK / f"{dataset}-codes"
    ctx = RunContext(out_dir=out, data_dir=default_data_dir(), mirror=default_mirror())
    split, _ = load_sequential(dataset, ctx)
    make_codes(dataset, split.item_ids, ctx, out / "codes", seed=seed)
    return out / "codes" / "codes.parquet"


def beauty_codes(seed: int = 0) -> Path:
    return kmeans_codes("beauty", seed)


def ray_overhead(steps_epochs: int = 2, users: int = 1000) -> dict:
    """The tiger job itself (synthetic chains, a 2+2-layer d_model-64 T5, batch 128, 1 Ray Train worker) and the
    same model, data and optimiser in a plain PyTorch loop, in this process, back to back: seconds for each.

    The Ray side is `run_job(tiger.JOB, ...)`; its `fit_s` metric (worker start-up, the epochs, checkpoints,
    shutdown) is the total and its per-epoch `epoch_s` history the epochs-only figure. The plain reference
    cannot be the job, so it trains on the job's own data and codes (its functions, the same resolved config)
    with `fit_plain`. Ray must be up (`run_all` starts it)."""
    import json

    from jobs.common.sequential import load_sequential, resolve_item_codes
    from jobs.common.train import HISTORY_FILE
    from jobs.tiger import JOB
    from rec_core.generative.data import BucketCollator, LengthBuckets, TigerCollator, WindowDataset, sliding_windows
    from rec_core.generative.model import build_tiger
    from rec_core.generative.train import fit_plain
    from rec_core.semantic_ids.codes import SIDVocab

    # The worker holds as many CPUs as the plain loop has torch threads: Ray sets a worker's threads to its CPUs.
    threads = torch.get_num_threads()
    sets = [
        "dataset=synthetic",
        f"synthetic.num_users={users}",
        "synthetic.num_items=200",
        "synthetic.seq_len=12",
        "model.dropout=0.0",
        f"train.epochs={steps_epochs}",
        "train.batch_size=128",
        "train.lr=0.001",
        f"train.cpus_per_worker={threads}",
        f"train.checkpoint_every={steps_epochs}",
        "train.resume=false",
        "warmup_steps=100",
        # evaluation is not what is timed: validate once (the last epoch, after its clock) on one user,
        # test on a few, no decoding comparison
        f"eval.every={steps_epochs}",
        "eval.valid_users=1",
        "eval.test_users=10",
        "eval.compare_users=0",
    ]
    cfg = JOB.resolve("cpu", None, sets)

    ctx = RunContext(out_dir=WORK / "overhead-plain", data_dir=default_data_dir(), mirror=default_mirror())
    split, feats = load_sequential(cfg.dataset, ctx, cfg.max_history, cfg.synthetic, cfg.seed)
    codes = resolve_item_codes(cfg, ctx, split, feats)
    vocab = SIDVocab(codes.codebook_sizes, cfg.model.num_user_tokens)
    tok = vocab.item_tokens(codes.aligned(split.item_ids))
    windows = sliding_windows(split.train, cfg.max_history)
    torch.manual_seed(cfg.seed)
    ds = WindowDataset(*windows)
    loader = torch.utils.data.DataLoader(
        LengthBuckets(ds, cfg.train.batch_size, seed=cfg.seed),
        batch_size=1,
        shuffle=True,
        collate_fn=BucketCollator(TigerCollator(vocab, tok, ds, cfg.max_history)),
    )
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    fit_plain(
        build_tiger(cfg.model, vocab),
        loader,
        steps_epochs,
        cfg.train.lr,
        weight_decay=cfg.train.weight_decay,
        warmup_steps=cfg.warmup_steps,
    )
    plain = time.perf_counter() - t0

    out = WORK / "overhead"
    m = run_job(JOB, preset="cpu", overrides=sets, out_dir=out, init_runtime=False).metrics
    hist = json.loads(sorted((out / "train").rglob(HISTORY_FILE))[-1].read_text())
    per_epoch = sum(h["epoch_s"] for h in hist)
    return {
        "plain_s": plain,
        "ray_total_s": m["fit_s"],
        "ray_epochs_s": per_epoch,
        "epochs": steps_epochs,
        "users": users,
        "windows": len(windows[2]),
        "load_avg_start": load,
        "load_avg_end": os.getloadavg()[0],
        "threads": threads,
        "input_share": m.get("input_share", float("nan")),
    }


def run_all(quick: bool) -> dict:
    """Run every measurement with the jobs' own code; -> {name: flat metrics} (+ wall seconds)."""
    import json

    from jobs import sasrec, tiger
    from jobs.common import runtime
    from jobs.common.config import RuntimeConfig

    runtime.init_ray(RuntimeConfig(num_cpus=2))
    codes = beauty_codes()
    q = ["train.epochs=1", "eval.valid_users=200", "eval.compare_users=100", "eval.test_users=500"] if quick else []
    out = {"codes": str(codes), "quick": quick}
    t0 = time.perf_counter()
    out["tiger"] = run_job(
        tiger.JOB,
        preset="cpu",
        overrides=["dataset=beauty", f"codes={codes}", *q],
        out_dir=WORK / "tiger-beauty",
        init_runtime=False,
    ).metrics
    out["tiger"]["_s"] = time.perf_counter() - t0
    sq = ["train.epochs=2", "eval.test_users=500"] if quick else []
    for loss in ("bce", "ce"):
        t0 = time.perf_counter()
        out[f"sasrec_{loss}"] = run_job(
            sasrec.JOB,
            preset="cpu",
            overrides=["dataset=beauty", f"loss={loss}", *sq],
            out_dir=WORK / f"sasrec-{loss}-beauty",
            init_runtime=False,
        ).metrics
        out[f"sasrec_{loss}"]["_s"] = time.perf_counter() - t0
    out["overhead"] = ray_overhead(1 if quick else 2)
    (WORK / "overhead.json").write_text(json.dumps(out["overhead"]))
    return out


def collect(work: Path = WORK) -> dict:
    """Results of earlier runs of the same commands, read from their run dirs (metrics.json)."""
    import json

    out = {"codes": str(work / "beauty-codes" / "codes" / "codes.parquet"), "quick": False}
    for key, d in (("tiger", "tiger-beauty"), ("sasrec_bce", "sasrec-bce-beauty"), ("sasrec_ce", "sasrec-ce-beauty")):
        f = work / d / "metrics.json"
        if f.exists():
            m = json.loads(f.read_text())
            m["_s"] = m["wall_time_s"]
            out[key] = m
        else:
            out[key] = None
    f = work / "overhead.json"
    out["overhead"] = json.loads(f.read_text()) if f.exists() else None
    ev = work / "eval-constrained-1000" / "metrics.json"
    if out["tiger"] is None and ev.exists():
        # The trained model evaluated by `genrec run evaluate` (same harness) when the tiger run's own final
        # evaluation did not finish: its history gives the epochs, the evaluate runs give the figures.
        m = json.loads(ev.read_text())
        hist = sorted((work / "tiger-beauty" / "train").rglob("history.json"))
        m["epochs_trained"] = len(json.loads(hist[-1].read_text())) if hist else float("nan")
        m["invalid_ids_constrained"] = round(m.get("invalid_share", 0.0) * 20 * 1000)
        m["_s"] = float("nan")
        m["_users"] = 1000
        out["tiger"] = m
        dec = {}
        for k in ("constrained", "unconstrained"):
            f = work / f"eval-{k}-300" / "metrics.json"
            if f.exists():
                d = json.loads(f.read_text())
                dec[k] = {
                    "users_per_s": d["users_per_s/test"],
                    "invalid_share": d.get("invalid_share", 0.0),
                    "recall@10": d["test/recall@10"],
                    "ndcg@10": d["test/ndcg@10"],
                }
        if len(dec) == 2:
            dec["source"] = (
                "Two `genrec run evaluate --set checkpoint=runs/bench-tiger/tiger-beauty --set max_users=300 "
                "--set splits=[test]` runs (`constrained=true|false`) back to back in one process, same users."
            )
            out["decode"] = dec
    return out


def bench(quick: bool) -> str:
    return render(run_all(quick))


def render(r: dict) -> str:
    tg, sas, ov, quick = r["tiger"], {"bce": r["sasrec_bce"], "ce": r["sasrec_ce"]}, r["overhead"], r["quick"]
    codes = Path(r["codes"])
    n_users = (
        (
            f"a fixed random {tg.get('_users', 3000) if tg else 3000:,} of the 22,363 users (the same users for TIGER "
            "and MostPopular)"
        )
        if not quick
        else "500 users"
    )
    lines = [
        "## TIGER generative retrieval (Beauty)",
        "",
        "Protocol: Amazon Beauty 5-core, P5/TIGER preprocessing (22,363 users, 12,101 items); per user last item = "
        "test, second last = valid, history = last 20 items; full ranking over all 12,101 items; no history masking "
        f"for any model; test figures on {n_users}; every row computed by the same harness "
        "(`rec_core.evaluation.evaluate_ranker`). TIGER decodes with a prefix trie (20 beams), so every returned ID is "
        "a real item.",
        "",
        "| model | Recall@5 | NDCG@5 | Recall@10 | NDCG@10 | notes |",
        "|---|---:|---:|---:|---:|---|",
        _row("MostPopular", tg or sas["ce"] or sas["bce"], "most_popular/test/", "train-sequence counts"),
        *(
            _row(
                f"SASRec-{k.upper()} (ours)",
                sas[k],
                extra=sas[k] and f"cpu preset, {int(sas[k]['epochs_trained'])} epochs, {sas[k]['_s']:.0f} s wall",
            )
            for k in ("bce", "ce")
        ),
        _row(
            "TIGER (ours)",
            tg,
            extra=tg
            and f"cpu preset, {int(tg['epochs_trained'])} epoch(s)"
            + (f", {tg['_s']:.0f} s wall" if tg["_s"] == tg["_s"] else "")
            + f"; invalid IDs returned: {int(tg['invalid_ids_constrained'])}",
        ),
    ]
    for name, (r5, n5, r10, n10) in PAPER.items():
        lines.append(
            f"| {name} | {r5:.4f} | {n5:.4f} | {r10:.4f} | {n10:.4f} | published (Rajput et al. 2023, Table 1) |"
        )
    if r.get("notes"):
        lines += [""] + [f"- {n}" for n in r["notes"]]
    lines += [
        "",
        "What differs from the paper: the cpu preset trains a far smaller T5 (2+2 layers, d_model 64, FFN 256; the "
        "paper: 4+4, d_model 128, FFN 1024 — that is the `gpu` preset) for "
        + (
            f"{int(tg['epochs_trained'])} epoch(s) (~{514 * int(tg['epochs_trained'])} steps of 256)"
            if tg
            else "a couple of epochs"
        )
        + " on 2 CPU "
        "cores, where the paper trains ~200k steps on GPUs; SASRec likewise runs only a few epochs. Semantic IDs come "
        "from MiniLM embeddings of Beauty's *short item names* (IDGenRec phrases of 2-6 words: the mirror has no "
        "titles, brands, categories or prices, which the paper embeds with Sentence-T5) via 3x256 residual k-means + "
        "a collision level, not an RQ-VAE. The numbers show the pipeline learns (TIGER vs MostPopular), not a "
        "reproduction of the paper's row.",
        "",
        "Commands: `genrec run tiger --preset cpu --set dataset=beauty --set codes="
        + str(codes).replace(str(REPO_ROOT) + "/", "")
        + "` (codes made by `benchmarks.tiger.beauty_codes()`, the same as `--set codes_source=kmeans`), "
        "`genrec run sasrec --preset cpu --set dataset=beauty --set loss=bce` (and `loss=ce`)."
        + (" **Quick sizes.**" if quick else ""),
        "",
        "### Decoding: trie-constrained vs unconstrained beam search (same model, same run, same test users)",
        "",
        "| search (20 beams) | users/s | invalid-ID share of beams | Recall@10 | NDCG@10 |",
        "|---|---:|---:|---:|---:|",
    ]
    dec = r.get("decode") or (
        tg
        and {
            k: {m: tg[f"decode/{k}/{m}"] for m in ("users_per_s", "invalid_share", "recall@10", "ndcg@10")}
            for k in ("constrained", "unconstrained")
        }
    )
    if dec:
        for k in ("constrained", "unconstrained"):
            d = dec[k]
            lines.append(
                f"| {k}{' + filtering' if k == 'unconstrained' else ''} | {d['users_per_s']:.1f} | "
                f"{d['invalid_share']:.3f} | {d['recall@10']:.4f} | {d['ndcg@10']:.4f} |"
            )
        ratio = dec["constrained"]["users_per_s"] / dec["unconstrained"]["users_per_s"]
        lines += [
            "",
            f"Constrained / unconstrained throughput: **{ratio:.2f}x** (the trie callback runs in Python for every "
            f"beam at every step). {dec.get('source', 'From the `decode/*` metrics of the tiger run above.')}",
        ]
    else:
        lines.append("| – | – | – | – | – |")
    lines += [
        "",
        "### Ray Train overhead vs plain PyTorch (same TIGER loop, same process)",
        "",
        "| run | seconds | ratio to plain |",
        "|---|---:|---:|",
    ]
    if ov is None:
        lines.append("| – | – | not measured: did not finish on this machine before the deadline |")
        return "\n".join(lines)
    lines += [
        f"| plain PyTorch loop | {ov['plain_s']:.1f} | 1.00 |",
        f"| Ray Train (1 worker): training epochs only | {ov['ray_epochs_s']:.1f} | "
        f"{ov['ray_epochs_s'] / ov['plain_s']:.2f} |",
        f"| Ray Train (1 worker): incl. worker start-up, checkpoint, shutdown | {ov['ray_total_s']:.1f} | "
        f"{ov['ray_total_s'] / ov['plain_s']:.2f} |",
        "",
        f"Synthetic chains ({ov['users']} users, 200 items, {ov['windows']} windows), 2+2-layer d_model-64 T5, "
        "batch 128, "
        + (
            f"{ov['threads']} torch threads in both runs (the Ray worker holds {ov['threads']} CPUs), "
            if "threads" in ov
            else ""
        )
        + f"{ov['epochs']} epoch(s); the Ray run is `genrec run tiger --preset cpu --set dataset=synthetic ...` (see "
        "`benchmarks.tiger.ray_overhead`), the plain loop trains on that job's data with `fit_plain`. "
        "The two runs ran back to back (plain first); "
        + (
            f"1-minute load average {ov['load_avg_start']:.1f} before and {ov['load_avg_end']:.1f} after, on 2 cores. "
            if "load_avg_start" in ov
            else "the machine's load was not recorded for this run. "
        )
        + "Ray runs its workers at nice 15, so any other process on the machine slows the Ray run "
        "more than the plain one.",
    ]
    return "\n".join(lines)


def model_key(label: str) -> str | None:
    """'MostPopular' -> most_popular, 'SASRec-BCE (ours)' -> sasrec_bce, 'TIGER (ours, gpu preset)' -> tiger;
    None for the published rows (the paper's figures are anchors, not our measurements)."""
    if "paper" in label:
        return None
    base = label.split(" (")[0]
    return "most_popular" if base == "MostPopular" else slug(base)


def ranking_figures(rows: list[dict], prefix: str = "") -> dict:
    """Figures of a `_row` table: <dataset>/<model>/<metric>, plus epochs, seconds and invalid IDs from the notes."""
    out: dict = {}
    for r in rows:
        key = model_key(r["model"])
        if key is None:
            continue
        p = f"{prefix or r['dataset']}/{key}"
        for col in ("Recall@5", "NDCG@5", "Recall@10", "NDCG@10"):
            put(out, f"{p}/{col.lower()}", num(r[col]))
        notes = r.get("notes", "")
        for name, pattern in (
            ("epochs", r"(\d+) epochs?\b|(\d+) epoch\(s\)"),
            ("fit_s", r"fit (\d+) s"),
            ("wall_s", r"(\d+) s wall"),
            ("invalid_ids", r"invalid IDs returned: (\d+)"),
        ):
            m = re.search(pattern, notes)
            if m:
                put(out, f"{p}/{name}", num(next(g for g in m.groups() if g)))
    return out


def figures(md: str) -> dict:
    """beauty/<model>/<metric>, decode/<search>/<figure>, ray_overhead/<figure>: the tables of `render`."""
    tables = md_tables(md)
    out = ranking_figures(tables[0]["rows"], "beauty")
    m = re.search(r"test figures on a fixed random ([\d,]+) of", md)
    if m:
        put(out, "beauty/test_users", num(m.group(1)))
    for t in tables[1:]:
        if "users/s" in t["rows"][0]:
            for r in t["rows"]:
                k = slug(r["search (20 beams)"].split(" + ")[0])
                for col, name in (
                    ("users/s", "users_per_s"),
                    ("invalid-ID share of beams", "invalid_share"),
                    ("Recall@10", "recall@10"),
                    ("NDCG@10", "ndcg@10"),
                ):
                    put(out, f"decode/{k}/{name}", num(r[col]))
        elif "ratio to plain" in t["rows"][0]:
            for r in t["rows"]:
                k = (
                    "plain_s"
                    if r["run"].startswith("plain")
                    else "ray_epochs_s"
                    if "epochs only" in r["run"]
                    else "ray_total_s"
                )
                put(out, f"ray_overhead/{k}", num(r["seconds"]))
                if k != "plain_s":
                    put(out, f"ray_overhead/{k[:-2]}_over_plain", num(r["ratio to plain"]))
    m = re.search(r"Constrained / unconstrained throughput: \*\*([\d.]+)x\*\*", md)
    if m:
        put(out, "decode/constrained_over_unconstrained", num(m.group(1)))
    m = re.search(r"Synthetic chains \((\d+) users, (\d+) items, (\d+) windows\).*?(\d+) epoch\(s\)", md)
    if m:
        for k, v in zip(("users", "items", "windows", "epochs"), m.groups()):
            put(out, f"ray_overhead/{k}", num(v))
    m = re.search(r"load average ([\d.]+) before and ([\d.]+) after", md)
    if m:
        put(out, "ray_overhead/load_avg_start", num(m.group(1)))
        put(out, "ray_overhead/load_avg_end", num(m.group(2)))
    return out
