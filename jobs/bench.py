"""`genrec bench` / `python -m jobs.bench`: run benchmark sections and (re)write BENCHMARKS.md.

Each section's markdown is kept in jobs/benchmarks/results/<section>.md together with the command, date and
machine it was measured on, so re-running one section does not discard the others' figures.
"""
from __future__ import annotations

import importlib
import os
import platform
import pkgutil
import time
from datetime import datetime, timezone
from pathlib import Path

from pydantic import Field

import jobs.benchmarks
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from jobs.common.config import JobConfig
from rec_core.paths import REPO_ROOT

RESULTS = Path(jobs.benchmarks.__file__).parent / "results"


class Config(JobConfig):
    sections: list[str] | None = Field(None, description="sections to (re)measure; default all; [] = only re-assemble")
    quick: bool = Field(False, description="smaller sizes, for a fast look (marked as such in the output)")
    output: Path = Field(REPO_ROOT / "BENCHMARKS.md", description="where to write the assembled file")


def available_sections() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(jobs.benchmarks.__path__) if not m.name.startswith("_"))


def machine_line() -> str:
    try:
        import torch

        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
        tv = torch.__version__
    except Exception:  # pragma: no cover
        gpu, tv = "unknown", "?"
    import ray

    return f"{platform.machine()}, {os.cpu_count()} CPUs, {gpu}; Python {platform.python_version()}, torch {tv}, Ray {ray.__version__}"


def assemble(output: Path) -> str:
    parts = [
        "# Benchmarks\n",
        "Produced by `genrec bench` (`python -m jobs.bench`); each section was measured by the command it names, on the "
        "machine it names. Speed is reported as a ratio against a reference measured in the same run, never as a bare "
        "time on a shared CPU. Published anchors are quoted beside our numbers with what differs.\n",
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
        mod = importlib.import_module(f"jobs.benchmarks.{name}")
        t0 = time.perf_counter()
        body = mod.bench(cfg.quick)
        took = time.perf_counter() - t0
        if body is None:  # the section needs hardware this machine lacks (a GPU): keep its earlier figures
            print(f"bench: section {name!r} does not apply to this machine; {RESULTS / (name + '.md')} left as it was")
            metrics[f"{name}/skipped"] = 1
            continue
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d")
        quick = " --set quick=true" if cfg.quick else ""
        head = (f"<!-- section {name}: written by `python -m jobs.bench --set sections=[{name}]{quick}` on {stamp} -->\n"
                f"_Measured {stamp} on: {machine_line()}; section took {took:.0f} s{' (quick sizes)' if cfg.quick else ''}._\n\n")
        (RESULTS / f"{name}.md").write_text(head + body.strip() + "\n")
        metrics[f"{name}/seconds"] = took
    text = assemble(cfg.output)
    (ctx.out_dir / "BENCHMARKS.md").write_text(text)
    return JobResult(metrics=metrics, report=f"wrote {cfg.output} ({len(sections)} section(s) re-measured)")


JOB = Job(name="bench", config=Config, run=run, summary="measure benchmark sections and write BENCHMARKS.md",
          resources=lambda cfg: {"CPU": 1.0})

if __name__ == "__main__":
    JOB.main()
