"""BENCHMARKS.md section: XGBoost on Ray Train against single-process xgboost, timed in the same run.

Two workloads, each run alternately on both paths `repeats` times (the median ratio is the figure; the machine
is shared, so the 1-minute load average is printed with it):
- `tmdb_cv`: the rater's cross-validation on TMDB 5000 (cpu preset's XGBoost parameters, folds and seeds; the
  structured features of both leakage policies, no GenAI stages, so no LLM runs here). Ray: every fold model in
  one `XGBoostTrainer` worker group (`jobs.rater.fit_on_ray`); single: `rec_core.rater.cv.fit_local`.
- `synthetic_1m`: a synthetic regression of 1M rows; Ray: one booster on 2 workers, each building its half of
  the DMatrix; single: one `xgboost.train` on all rows. Same parameters and rounds.
- a sweep of the same synthetic regression at smaller sizes: where Ray starts to pay on this machine (the smallest
  size with Ray / single <= CROSSOVER_RATIO), which is what `cv.ray_min_rows` (the rater's size threshold) is set from;
- the rater's own path for the TMDB CV at its default `cv.ray_min_rows`, against the same single-process fit.
Ray's time includes everything the driver waits for: the object-store put, the worker group's start, the
checkpoints (one every `report_every` rounds and one per booster) and reading the boosters back.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from pathlib import Path

import numpy as np

from rec_core.paths import REPO_ROOT

FULL = {
    "seeds": [0, 1, 2],
    "rows": 1_000_000,
    "features": 20,
    "rounds": 200,
    "report_every": 50,
    "repeats": 3,
    "sweep": [30_000, 300_000, 3_000_000],
}
QUICK = {
    "seeds": [0],
    "rows": 20_000,
    "features": 8,
    "rounds": 20,
    "report_every": 10,
    "repeats": 1,
    "sweep": [2_000, 5_000],
}
# Ray "pays" from the size where its time is at most this multiple of one process's (the bar for 1M rows).
CROSSOVER_RATIO = 1.3
WORKERS, CPUS_PER_WORKER = 2, 1.0
RMSE_TOLERANCE_PCT = 0.5


def _load() -> float:
    return os.getloadavg()[0]


def _tmdb_tasks(seeds: list[int], storage: Path):
    """The rater's cpu-preset table (structured features only, variant A) and its fold tasks for every policy."""
    from jobs.common.job import RunContext
    from jobs.rater import JOB, _feature_table, _movies
    from rec_core.paths import default_data_dir, default_mirror
    from rec_core.rater import cv

    cfg = JOB.resolve("cpu", overrides=[f"cv.seeds={seeds}", "features.genai_groups=[]", "cv.variants=[A]"])
    ctx = RunContext(out_dir=storage, data_dir=default_data_dir(), mirror=default_mirror())
    table, colsets, _ = _feature_table(cfg, _movies(cfg, ctx), {})
    policies = [k.split(".")[0] for k in colsets if k.endswith(".A")]
    tasks = [
        t
        for p in policies
        for r in range(len(seeds))
        for t in cv.make_tasks(p, "A", r, cfg.cv.n_folds, cfg.seed + cfg.cv.seeds[r])
    ]
    return cfg, table, colsets, tasks, policies


def tmdb_cv(seeds: list[int], repeats: int, storage: Path) -> dict:
    """The rater's CV tasks (structured features, both policies, variant A) on Ray and in process."""
    from jobs.rater import _single_threads, fit_on_ray
    from rec_core.rater import cv

    cfg, table, colsets, tasks, policies = _tmdb_tasks(seeds, storage)
    threads = _single_threads(cfg)
    runs = []
    for _ in range(repeats):
        load = _load()
        ray_b, ray_s = fit_on_ray(
            table,
            colsets,
            tasks,
            cfg.xgb,
            WORKERS,
            CPUS_PER_WORKER,
            cfg.cv.report_every,
            storage / "ray_train",
        )
        loc_b, loc_s = cv.fit_local(table, colsets, tasks, cfg.xgb, nthread=threads)
        runs.append((ray_s, loc_s, (load + _load()) / 2))

    def rmse(boosters):
        oof = cv.out_of_fold(table, colsets, tasks, boosters)
        return float(cv.fold_metrics(oof)["rmse"].mean())

    return _summary(
        runs,
        rmse(ray_b),
        rmse(loc_b),
        rows=len(table),
        tasks=len(tasks),
        threads=threads,
        what=f"{len(tasks)} fold models ({', '.join(policies)} structured features; {cfg.cv.n_folds} folds × "
        f"{len(seeds)} seeds; depth {cfg.xgb.max_depth}, eta {cfg.xgb.eta}, ≤ {cfg.xgb.num_boost_round} rounds, "
        f"early stopping {cfg.xgb.early_stopping_rounds}), checkpoint per fold model"
        + (f" and every {cfg.cv.report_every} rounds" if cfg.cv.report_every < cfg.xgb.num_boost_round else ""),
    )


