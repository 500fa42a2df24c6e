"""`genrec`: list, run, submit and tune jobs; manage datasets; benchmarks.

genrec list
genrec run demo --preset cpu
genrec run semantic_ids --preset smoke --set dataset=beauty --set quantizer=rqkmeans
genrec submit tiger --address http://head:8265 --preset gpu
genrec tune tiger --preset cpu --samples 8
genrec data list | pull NAME | stats NAME --json
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

from jobs.common.config import ConfigError
from jobs.common.job import UserFacingError, default_out_dir, run_job
from jobs.common.registry import get_job

app = typer.Typer(
    help="genrec-ray: distributed training of GenAI recommenders on Ray.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="more log lines (debug)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="warnings and errors only"),
) -> None:
    """genrec-ray: distributed training of GenAI recommenders on Ray."""
    from jobs.common.runtime import configure_logging

    configure_logging(verbose, quiet)


from jobs.cli.data import data_app  # noqa: E402

app.add_typer(data_app, name="data", help="datasets: list, pull (official source or --from mirror), stats")
from jobs.cli.playlist import playlist  # noqa: E402
from jobs.cli.rag import rag_app  # noqa: E402

app.add_typer(rag_app, name="rag", help="RAG recommender: chat in the terminal, or serve the web chat page")

app.command("playlist", help="text (title or mood) -> numbered movie list from a trained playlist run")(playlist)

PRESET_HELP = "preset name: smoke (seconds, for tests), cpu (a real laptop-size run), gpu (full size)"
SET_HELP = "override a config key, dotted, value parsed as YAML (repeatable): --set train.lr=3e-4"


def _fail(msg: str, code: int = 2) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def _job(name: str):
    try:
        return get_job(name)
    except KeyError as e:
        _fail(str(e).strip("'\""))


@app.command("list")
def list_jobs() -> None:
    """List the jobs, their presets and whether the demo runs them."""
    from jobs.common.registry import job_cards

    rows = [(c.name, ",".join(c.presets), "demo" if c.in_demo else "", c.summary) for c in job_cards()]
    w = max((len(r[0]) for r in rows), default=4)
    p = max((len(r[1]) for r in rows), default=7)
    for name, presets, demo, summary in rows:
        typer.echo(f"{name:<{w}}  {presets:<{p}}  {demo:<4}  {summary}")


@app.command()
def run(
    job: str = typer.Argument(..., help="job name (see `genrec list`)"),
    preset: str = typer.Option("cpu", "--preset", "-p", help=PRESET_HELP),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML layered over the preset"),
    sets: list[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run dir (default runs/<job>-<utc time>)"),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray address; default RAY_ADDRESS or an embedded local Ray"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the flat metrics as JSON instead of the report"),
) -> None:
    """Run a job on the embedded local Ray (or --address). Writes config.json, metrics.json, report.md, and prints
    the report (its tables) at the end."""
    j = _job(job)
    all_sets = list(sets) + ([f"runtime.address={address}"] if address else [])
    out_dir = out or default_out_dir(job)
    try:
        res = run_job(j, preset=preset, config_file=config, overrides=all_sets, out_dir=out_dir)
    except (ConfigError, UserFacingError) as e:
        _fail(str(e))
    typer.echo(json.dumps(res.metrics, indent=2, sort_keys=True) if as_json else (out_dir / "report.md").read_text())
    typer.echo(f"run dir: {out_dir} (metrics.json, report.md, config.json)", err=True)


@app.command("config")
def show_config(
    job: str = typer.Argument(..., help="job name (see `genrec list`)"),
    preset: str = typer.Option("cpu", "--preset", "-p", help=PRESET_HELP),
    sets: list[str] = typer.Option([], "--set", "-s", help=SET_HELP),
) -> None:
    """Print every config key of a job with its type, its value under the preset (and --set) and what it means."""
    from jobs.common.config import describe, format_description

    j = _job(job)
    try:
        cfg = j.resolve(preset, None, sets)
    except ConfigError as e:
        _fail(str(e))
    typer.echo(f"# {j.name}: {j.summary}\n# preset {preset!r}; set any key with --set key=value\n")
    typer.echo(format_description(describe(cfg)))


def _wants_job_keys(argv: list[str]) -> bool:
    """`genrec run JOB --help`: typer knows only `run`'s own options; the job's keys are printed after them."""
    if len(argv) < 2 or argv[0] != "run" or not ({"--help", "-h"} & set(argv)):
        return False
    from jobs.common.registry import job_names

    return argv[1] in job_names()


def _print_job_keys(name: str) -> None:
    from jobs.common.config import describe, format_description

    j = get_job(name)
    typer.echo(
        f"\nConfig keys of job {j.name!r} (defaults; `genrec config {j.name} --preset P` shows a preset's "
        "values; set any with --set key=value):\n"
    )
    typer.echo(format_description(describe(j.config())))


@app.command()
def submit(
    job: str = typer.Argument(..., help="job name (see `genrec list`)"),
    address: Optional[str] = typer.Option(
        None, "--address", help="dashboard URL, e.g. http://head:8265 (default RAY_ADDRESS)"
    ),
    preset: str = typer.Option("gpu", "--preset", "-p", help=PRESET_HELP),
    sets: list[str] = typer.Option([], "--set", "-s", help=SET_HELP),
    wait: bool = typer.Option(False, "--wait", help="follow the job until it ends (exit 1 if it fails)"),
    logs: bool = typer.Option(True, "--logs/--no-logs", help="stream the job's logs while waiting"),
    autoscale: bool = typer.Option(
        False, "--autoscale", help="skip the fits-the-cluster check (an autoscaler adds nodes)"
    ),
    out: Optional[str] = typer.Option(None, "--out", help="run dir ON THE CLUSTER (default GENREC_RUNS_DIR there)"),
    runtime_env: Optional[Path] = typer.Option(
        None, "--runtime-env", help="runtime env YAML (default cluster/runtime_env.yaml)"
    ),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="give up waiting after this many seconds"),
    python: str = typer.Option(
        "python", "--python", help="the cluster's interpreter that has the project's dependencies (default: `python`)"
    ),
    check: bool = typer.Option(
        True,
        "--check/--no-check",
        help="the job first imports the project and its dependencies with the cluster's python, and stops with "
        "a message that says how to fix the cluster's environment when one is missing",
    ),
) -> None:
    """Submit a job to a Ray cluster through the Job Submission API (the checkout travels as working_dir).

    The job first checks that the cluster's `python` can import the project and its dependencies, and says how to
    fix it when it cannot (with --wait as this command's error; --no-check skips the check)."""
    from jobs.common import submit as sub

    _job(job)
    kwargs = {"runtime_env_file": runtime_env} if runtime_env else {}
    try:
        sid = sub.submit(
            job,
            address,
            preset=preset,
            sets=sets,
            wait=wait,
            logs=logs,
            out=out,
            allow_autoscale=autoscale,
            timeout_s=timeout,
            python=python,
            check=check,
            **kwargs,
        )
    except sub.JobFailed as e:
        _fail(str(e), code=1)
    except (ConfigError, UserFacingError) as e:
        _fail(str(e))
    typer.echo(sid)


@app.command()
def tune(
    job: str = typer.Argument(..., help="job with a search space in tune_spaces/"),
    preset: str = typer.Option("cpu", "--preset", "-p", help=PRESET_HELP),
    sets: list[str] = typer.Option([], "--set", "-s", help=SET_HELP + " (fixed for every trial)"),
    samples: int = typer.Option(8, "--samples", "-n", min=1, help="number of trials"),
    max_concurrent: Optional[int] = typer.Option(None, help="cap on parallel trials (default: as many as fit)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="experiment dir (default runs/tune-<job>-<time>)"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray address"),
    resume: bool = typer.Option(
        False, "--resume", help="continue the interrupted experiment in --out (finished trials are kept)"
    ),
) -> None:
    """Search a job's hyperparameters with Ray Tune (ASHA), trials in parallel across the cluster."""
    from jobs.common.tune import tune_job

    j = _job(job)
    all_sets = list(sets) + ([f"runtime.address={address}"] if address else [])
    if resume and out is None:
        _fail("--resume needs --out: the experiment dir of the interrupted run")
    out_dir = out or default_out_dir(f"tune-{job}")
    try:
        s = tune_job(j, preset, all_sets, samples, out_dir, max_concurrent, resume=resume)
    except (ConfigError, UserFacingError) as e:
        _fail(str(e))
    typer.echo(
        json.dumps(
            {
                "metric": s.metric,
                "mode": s.mode,
                "trials": s.num_trials,
                "failed_trials": s.failed_trials,
                "interrupted": s.interrupted,
                "unstarted_trials": s.unstarted_trials,
                "best_config": s.best_config,
                "best": s.best_metrics.get(s.metric),
                "rerun": s.rerun,
            },
            indent=2,
            default=str,
        )
    )
    if s.failed_trials:
        typer.echo(
            f"{s.failed_trials} of {s.num_trials} trials failed; their errors:\n  " + "\n  ".join(s.error_files),
            err=True,
        )
    typer.echo(f"experiment dir: {s.out_dir}", err=True)
    if s.interrupted or s.unstarted_trials:
        again = ["genrec", "tune", job, "--preset", preset, *(x for v in all_sets for x in ("--set", v))]
        started = f"{s.num_trials} of {s.planned_trials or '?'} trials started"
        _fail(
            f"interrupted after {started}: the best above is the best so far. Continue with: "
            f"{shlex.join([*again, '--out', str(s.out_dir), '--resume'])}",
            code=3,
        )


@app.command("export")
def export_cmd(
    run_dir: Path = typer.Argument(..., help="run dir of a tiger, sasrec, ncf or rag_sentiment (LoRA) run"),
    out: Path = typer.Option(..., "--out", "-o", help="folder to write the exported model to"),
) -> None:
    """Write a run's trained model in its ecosystem's format: Hugging Face T5 + semantic-ID table (tiger),
    safetensors + config.json (sasrec, ncf), a peft adapter (LoRA). README: "Export"."""
    from jobs.common.export import ExportError, export_run

    try:
        ex = export_run(run_dir, out)
    except (ExportError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"exported {ex.kind} to {ex.out}: " + ", ".join(ex.files))


@app.command()
def bench(
    sections: list[str] = typer.Argument(
        None, help="sections to measure (default: all); see benchmarks/ in the checkout"
    ),
    quick: bool = typer.Option(False, help="smaller sizes for a fast look (marked in the output)"),
    assemble_only: bool = typer.Option(
        False, "--assemble-only", help="only rebuild BENCHMARKS.md (and each section's JSON) from stored sections"
    ),
) -> None:
    """Measure benchmark sections and write BENCHMARKS.md (quality vs published anchors, speed ratios)."""
    runner = _bench_runner()
    sets = [f"quick={str(quick).lower()}"]
    if assemble_only:
        sets.append("sections=[]")
    elif sections:
        sets.append("sections=[" + ",".join(sections) + "]")
    try:
        res = runner.bench(sets, out_dir=default_out_dir("bench"))
    except (ConfigError, UserFacingError) as e:
        _fail(str(e))
    typer.echo(json.dumps(res.metrics, indent=2))


def _bench_runner():
    """benchmarks/run.py of the source checkout: the benchmarks live beside the package, not in it."""
    import importlib

    from rec_core.paths import REPO_ROOT

    if not (REPO_ROOT / "benchmarks" / "run.py").is_file():
        _fail(
            f"no benchmarks/ folder in {REPO_ROOT}: the benchmarks are not installed with the package; "
            "run `genrec bench` from a source checkout (an editable install, `pip install -e .`)"
        )
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    runner = importlib.import_module("benchmarks.run")
    if Path(runner.__file__).resolve().parent != (REPO_ROOT / "benchmarks").resolve():
        _fail(
            f"`benchmarks` resolves to {runner.__file__}, not {REPO_ROOT / 'benchmarks'}: another package of that "
            "name shadows the checkout's"
        )
    return runner


def main() -> None:
    try:
        if _wants_job_keys(sys.argv[1:]):
            app(["run", "--help"], standalone_mode=False)
            _print_job_keys(sys.argv[2])
            return
        app()
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
