"""`genrec tune JOB`: one generic Ray Tune driver for every job.

A job opts in with `tune_spaces/<job>.py` defining
    param_space(cfg) -> {"dotted.config.key": tune distribution, ...}
    scheduler(cfg) -> a Tune scheduler (ASHA)
    METRIC, MODE
Each trial resolves the job's config with the sampled values as `--set` overrides (so a trial's config
is validated exactly like a CLI run), then runs the job's own `run()`. Trainers built inside it forward
their per-epoch reports to Tune through the `TuneReportCallback` in the trial's `RunContext.callbacks`
(each job passes `ctx.callbacks` to its trainers); jobs without a trainer call `ctx.report_progress`.
(`Tuner(trainer)` is not supported under Ray Train V2: the driver-function pattern is the documented one.)
"""

from __future__ import annotations

import importlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.common.job import Job, JobResult, RunContext, UserFacingError, flatten_metrics, write_json_atomic
from rec_core.paths import default_data_dir, default_mirror


@dataclass
class TuneSummary:
    best_config: dict[str, Any]
    best_metrics: dict[str, float]
    num_trials: int
    metric: str
    mode: str
    out_dir: Path
    failed_trials: int = 0
    error_files: list[str] = field(default_factory=list)  # one per failed trial: Ray's error.txt (or its trial dir)
    rerun: str = ""  # the `genrec run` command that reproduces the best trial
    interrupted: bool = False  # Ctrl+C / SIGUSR1: Tune saved its state and returned the results so far
    # trials the search had not started when it stopped (planned minus created; 0 when the plan is unknown)
    unstarted_trials: int = 0
    planned_trials: int | None = None


def space_module(job_name: str):
    try:
        return importlib.import_module(f"tune_spaces.{job_name}")
    except ModuleNotFoundError as e:
        if e.name == f"tune_spaces.{job_name}":
            raise UserFacingError(f"job {job_name!r} has no search space (tune_spaces/{job_name}.py)") from None
        raise


def trial_resources(job: Job, cfg) -> dict[str, float]:
    """The trial driver holds nothing; its trainer and actor pools ask for their own resources.

    Not even 0.01 CPU: Ray Data's from_pandas / repartition tasks each need a whole free CPU, and with a
    1-CPU embedding actor up on 2 CPUs, 0.01 held by the trial left 0.99 free and the rater trial hung.
    (Tune refuses an all-zero request, hence a token 1 MiB of memory.)"""
    return {"CPU": 0, "memory": float(2**20)}


# Per trial, CPU kept free beyond the job's declared peak: Ray Data's own tasks (read, repartition) ask
# for a whole CPU each, and trials that fill the cluster with actors starve them forever (measured: two
# semantic_ids trials on 2 CPUs hung with their embedding actors idle).
TRIAL_CPU_HEADROOM = 0.5


def concurrent_trials(per_trial: dict[str, float], totals: dict[str, float], cap: int | None = None) -> int:
    need = dict(per_trial)
    need["CPU"] = need.get("CPU", 0.0) + TRIAL_CPU_HEADROOM
    fit_n = int(min(totals.get(k, 0.0) / v for k, v in need.items() if v > 0))
    return max(1, min(cap or fit_n, fit_n))


def _probe_value(v: Any) -> Any:
    """One concrete value of a Tune domain, grid or constant, to validate the key and type up front."""
    if isinstance(v, dict) and "grid_search" in v:
        return v["grid_search"][0]
    if hasattr(v, "sample"):
        return v.sample()
    return v


def _to_override(key: str, value: Any) -> str:
    return f"{key}={json.dumps(value) if not isinstance(value, str) else value}"