def tmdb_job_path(seeds: list[int], repeats: int, storage: Path) -> dict:
    """The rater's own dispatch (`jobs.rater.fit_tasks`: Ray Train at or above `cv.ray_min_rows` rows, else in
    process) against a plain single-process fit of the same tasks."""
    from jobs.rater import _single_threads, fit_tasks
    from rec_core.rater import cv

    cfg, table, colsets, tasks, _ = _tmdb_tasks(seeds, storage)
    runs, path = [], ""
    for _ in range(repeats):
        load = _load()
        _, job_s, path = fit_tasks(cfg, table, colsets, tasks, storage / "ray_train")
        t0 = time.perf_counter()
        cv.fit_local(table, colsets, tasks, cfg.xgb, nthread=_single_threads(cfg))
        runs.append((job_s, time.perf_counter() - t0, (load + _load()) / 2))
    return {
        "rows": len(table),
        "min_rows": cfg.cv.ray_min_rows,
        "path": path,
        "job_s": statistics.median(r for r, _, _ in runs),
        "single_s": statistics.median(s for _, s, _ in runs),
        "ratio": statistics.median(r / s for r, s, _ in runs),
        "load": statistics.median(load for _, _, load in runs),
    }


def synthetic_data(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    y = 2 * np.sin(x[:, 0]) + x[:, 1] * x[:, 2] + (x[:, 3] > 0) + 0.5 * x[:, 4] ** 2 + rng.normal(0, 0.5, rows)
    return x, y.astype(np.float32)


def synthetic_params(nthread: int) -> dict:
    return {"objective": "reg:squarederror", "max_depth": 6, "eta": 0.1, "tree_method": "hist", "nthread": nthread}


def synthetic_worker(config: dict) -> None:
    """Ray Train worker: its contiguous 1/world of the rows from the object store, one booster."""
    import ray
    import ray.train
    import xgboost as xgb

    from jobs.common.train import xgb_train_tasks

    ctx = ray.train.get_context()
    x, y = ray.get(config["data"])
    part = np.array_split(np.arange(len(y)), ctx.get_world_size())[ctx.get_world_rank()]
    xs, ys = x[part[0] : part[-1] + 1], y[part[0] : part[-1] + 1]

    def train_one(tid, callbacks, resume_from):
        done = resume_from.num_boosted_rounds() if resume_from is not None else 0
        d = xgb.DMatrix(xs, label=ys, nthread=1)
        return xgb.train(
            synthetic_params(1),
            d,
            num_boost_round=config["rounds"] - done,
            xgb_model=resume_from,
            callbacks=callbacks,
        )

    xgb_train_tasks(["synthetic"], train_one, config["report_every"])


def synthetic(rows: int, features: int, rounds: int, report_every: int, repeats: int, storage: Path) -> dict:
    import uuid

    import ray
    import xgboost as xgb

    from jobs.common.train import boosters_by_task, fit_xgboost

    x, y = synthetic_data(rows, features, seed=0)
    xt, yt = synthetic_data(max(rows // 10, 1000), features, seed=1)
    runs = []
    for _ in range(repeats):
        load = _load()
        t0 = time.perf_counter()
        ref = ray.put((x, y))
        res = fit_xgboost(
            synthetic_worker,
            {"data": ref, "rounds": rounds, "report_every": report_every},
            None,
            WORKERS,
            CPUS_PER_WORKER,
            storage / "ray_train",
            f"xgb-synthetic-{uuid.uuid4().hex[:8]}",
        )
        ray_b = boosters_by_task(res, ["synthetic"])["synthetic"]
        ray_s = time.perf_counter() - t0
        del ref
        t0 = time.perf_counter()
        loc_b = xgb.train(synthetic_params(WORKERS), xgb.DMatrix(x, label=y, nthread=WORKERS), num_boost_round=rounds)
        loc_s = time.perf_counter() - t0
        runs.append((ray_s, loc_s, (load + _load()) / 2))
    dt = xgb.DMatrix(xt)

    def rmse(b):
        return float(np.sqrt(np.mean((b.predict(dt) - yt) ** 2)))

    return _summary(
        runs,
        rmse(ray_b),
        rmse(loc_b),
        rows=rows,
        tasks=1,
        threads=WORKERS,
        what=f"one booster, {rows:,} rows × {features} features (held-out RMSE on {len(yt):,} rows), depth 6, eta "
        f"0.1, {rounds} rounds, no sampling; checkpoint every {report_every} rounds and at the end",
    )


def _summary(runs, ray_rmse, single_rmse, rows, tasks, threads, what) -> dict:
    ratios = [r / s for r, s, _ in runs]
    return {
        "ray_s": statistics.median(r for r, _, _ in runs),
        "single_s": statistics.median(s for _, s, _ in runs),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "load": statistics.median(load for _, _, load in runs),
        "ray_rmse": ray_rmse,
        "single_rmse": single_rmse,
        "rmse_diff_pct": 100 * abs(ray_rmse - single_rmse) / single_rmse,
        "rows": rows,
        "tasks": tasks,
        "threads": threads,
        "what": what,
    }


def crossover_rows(sweep: dict[int, dict]) -> int | None:
    """The smallest swept size from which Ray / single stays <= CROSSOVER_RATIO (None: Ray never pays)."""
    sizes = sorted(sweep)
    for i, n in enumerate(sizes):
        if all(sweep[m]["ratio"] <= CROSSOVER_RATIO for m in sizes[i:]):
            return n
    return None


def render(results: dict, size: dict, quick: bool, sweep: dict | None = None, job: dict | None = None) -> str:
    goals = {"tmdb_cv": 2.0, "synthetic_1m": 1.3}
    lines = [
        "## XGBoost on Ray Train vs single process",
        "",
        f"Each workload runs on both paths {size['repeats']}× in the same run, alternating; the figures are the "
        f"medians. Ray: `XGBoostTrainer` with {WORKERS} workers × {CPUS_PER_WORKER:g} CPU (1 xgboost thread each), "
        "timed from the object-store put to the boosters read back from their checkpoints, worker-group start "
        f"included. Single: plain `xgboost.train` in the driver with {WORKERS} threads, DMatrix build included. "
        f"Equal quality means RMSE within {RMSE_TOLERANCE_PCT} % (distributed `hist` merges per-worker quantile "
        "sketches, so the models are close, not identical). The machine is shared: the 1-minute load average "
        "during each workload is shown. Command: `genrec bench --set sections=[xgb_overhead]`.",
        "",
        "| workload | rows | Ray Train s | single s | Ray / single (runs) | goal | RMSE Ray | RMSE single | "
        "RMSE Δ % | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        runs = ", ".join(f"{x:.2f}" for x in r["ratios"])
        lines.append(
            f"| `{name}` | {r['rows']:,} | {r['ray_s']:.1f} | {r['single_s']:.1f} | **{r['ratio']:.2f}** ({runs}) | "
            f"≤ {goals[name]} | {r['ray_rmse']:.4f} | {r['single_rmse']:.4f} | {r['rmse_diff_pct']:.2f} | "
            f"{r['load']:.1f} |"
        )
    lines.append("")
    for name, r in results.items():
        lines.append(f"- `{name}`: {r['what']}.")
    if sweep:
        cross = crossover_rows(sweep)
        lines += [
            "",
            "### Where Ray's fixed cost stops dominating",
            "",
            f"The `synthetic_1m` workload at other sizes (one run each, same parameters). On one machine Ray's workers "
            "add no CPUs, so Ray / single falls towards 1 as the fit grows past a fixed cost (worker-group start-up, "
            "the object-store transfer, checkpoints); the crossover is the smallest size from which it stays ≤ "
            f"{CROSSOVER_RATIO}. The rater's `cv.ray_min_rows` default, 1,000,000 rows, is where that fixed cost has "
            "fallen to about the fit's own time; on a cluster, whose workers bring CPUs and memory one machine "
            "lacks, set it lower.",
            "",
            "| rows | Ray Train s | single s | Ray / single | load avg |",
            "|---|---|---|---|---|",
        ]
        for n in sorted(sweep):
            r = sweep[n]
            lines.append(f"| {n:,} | {r['ray_s']:.1f} | {r['single_s']:.1f} | {r['ratio']:.2f} | {r['load']:.1f} |")
        lines += ["", f"Crossover: **{cross:,} rows**." if cross else "Crossover: none of the swept sizes."]
    if job:
        lines += [
            "",
            "### The rater's own path",
            "",
            f"`jobs.rater.fit_tasks` on the `tmdb_cv` tasks at the default `cv.ray_min_rows` = {job['min_rows']:,}: "
            f"the table's {job['rows']:,} rows train **{job['path']}**.",
            "",
            "| workload | path | job s | single s | job / single | goal | load avg |",
            "|---|---|---|---|---|---|---|",
            f"| `tmdb_cv` | {job['path']} | {job['job_s']:.1f} | {job['single_s']:.1f} | **{job['ratio']:.2f}** "
            f"| ≤ 2.0 | {job['load']:.1f} |",
        ]
    if quick:
        lines.append("\n(quick sizes: not the figures the goals refer to)")
    return "\n".join(lines) + "\n"


def bench(quick: bool) -> str:
    size = QUICK if quick else FULL
    storage = REPO_ROOT / "runs" / "bench-xgboost"
    storage.mkdir(parents=True, exist_ok=True)
    results = {
        "tmdb_cv": tmdb_cv(size["seeds"], size["repeats"], storage),
        "synthetic_1m": synthetic(
            size["rows"], size["features"], size["rounds"], size["report_every"], size["repeats"], storage
        ),
    }
    sweep = {n: synthetic(n, size["features"], size["rounds"], size["report_every"], 1, storage) for n in size["sweep"]}
    sweep[size["rows"]] = results["synthetic_1m"]
    job = tmdb_job_path(size["seeds"], size["repeats"], storage)
    return render(results, size, quick, sweep, job)


def figures(md: str) -> dict:
    """xgboost/<workload>/{rows, ray_wall_s, single_wall_s, ray_over_single, ray_rmse, single_rmse, rmse_diff_pct,
    load_avg} from `bench`'s table."""
    from benchmarks.results_io import md_tables, num, put

    out: dict = {}
    for t in md_tables(md):
        for r in t["rows"]:
            if "job / single" in r:
                put(out, "xgboost/tmdb_cv/job_path_over_single", num(r["job / single"]))
                put(out, "xgboost/tmdb_cv/job_path_wall_s", num(r["job s"]))
                continue
            if "Ray / single" in r:
                n = num(r["rows"])
                put(out, f"xgboost/sweep/{n}/ray_over_single", num(r["Ray / single"]))
                continue
            if "workload" not in r:
                continue
            w = r["workload"].strip("`")
            for col, key in (
                ("rows", "rows"),
                ("Ray Train s", "ray_wall_s"),
                ("single s", "single_wall_s"),
                ("Ray / single (runs)", "ray_over_single"),
                ("RMSE Ray", "ray_rmse"),
                ("RMSE single", "single_rmse"),
                ("RMSE Δ %", "rmse_diff_pct"),
                ("load avg", "load_avg"),
            ):
                put(out, f"xgboost/{w}/{key}", num(r[col]))
    m = re.search(r"Crossover: \*\*([\d,]+) rows", md)
    if m:
        put(out, "xgboost/crossover_rows", num(m.group(1)))
    return out
