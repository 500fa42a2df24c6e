"""Find jobs: every module `jobs/<name>.py` that defines `JOB`. No central list to edit."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import jobs
from jobs.common.job import Job, preset_names

_NOT_JOBS = {"cli", "__main__"}


def job_names() -> list[str]:
    return sorted(
        m.name
        for m in pkgutil.iter_modules(jobs.__path__)
        if not m.ispkg and not m.name.startswith("_") and m.name not in _NOT_JOBS
    )


def get_job(name: str) -> Job:
    if name not in job_names():
        raise KeyError(f"no job named {name!r}; jobs: {', '.join(job_names())}")
    mod = importlib.import_module(f"jobs.{name}")
    job = getattr(mod, "JOB", None)
    if not isinstance(job, Job):
        raise KeyError(f"module jobs.{name} defines no JOB")
    return job


def all_jobs() -> list[Job]:
    out = []
    for n in job_names():
        try:
            out.append(get_job(n))
        except KeyError:
            continue
    return out


@dataclass(frozen=True)
class JobCard:
    """What `genrec list` shows of a job, read from its source without importing it (a job module imports torch,
    transformers, Ray...: seconds each)."""

    name: str
    summary: str
    in_demo: bool
    presets: tuple[str, ...]


def job_cards() -> list[JobCard]:
    """One card per job, from the literal keyword arguments of `JOB = Job(...)` in each module; a module whose JOB is
    not written that way is imported instead."""
    cards = []
    for name in job_names():
        kwargs = _literal_job_kwargs(Path(jobs.__path__[0]) / f"{name}.py")
        if kwargs is None or "summary" not in kwargs:
            try:
                j = get_job(name)
            except KeyError:
                continue
            kwargs = {"summary": j.summary, "in_demo": j.in_demo}
        presets = tuple(preset_names(name))
        cards.append(JobCard(name, kwargs["summary"], bool(kwargs.get("in_demo", False)), presets))
    return cards


def _literal_job_kwargs(path: Path) -> dict | None:
    try:
        tree = ast.parse(path.read_text())
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "JOB" for t in node.targets)
            and isinstance(node.value, ast.Call)
        ):
            out = {}
            for kw in node.value.keywords:
                try:
                    out[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    continue  # config=Config, run=run, ...: not needed for a card
            return out
    return None