def tune_job(
    job: Job,
    preset: str,
    overrides: list[str],
    num_samples: int,
    out_dir: Path,
    max_concurrent: int | None = None,
    resume: bool = False,
) -> TuneSummary:
    """`resume`: continue the experiment in `out_dir` (or in `runtime.storage` for it) whose driver died: trials
    that finished are kept, unfinished and errored ones run again (a trial's trainer resumes from its own
    checkpoint in the trial's dir of the experiment)."""
    from ray import tune
    from ray.tune.integration.ray_train import TuneReportCallback

    from jobs.common import runtime, storage
    from jobs.common.tracking import tune_callbacks

    mod = space_module(job.name)
    base = job.resolve(preset, None, overrides)
    space = mod.param_space(base)
    # Validate every dotted key against the config now, not inside a trial an hour from now.
    probe = {k: _probe_value(v) for k, v in space.items()}
    job.resolve(preset, None, list(overrides) + [_to_override(k, v) for k, v in probe.items()])

    runtime.init_ray(base.runtime)
    per_trial = job.resources(base)
    runtime.check_fits(per_trial, job=job.name, allow_autoscale=base.runtime.allow_autoscale)
    concurrency = concurrent_trials(per_trial, runtime.cluster_totals(), max_concurrent)

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = base.data_dir or default_data_dir()
    mirror = base.mirror or default_mirror()

    # Not storage.configure: that sets this process's storage for every later run in it (a notebook, a test session).
    store = storage.Storage(base.runtime.storage or None, base.runtime.storage_endpoint or None)
    storage_path, storage_fs = store.target(out_dir)
    local_root = None if store.uri else Path(storage_path)  # the experiments live on this machine's disk

    def trial(sampled: dict) -> None:
        cfg = job.resolve(preset, None, list(overrides) + [_to_override(k, v) for k, v in sampled.items()])
        staging = Path(tune.get_context().get_trial_dir())
        experiment = tune.get_context().get_experiment_name()
        # this trial's trainers keep their checkpoints beside the experiment's: <storage>/<out>/<experiment>/<trial>.
        # Without runtime.storage that is the experiment dir itself, not Tune's trial dir: Tune's is a staging copy
        # under /tmp/ray/session_*/ that a restore in a new Ray session does not bring back, so a resumed trial
        # found no checkpoint and trained again from epoch 0 (seen 2026-12-02 on an NCF search).
        trial_dir = staging if local_root is None else local_root / experiment / staging.name
        key = f"{out_dir.name}/{experiment}/{staging.name}"
        storage.configure(cfg.runtime, trial_dir, key)
        ctx = RunContext(
            out_dir=trial_dir,
            data_dir=data_dir,
            mirror=mirror,
            preset=preset,
            report_progress=lambda m: tune.report(flatten_metrics(m)),
            callbacks=[TuneReportCallback()],
        )
        result: JobResult = job.run(cfg, ctx)
        tune.report({**flatten_metrics(result.metrics), "done": 1})

    trainable = tune.with_resources(trial, trial_resources(job, base))
    planned = planned_trials(space, num_samples)
    if resume:
        path = _experiment_to_resume(job.name, out_dir, storage_path, storage_fs)
        tuner = tune.Tuner.restore(path, trainable, resume_errored=True, storage_filesystem=storage_fs)
    else:
        # A fresh name per call: a reused name would silently resume the old experiment.
        name = f"tune-{job.name}-{uuid.uuid4().hex[:8]}"
        write_json_atomic(
            out_dir / EXPERIMENT_FILE,
            {"name": name, "storage_path": storage_path, "planned_trials": planned},
        )
        tuner = tune.Tuner(
            trainable,
            param_space=space,
            tune_config=tune.TuneConfig(
                metric=mod.METRIC,
                mode=mod.MODE,
                num_samples=num_samples,
                scheduler=mod.scheduler(base),
                max_concurrent_trials=concurrency,
            ),
            run_config=tune.RunConfig(
                name=name,
                storage_path=storage_path,
                storage_filesystem=storage_fs,
                callbacks=tune_callbacks(base.tracking, job.name, out_dir),  # MLflow: one run per trial, when on
            ),
        )
    grid, interrupted = _fit_noting_interrupt(tuner)
    failed = [r for r in grid if r.error]
    errors = [r.error for r in failed]
    error_files = [_error_file(r) for r in failed]
    if len(errors) == len(grid):
        raise UserFacingError(
            f"all {len(grid)} trials failed; first error: {errors[0]}\nerror files:\n  " + "\n  ".join(error_files)
        )
    if resume:  # the plan of the run being continued (unknown for one restored from a bucket alone)
        exp = out_dir / EXPERIMENT_FILE
        planned = json.loads(exp.read_text()).get("planned_trials") if exp.exists() else None
    unstarted = max((planned or len(grid)) - len(grid), 0)
    best = grid.get_best_result(metric=mod.METRIC, mode=mod.MODE, scope="all")
    summary = TuneSummary(
        best_config=best.config,
        best_metrics={k: v for k, v in flatten_metrics(best.metrics).items()},
        num_trials=len(grid),
        metric=mod.METRIC,
        mode=mod.MODE,
        out_dir=out_dir,
        failed_trials=len(errors),
        error_files=error_files,
        rerun=rerun_command(job.name, preset, overrides, best.config),
        interrupted=interrupted,
        unstarted_trials=unstarted,
        planned_trials=planned,
    )
    write_json_atomic(
        out_dir / "best.json",
        {
            "job": job.name,
            "preset": preset,
            "overrides": list(overrides),  # the --set values every trial shared
            "rerun": summary.rerun,
            "best_config": summary.best_config,
            "best_metrics": summary.best_metrics,
            "metric": mod.METRIC,
            "mode": mod.MODE,
            "num_trials": len(grid),
            "failed_trials": len(errors),
            "error_files": error_files,
            # true: the best so far of a stopped search; `genrec tune ... --out DIR --resume` continues it
            "interrupted": interrupted,
            "unstarted_trials": unstarted,
            "planned_trials": planned,
        },
    )
    return summary


