"""The job contract and the runner every entrypoint shares.

A job module `jobs/<name>.py` defines

    class Config(JobConfig): ...                       # typed, validated
    def run(cfg: Config, ctx: RunContext) -> JobResult  # config -> datasets -> trainer -> fit -> report
    JOB = Job(name=..., config=Config, run=run, summary=..., resources=...)
    if __name__ == "__main__": JOB.main()

and presets in `jobs/presets/<name>/{smoke,cpu,gpu}.yaml`. The runner resolves the config, writes
`config.json` before anything runs, starts/connects Ray, checks the resource request fits, runs the
job and writes `metrics.json` (flat name -> number) and `report.md`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jobs.common.config import ConfigError, JobConfig, load_yaml, resolve_config
from rec_core.paths import default_data_dir, default_mirror

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"


@dataclass
class JobResult:
    metrics: dict[str, Any]
    report: str = ""
    artifacts: list[str] = field(default_factory=list)


@dataclass
class RunContext:
    out_dir: Path
    data_dir: Path
    mirror: Path | None
    preset: str | None = None
    # Called once per epoch/round with intermediate metrics. A no-op for plain runs; under `genrec tune`
    # it forwards to Ray Tune so ASHA can stop weak trials early.
    report_progress: Callable[[dict], None] = field(default=lambda metrics: None)
    # Ray Train callbacks for the run's trainers (`fit_torch(..., callbacks=ctx.callbacks)`): none for plain
    # runs; under `genrec tune`, a TuneReportCallback that forwards each per-epoch report to the trial.
    callbacks: list = field(default_factory=list)

    def path(self, *parts: str) -> Path:
        p = self.out_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


def preset_names(job_name: str) -> list[str]:
    """The presets of a job: the YAML files in presets/<job>/."""
    d = PRESET_DIR / job_name
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


@dataclass
class Job:
    name: str
    config: type[JobConfig]
    run: Callable[[Any, RunContext], JobResult]
    summary: str
    # Peak resources the job holds at once, e.g. {"CPU": workers * cpus_per_worker}. Checked before start.
    resources: Callable[[Any], Mapping[str, float]] = lambda cfg: {"CPU": 1.0}
    in_demo: bool = False
    demo_order: int = 100
    # A long-running service (serves until stopped) rather than a batch run: it has a `cpu` preset only,
    # since a smoke run of a server has nothing to finish.
    service: bool = False
    # Upstream outputs this job can take by path: {config key: "<job>/<file in its run dir>"}. When both run in
    # one demo on the same dataset, the demo hands the upstream file over instead of having it made again.
    uses: Mapping[str, str] = field(default_factory=dict)
    # What a summary shows of a run: (headline metric, the same-run baseline it beats or None) as metrics.json keys.
    headline: tuple[str, str | None] | None = None

    def presets(self) -> list[str]:
        return preset_names(self.name)

    def resolve(self, preset: str | None = None, config_file: Path | None = None, overrides=()) -> JobConfig:
        layers: list[dict] = []
        source = f"config of job {self.name!r}"
        if preset:
            f = PRESET_DIR / self.name / f"{preset}.yaml"
            if not f.exists():
                raise ConfigError(
                    f"job {self.name!r} has no preset {preset!r}; presets: {', '.join(self.presets()) or 'none'}"
                )
            layers.append(load_yaml(f))
            source = f"preset {preset!r} of job {self.name!r}"
        if config_file:
            layers.append(load_yaml(Path(config_file)))
        return resolve_config(self.config, *layers, overrides=list(overrides), source=source)

    def main(self, argv: list[str] | None = None) -> None:
        """`python -m jobs.<name> [--preset P] [--config F] [--set k=v ...] [--out DIR]`."""
        p = argparse.ArgumentParser(prog=f"python -m jobs.{self.name}", description=self.summary)
        p.add_argument("--preset", default="cpu", help=f"one of: {', '.join(self.presets())} (default cpu)")
        p.add_argument("--config", type=Path, help="YAML file layered over the preset")
        p.add_argument(
            "--set",
            dest="sets",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="override a config key (dotted)",
        )
        p.add_argument("--out", type=Path, help="run directory (default runs/<job>-<time>)")
        p.add_argument("--address", help="Ray cluster address (default RAY_ADDRESS or an embedded local Ray)")
        p.add_argument("-v", "--verbose", action="count", default=0, help="more log lines (debug)")
        p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
        a = p.parse_args(argv)
        from jobs.common.runtime import configure_logging

        configure_logging(a.verbose, a.quiet)
        sets = list(a.sets) + ([f"runtime.address={a.address}"] if a.address else [])
        try:
            res = run_job(self, preset=a.preset, config_file=a.config, overrides=sets, out_dir=a.out)
        except (ConfigError, UserFacingError) as e:
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        print(json.dumps(res.metrics, indent=2, sort_keys=True))


class UserFacingError(RuntimeError):
    """An error whose message is the whole story (bad data file, resource request, missing model)."""


def default_out_dir(job: str) -> Path:
    """GENREC_RUNS_DIR/<job>-<utc time>, default ./runs (a submitted job sets it to shared storage)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path(os.environ.get("GENREC_RUNS_DIR", "runs")) / f"{job}-{stamp}"


def flatten_metrics(d: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested dict -> flat {'a/b': number}. Non-numbers and NaN/inf are dropped so metrics.json stays
    plain JSON numbers (a report carries the text)."""
    out: dict[str, float] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_metrics(v, key + "/"))
        elif isinstance(v, bool):
            out[key] = int(v)
        elif isinstance(v, (int, float)) or hasattr(v, "item"):
            try:
                num = float(v) if not isinstance(v, int) else v
            except (TypeError, ValueError):
                continue
            if isinstance(num, float) and not math.isfinite(num):
                continue
            out[key] = num
    return out


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    tmp.replace(path)


def run_job(
    job: Job,
    preset: str | None = "cpu",
    config_file: Path | None = None,
    overrides=(),
    out_dir: Path | None = None,
    cfg: JobConfig | None = None,
    init_runtime: bool = True,
) -> JobResult:
    from jobs.common import runtime, storage
    from jobs.common.tracking import log_final, track_run

    cfg = cfg or job.resolve(preset, config_file, overrides)
    out = Path(out_dir) if out_dir else default_out_dir(job.name)
    out.mkdir(parents=True, exist_ok=True)
    config_json = {"job": job.name, "preset": preset, **cfg.model_dump(mode="json")}
    write_json_atomic(out / "config.json", config_json)
    ctx = RunContext(
        out_dir=out,
        data_dir=cfg.data_dir or default_data_dir(),
        mirror=cfg.mirror or default_mirror(),
        preset=preset,
    )
    if init_runtime:
        runtime.init_ray(cfg.runtime)
        try:
            runtime.check_fits(job.resources(cfg), job=job.name, allow_autoscale=cfg.runtime.allow_autoscale)
        except runtime.ResourceRequestError as e:
            raise UserFacingError(str(e)) from None
    with track_run(cfg.tracking, job.name, out, config_json) as tracker:
        t0 = time.perf_counter()
        with storage.using(cfg.runtime, out):
            result = job.run(cfg, ctx)
        wall = time.perf_counter() - t0
        metrics = flatten_metrics(result.metrics)
        metrics["wall_time_s"] = round(wall, 3)
        result.metrics = metrics
        write_json_atomic(out / "metrics.json", metrics)
        log_final(tracker, metrics)
    header = f"# {job.name} — run report\n\npreset: `{preset}` · wall time: {wall:.1f} s · config: `config.json`\n\n"
    (out / "report.md").write_text(header + (result.report or "") + "\n")
    return result
