"""`genrec bench` / `python -m benchmarks.run`: run benchmark sections and (re)write BENCHMARKS.md.

Each section's markdown is kept in benchmarks/results/<section>.md together with the command, date and
machine it was measured on, so re-running one section does not discard the others' figures; beside it,
results/<section>.json holds the same figures as flat `"name": number` pairs (plus `measured_on` and
`command`) for tools that compare runs. The JSON is derived from the markdown by the section's
`figures(md)`, so the two can never disagree, and a section measured long ago gets its JSON without
re-running it (`--set sections=[]` re-derives every one).

The benchmarks live beside the library, not in it (like Ray's release/train_tests/benchmark/): they
are not installed with the package, and `genrec bench` finds this folder in the source checkout.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from pydantic import Field

import benchmarks
from benchmarks.results_io import header_figures, measured_on_from_md, write_section
from jobs.common.config import ConfigError, JobConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError, run_job
from rec_core.paths import REPO_ROOT

RESULTS = Path(benchmarks.__file__).parent / "results"


class Config(JobConfig):
    sections: list[str] | None = Field(None, description="sections to (re)measure; default all; [] = only re-assemble")
    quick: bool = Field(False, description="smaller sizes, for a fast look (marked as such in the output)")
    output: Path = Field(REPO_ROOT / "BENCHMARKS.md", description="where to write the assembled file")


def available_sections() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if not m.name.startswith("_") and m.name not in _NOT_SECTIONS
    )


_NOT_SECTIONS = {"run", "results_io", "smoke_equivalence"}  # tools, not BENCHMARKS.md sections


def command(name: str, quick: bool = False) -> str:
    """The command that (re)measures one section."""
    return f"python -m benchmarks.run --set sections=[{name}]" + (" --set quick=true" if quick else "")


def machine_line() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        tv = torch.__version__
    except Exception:  # pragma: no cover
        gpu, tv = "unknown", "?"
    import ray

    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs, {gpu}; Python {platform.python_version()}, torch {tv}, "
        f"Ray {ray.__version__}"
    )


def write_json_from_md(name: str) -> Path:
    """results/<name>.json from results/<name>.md through the section's `figures(md)`: every number comes
    from the measured markdown (used for sections measured before the JSON existed, and by `sections=[]`)."""
    md = (RESULTS / f"{name}.md").read_text()
    return write_section(RESULTS, name, None, figures(name, md), measured_on_from_md(md), command(name))


def figures(name: str, md: str) -> dict:
    """The section's figures (its `figures(md)`) plus the header's `section_s` where the run recorded it."""
    return {**header_figures(md), **importlib.import_module(f"benchmarks.{name}").figures(md)}


def assemble(output: Path) -> str:
    parts = [
        "# Benchmarks\n",
        "Produced by `genrec bench` (`python -m benchmarks.run`); each section was measured by the command it names, "
        "on the machine it names. Speed is reported as a ratio against a reference measured in the same run, never as "
        "a bare time on a shared CPU. Published anchors are quoted beside our numbers with what differs. Each section "
        "is stored as [benchmarks/results/](benchmarks/results/)<section>.md, with its figures as flat JSON in "
        "<section>.json.\n",
    ]
    for f in sorted(RESULTS.glob("*.md")):
        parts.append(f.read_text().rstrip() + "\n")
    text = "\n".join(parts)
    output.write_text(text)
    return text


def run(cfg: Config, ctx: RunContext) -> JobResult:
    sections = available_sections() if cfg.sections is None else cfg.sections
    unknown = set(sections) - set(available_sections())
    if unknown:
        raise UserFacingError(f"unknown benchmark sections: {sorted(unknown)}; available: {available_sections()}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    metrics = {}
    for name in sections:
        mod = importlib.import_module(f"benchmarks.{name}")
        t0 = time.perf_counter()
        body = mod.bench(cfg.quick)
        took = time.perf_counter() - t0
        if body is None:  # the section needs hardware this machine lacks (a GPU): keep its earlier figures
            print(f"bench: section {name!r} does not apply to this machine; {RESULTS / (name + '.md')} left as it was")
            metrics[f"{name}/skipped"] = 1
            continue
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        machine = machine_line()
        head = (
            f"<!-- section {name}: written by `{command(name, cfg.quick)}` on {stamp} -->\n"
            f"_Measured {stamp} on: {machine}; section took {took:.0f} s{' (quick sizes)' if cfg.quick else ''}._\n\n"
        )
        md = head + body.strip() + "\n"
        write_section(RESULTS, name, md, figures(name, md), f"{stamp}, {machine}", command(name, cfg.quick))
        metrics[f"{name}/seconds"] = took
    if not sections:  # only re-assembling: re-derive every stored section's JSON from its markdown
        for f in sorted(RESULTS.glob("*.md")):
            if f.stem in available_sections():
                write_json_from_md(f.stem)
    text = assemble(cfg.output)
    (ctx.out_dir / "BENCHMARKS.md").write_text(text)
    return JobResult(metrics=metrics, report=f"wrote {cfg.output} ({len(sections)} section(s) re-measured)")


# A Job so that it runs like one (run dir with config.json, metrics.json, report.md; Ray started from
# `runtime`), but not a registered one: jobs/common/registry.py lists only jobs/<name>.py. No presets: the
# defaults measure everything, `--set sections=[...]` / `--set quick=true` narrow it.
JOB = Job(
    name="bench",
    config=Config,
    run=run,
    summary="measure benchmark sections and write BENCHMARKS.md",
    resources=lambda cfg: {"CPU": 1.0},
)


def bench(overrides: list[str], out_dir: Path | None = None) -> JobResult:
    """What `genrec bench` calls."""
    return run_job(JOB, preset=None, overrides=overrides, out_dir=out_dir)


def main(argv: list[str] | None = None) -> None:
    """`python -m benchmarks.run [--set sections=[ncf,rag]] [--set quick=true] [--out DIR]`."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=JOB.summary)
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key: sections=[a,b] (default all; [] = only re-assemble), quick=true, output=PATH",
    )
    p.add_argument("--out", type=Path, help="run directory (default runs/bench-<time>)")
    a = p.parse_args(argv)
    try:
        res = bench(a.sets, a.out)
    except (ConfigError, UserFacingError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(res.metrics, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
