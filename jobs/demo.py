"""The main job: every pipeline that exists, one after another, on one Ray (embedded or --address).

`genrec run demo --preset cpu` runs each demo job at its own `cpu` preset, offline, with the local
mirror (../shared/data) as the data source. Each sub-run writes its own config/metrics/report under
the demo's run dir; the demo's metrics.json holds them all as `<job>/<metric>`.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

from pydantic import Field

from jobs.common.config import JobConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError, run_job
from jobs.common.registry import all_jobs
from jobs.common.runtime import peak_request


class Config(JobConfig):
    sub_preset: str = Field("cpu", description="preset each pipeline runs at")
    jobs: list[str] | None = Field(None, description="subset of demo jobs (default: all with in_demo)")
    overrides: dict[str, list[str]] = Field(default_factory=dict, description="per-job --set lists")


def demo_jobs(cfg: Config) -> list[Job]:
    found = sorted((j for j in all_jobs() if j.in_demo), key=lambda j: (j.demo_order, j.name))
    if cfg.jobs is not None:
        unknown = set(cfg.jobs) - {j.name for j in found}
        if unknown:
            raise UserFacingError(
                f"not demo jobs: {', '.join(sorted(unknown))}; demo jobs: {', '.join(j.name for j in found)}"
            )
        found = [j for j in found if j.name in cfg.jobs]
    if not found:
        raise UserFacingError("no demo jobs found")
    return found


def _sub_config(job: Job, cfg: Config):
    shared = [f"seed={cfg.seed}"]
    if cfg.data_dir:
        shared.append(f"data_dir={cfg.data_dir}")
    if cfg.mirror:
        shared.append(f"mirror={cfg.mirror}")
    return job.resolve(cfg.sub_preset, None, shared + cfg.overrides.get(job.name, []))


def resources(cfg: Config) -> dict[str, float]:
    return peak_request(*(j.resources(_sub_config(j, cfg)) for j in demo_jobs(cfg)))


def hand_over(job: Job, sub_cfg, done: dict[str, tuple], out_dir) -> list[str]:
    """Give `job` the outputs of the demo jobs that ran before it (`Job.uses`), when they ran on the same dataset
    and the key was not set by hand. Returns the `key=path` pairs applied."""
    applied = []
    for key, source in job.uses.items():
        producer, _, filename = source.partition("/")
        if producer not in done or getattr(sub_cfg, key, None) is not None:
            continue
        path = out_dir / producer / filename
        if getattr(done[producer], "dataset", None) == getattr(sub_cfg, "dataset", None) and path.exists():
            setattr(sub_cfg, key, path)
            applied.append(f"{key}={path}")
    return applied


def finished_result(job: Job, preset: str, sub_cfg, out_dir: Path) -> dict | None:
    """The metrics of a stage that already finished in `out_dir` under exactly this config, else None. Where it ran
    and where it was tracked (`runtime`, `tracking`) do not change a result, so they may differ."""
    try:
        written = json.loads((out_dir / "config.json").read_text())
        metrics = json.loads((out_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    wanted = json.loads(json.dumps({"job": job.name, "preset": preset, **sub_cfg.model_dump(mode="json")}, default=str))
    for key in ("runtime", "tracking"):
        written.pop(key, None), wanted.pop(key, None)
    return metrics if written == wanted else None


def summary_row(job: Job, metrics: dict | None, seconds: float, error: BaseException | None = None) -> str:
    """One row of the demo's table: pipeline | headline metric | its baseline in the same run | time. A failed
    stage gets its error on one line (a multi-line message would break the table)."""
    name = f"[{job.name}]({job.name}/report.md)"
    if error is not None:
        msg = " ".join(f"{type(error).__name__}: {error}".split()).replace("|", "/")[:160]
        return f"| {job.name} | FAILED: {msg} | see {job.name}/error.txt | {seconds:.0f} |"
    key, base = job.headline or (None, None)

    def cell(k: str | None) -> str:
        v = (metrics or {}).get(k) if k else None
        return f"{k} = {v:.4g}" if isinstance(v, (int, float)) else "—"

    return f"| {name} | {cell(key)} | {cell(base)} | {seconds:.0f} |"


def run(cfg: Config, ctx: RunContext) -> JobResult:
    metrics: dict[str, dict] = {}
    lines = ["| pipeline | headline metric | its baseline (same run) | time (s) |", "|---|---|---|---:|"]
    failed = []
    done: dict[str, object] = {}  # job name -> its config, for the jobs that finished
    for job in demo_jobs(cfg):
        sub_cfg = _sub_config(job, cfg)
        sub_cfg.runtime = cfg.runtime
        sub_cfg.tracking = cfg.tracking  # with tracking on, each stage is an MLflow run nested under the demo's
        for handed in hand_over(job, sub_cfg, done, ctx.out_dir):
            print(f"demo: {job.name} takes {handed} from this run")
        earlier = finished_result(job, cfg.sub_preset, sub_cfg, ctx.out_dir / job.name)
        if earlier is not None:  # a re-run into the same --out (after Ctrl-C, a failure) resumes: keep what finished
            print(f"demo: {job.name} finished earlier in this run dir with the same config; reusing its results")
            metrics[job.name], done[job.name] = earlier, sub_cfg
            lines.append(summary_row(job, earlier, float(earlier.get("wall_time_s", 0.0))))
            continue
        print(f"demo: {job.name} ({cfg.sub_preset})", flush=True)
        t0 = time.perf_counter()
        try:
            res = run_job(job, preset=cfg.sub_preset, cfg=sub_cfg, out_dir=ctx.out_dir / job.name, init_runtime=False)
            metrics[job.name] = res.metrics
            done[job.name] = sub_cfg
            lines.append(summary_row(job, res.metrics, time.perf_counter() - t0))
        except Exception as e:  # keep going: one broken pipeline must not hide the others' results
            failed.append(job.name)
            (ctx.out_dir / job.name).mkdir(parents=True, exist_ok=True)
            (ctx.out_dir / job.name / "error.txt").write_text(traceback.format_exc())
            metrics[job.name] = {"failed": 1}
            lines.append(summary_row(job, None, time.perf_counter() - t0, error=e))
    report = "## Pipelines\n\n" + "\n".join(lines) + "\n"
    (ctx.out_dir / "report.md").write_text(report)
    if failed:
        raise UserFacingError(
            f"demo: {len(failed)} pipeline(s) failed: {', '.join(failed)} (see {ctx.out_dir}/<job>/error.txt)\n\n"
            + "\n".join(lines)
        )
    return JobResult(metrics=metrics, report=report)


JOB = Job(
    name="demo",
    config=Config,
    run=run,
    summary="run every pipeline end to end at one preset (the main job)",
    resources=resources,
)

if __name__ == "__main__":
    JOB.main()
