"""BENCHMARKS.md section: XGBoost on Ray Train against single-process xgboost, timed in the same run.

Two workloads, each run alternately on both paths `repeats` times (the median ratio is the figure; the machine
is shared, so the 1-minute load average is printed with it):
- `tmdb_cv`: the rater's cross-validation on TMDB 5000 (cpu preset's XGBoost parameters, folds and seeds; the
  structured features of both leakage policies, no GenAI stages, so no LLM runs here). Ray: every fold model in
  one `XGBoostTrainer` worker group (`jobs.rater.fit_on_ray`); single: `rec_core.rater.cv.fit_local`.
- `synthetic_1m`: a synthetic regression of 1M rows; Ray: one booster on 2 workers, each building its half of
  the DMatrix; single: one `xgboost.train` on all rows. Same parameters and rounds.
Ray's time includes everything the driver waits for: the object-store put, the worker group's start, the
checkpoints (one every `report_every` rounds and one per booster) and reading the boosters back.
"""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import numpy as np

from rec_core.paths import REPO_ROOT

FULL = {"seeds": [0, 1, 2], "rows": 1_000_000, "features": 20, "rounds": 200, "report_every": 50, "repeats": 3}
QUICK = {"seeds": [0], "rows": 20_000, "features": 8, "rounds": 20, "report_every": 10, "repeats": 1}
WORKERS, CPUS_PER_WORKER = 2, 1.0
RMSE_TOLERANCE_PCT = 0.5


def _load() -> float:
    return os.getloadavg()[0]


def tmdb_cv(seeds: list[int], repeats: int, storage: Path) -> dict:
    """The rater's CV tasks (structured features, both policies, variant A) on Ray and in process."""
    from jobs.common.job import RunContext
    from jobs.rater import JOB, _feature_table, _movies, _single_threads, fit_on_ray
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


def render(results: dict, size: dict, quick: bool) -> str:
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
    return render(results, size, quick)


def figures(md: str) -> dict:
    """xgboost/<workload>/{rows, ray_wall_s, single_wall_s, ray_over_single, ray_rmse, single_rmse, rmse_diff_pct,
    load_avg} from `bench`'s table."""
    from benchmarks.results_io import md_tables, num, put

    out: dict = {}
    for t in md_tables(md):
        for r in t["rows"]:
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
    return out