def planned_trials(space: dict, num_samples: int) -> int:
    """How many trials Tune makes of `space`: num_samples times the size of every grid_search in it."""
    n = num_samples
    for v in space.values():
        if isinstance(v, dict) and "grid_search" in v:
            n *= len(v["grid_search"])
    return n


def _fit_noting_interrupt(tuner):
    """(ResultGrid, interrupted). Ray Tune catches Ctrl+C (and SIGUSR1) itself, saves the experiment and returns
    the results so far, so fit() alone cannot tell a stopped search from a finished one. Its handler puts back the
    SIGINT handler that was there before fit when, and only when, it fires (ray/tune/tune.py,
    _setup_signal_catching): that handler being back after fit means the search was stopped."""
    import signal
    import threading

    off_main = threading.current_thread() is not threading.main_thread()
    if off_main or os.getenv("TUNE_DISABLE_SIGINT_HANDLER", "0") != "0":
        return tuner.fit(), False  # Tune installs no handler here
    before = signal.getsignal(signal.SIGINT)
    try:
        grid = tuner.fit()
        return grid, signal.getsignal(signal.SIGINT) is before
    finally:
        signal.signal(signal.SIGINT, before)


def rerun_command(job_name: str, preset: str | None, overrides: list[str], best_config: dict) -> str:
    """`genrec run` with the trials' shared overrides and the best trial's values: the tuned run, reproduced."""
    import shlex

    sets = [*overrides, *(_to_override(k, v) for k, v in sorted(best_config.items()))]
    flags = [x for s in sets for x in ("--set", s)]
    return shlex.join(["genrec", "run", job_name, *(["--preset", preset] if preset else []), *flags])


EXPERIMENT_FILE = "experiment.json"  # in the experiment dir (--out): the Tune experiment's name, for --resume


def _experiment_to_resume(job_name: str, out_dir: Path, storage_path: str, fs) -> str:
    """The Tune experiment to restore: the one named in out_dir/experiment.json, else the only
    `tune-<job>-*` experiment under the storage path (an empty local disk with the experiment in a bucket)."""
    import pyarrow.fs as pafs
    from ray import tune

    if (out_dir / EXPERIMENT_FILE).exists():
        names = [json.loads((out_dir / EXPERIMENT_FILE).read_text())["name"]]
    else:
        lister = fs or pafs.LocalFileSystem()
        try:
            infos = lister.get_file_info(pafs.FileSelector(storage_path, allow_not_found=True))
        except OSError:
            infos = []
        names = sorted(
            Path(i.path).name
            for i in infos
            if i.type == pafs.FileType.Directory and Path(i.path).name.startswith(f"tune-{job_name}-")
        )
        if len(names) > 1:
            raise UserFacingError(
                f"several Tune experiments under {storage_path}: {', '.join(names)}; move the others away"
            )
    path = f"{storage_path}/{names[0]}" if names else None
    if fs is None and path and "://" not in path:
        ok = tune.Tuner.can_restore(path)
    else:
        ok = bool(path) and tune.Tuner.can_restore(path, storage_filesystem=fs)
    if not ok:
        raise UserFacingError(
            f"nothing to resume: no Tune experiment of job {job_name!r} under {storage_path} "
            "(pass the --out of the interrupted `genrec tune`, and the same runtime.storage)"
        )
    return path


def _error_file(result) -> str:
    """Where a failed trial's traceback is: Ray writes error.txt into the trial dir (the dir itself if not)."""
    trial_dir = Path(result.path)
    return str(trial_dir / "error.txt") if (trial_dir / "error.txt").exists() else str(trial_dir)
