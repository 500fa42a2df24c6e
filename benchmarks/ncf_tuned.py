"""BENCHMARKS.md section `ncf_tuned`: NeuMF vs LLM-xattn, each at the hyperparameters Ray Tune chose for it.

The `ncf` section trains every variant at one shared set of sizes for a few epochs. Here each (dataset, model)
first gets its own `genrec tune ncf` search (learning rate, negatives, factors, tower; plus the fusion width,
InfoNCE weight and temperature for LLM-xattn), ranked by validation NDCG@10, so the test users never steer it.
`collect_tuned` stores the chosen configs in ncf_tuned_configs.json; this section re-trains each with 3 seeds
(training seeds; the split is fixed, seed 0, as in the Tune runs) and reads test figures at the best valid epoch.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from benchmarks.ncf import (
    DATASETS,
    LM,
    NCF_SIZES,
    TRAIN,
    _cache_dir,
    _fmt,
    _gains,
    _load,
    _log,
    _train_row,
    put_row_figures,
)

CONFIGS = Path(__file__).with_name("ncf_tuned_configs.json")
ROWS = [("NeuMF, tuned", "neumf"), ("LLM-xattn + InfoNCE, tuned", "llm_xattn")]
FULL = dict(seeds=[0, 1, 2], patience=4)  # epochs: the budget each Tune trial had
QUICK = dict(seeds=[0], patience=0, epochs=1)


def split_tuned(best_config: dict) -> tuple[dict, dict]:
    """A Tune best_config (dotted job keys) as (NCFModelConfig fields over NCF_SIZES, train_local kwargs over TRAIN)."""
    sizes, train = dict(NCF_SIZES), dict(TRAIN)
    where = {"ncf": sizes, "train": train, "data": train}
    for dotted, v in best_config.items():
        group, key = dotted.split(".", 1)
        if group not in where or (group != "ncf" and key not in train):
            raise ValueError(f"tuned key {dotted!r} has no place in the NCF bench")
        where[group][key] = v
    return sizes, train


def run_tuned(
    name: str, key: str, seeds: list[int], epochs: int, patience: int, config: dict, log_path: str | None = None
) -> tuple[list[dict], dict]:
    """([best-valid-epoch metrics per seed], dataset stats) for one tuned (dataset, model) (own process)."""
    import torch

    from rec_core.ncf import LMConfig, NCFModelConfig, build_model
    from rec_core.ncf.lm import build_or_load_cache

    torch.set_num_threads(1)
    data = _load(name)
    lm = LMConfig(**LM)
    tokens = build_or_load_cache(lm, data.item_texts, _cache_dir(), need_tokens=True) if key != "neumf" else None
    sizes, train = split_tuned(config)
    rows = []
    for seed in seeds:
        torch.manual_seed(seed)
        model = build_model(
            key, data.num_users, data.num_items, NCFModelConfig(**sizes), lm, data.item_texts, tokens, seed
        )
        # sampled 1 + 99 ranking only: a full ranking every epoch of up to 16 would double this section's time
        rows.append(_train_row(model, data, epochs, seed, train, patience, full_ranking=False))
        _log(log_path, {"dataset": name, "model": key, "tuned": True, **rows[-1]})
    return rows, data.stats


def collect_tuned(
    run_dirs: dict[str, dict[str, str]],
    epochs: int,
    samples: dict[str, int],
    extra_sets: dict[str, list[str]],
    path: Path = CONFIGS,
) -> dict:
    """CONFIGS from `genrec tune ncf` experiment dirs, {dataset: {model: dir}}: each one's best.json (the best
    trial's config and its validation NDCG@10) and the command that ran the search (`samples[dataset]` trials;
    `extra_sets[dataset]`: the --set values beyond dataset, model and epochs). Run once after the searches."""
    out = {"epochs": epochs, "samples": samples, "configs": {}}
    for ds, by_model in run_dirs.items():
        for model, d in by_model.items():
            best = json.loads((Path(d) / "best.json").read_text())
            sets = [f"dataset={ds}", f"model={model}", f"train.epochs={epochs}", *extra_sets.get(ds, [])]
            out["configs"].setdefault(ds, {})[model] = {
                "config": best["best_config"],
                "valid_ndcg@10": best["best_metrics"].get("valid/ndcg@10"),
                "trials": best["num_trials"],
                "failed_trials": best["failed_trials"],
                "tune_command": f"genrec tune ncf --preset cpu --samples {samples[ds]} "
                + " ".join(f"--set {x}" for x in sets),
            }
    path.write_text(json.dumps(out, indent=2) + "\n")
    return out


def bench(quick: bool) -> str:
    tuned_file = json.loads(CONFIGS.read_text())
    size = QUICK if quick else {**FULL, "epochs": tuned_file["epochs"]}
    datasets = [d for d in DATASETS if d in tuned_file["configs"]]  # the datasets a search has finished for
    # one process per (dataset, model), two at a time, the slow cross-attention ones first
    jobs = [(name, key) for key in ("llm_xattn", "neumf") for name in reversed(datasets)]
    t0 = time.perf_counter()
    tuned: dict = {name: {} for name in datasets}
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as pool:
        futs = {
            (name, key): pool.submit(
                run_tuned, name, key, size["seeds"], size["epochs"], size["patience"],
                tuned_file["configs"][name][key]["config"],
            )
            for name, key in jobs
        }  # fmt: skip
        for (name, key), f in futs.items():
            tuned[name][key], tuned[name]["_stats"] = f.result()
    return render(tuned, tuned_file, size, time.perf_counter() - t0)


def _hparams(config: dict) -> str:
    return ", ".join(
        f"{k.split('.', 1)[1]} {v:.3g}" if isinstance(v, float) else f"{k.split('.', 1)[1]} {v}"
        for k, v in sorted(config.items())
    )


def render(tuned: dict, tuned_file: dict, size: dict, train_s: float) -> str:
    lines = [
        "## LLM-enhanced NCF, tuned: NeuMF vs LLM-xattn, each with its own Ray Tune search per dataset (issue 20)",
        "",
        f"Each (dataset, model) got its own `genrec tune ncf` search (the exact commands are in "
        "benchmarks/ncf_tuned_configs.json; the trial counts are in the tables): trials over learning "
        "rate, negatives per positive, factors and MLP tower (plus the metadata width, InfoNCE weight and "
        "temperature for LLM-xattn), ASHA cutting weak trials from epoch 2, ranked by validation NDCG@10 at the "
        f"trial's best epoch, up to {tuned_file['epochs']} epochs. Each chosen config is re-trained "
        f"here with {len(size['seeds'])} seed(s) for up to {size['epochs']} epochs"
        + (f", stopping after {size['patience']} epochs without a validation gain" if size["patience"] else "")
        + "; test figures are read at the best validation epoch (protocol and split as in the `ncf` section: "
        "leave-latest-one-out, 1 + 99 sampled candidates; the full-ranking columns are left out here for time).",
        "",
    ]
    for name, res in tuned.items():
        st = res["_stats"]
        lines += [
            f"### {name} tuned ({st['users']} users, {st['items']} items)",
            "",
            "| model | seeds | HR@10 | NDCG@10 | full Recall@10 | full NDCG@10 | best epochs | Tune trials (failed) | "
            "Tune valid NDCG@10 | chosen hyperparameters |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for label, key in ROWS:
            runs, choice = res[key], tuned_file["configs"][name][key]
            cells = [
                _fmt([r[f"test/{m}"] for r in runs if f"test/{m}" in r])
                for m in ("hr@10", "ndcg@10", "full_recall@10", "full_ndcg@10")
            ]
            cells.append(", ".join(str(r["best_epoch"] + 1) for r in runs))
            cells.append(f"{choice.get('trials', '?')} ({choice.get('failed_trials', 0)})")
            cells.append(f"{choice['valid_ndcg@10']:.4f}")
            cells.append(_hparams(choice["config"]))
            lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + " |")
        lines += ["", _gains(res, ROWS), ""]
    missing = [d for d in DATASETS if d not in tuned]
    if missing:
        lines += [f"Not tuned yet (no search in ncf_tuned_configs.json): {', '.join(missing)}.", ""]
    lines.append(
        f"Training time of this section: {train_s / 60:.1f} min. Reproduce: `python -m benchmarks.run "
        "--set sections=[ncf_tuned]`."
    )
    return "\n".join(lines)


def figures(md: str) -> dict:
    """<dataset>/<model>/<metric> (mean; `_sd` the std over seeds), <dataset>/<model>/tune_valid_ndcg@10 and
    <dataset>/llm_xattn/ndcg@10_gain_pct (paired mean vs tuned NeuMF), from the tables of `render`."""
    import re

    from benchmarks.results_io import md_tables, put

    keys = dict(ROWS)
    out: dict = {}
    for t in md_tables(md):
        m = re.match(r"(\S+) tuned \(", t["heading"])
        if not m:
            continue
        for r in t["rows"]:
            columns = ("HR@10", "NDCG@10", "full Recall@10", "full NDCG@10", "Tune valid NDCG@10")
            put_row_figures(out, f"{m.group(1)}/{keys[r['model']]}", r, columns)
    for ds, body in re.findall(r"^### (\S+) tuned \(.*?\n(.*?)(?=^### |\Z)", md, re.M | re.S):
        for gain in re.findall(r"LLM-xattn \+ InfoNCE ([+-][\d.]+) % \(per seed", body):
            put(out, f"{ds}/llm_xattn/ndcg@10_gain_pct", float(gain))
    return out
