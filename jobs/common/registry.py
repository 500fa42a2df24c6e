"""Find jobs: every module `jobs/<name>.py` that defines `JOB`. No central list to edit."""

from __future__ import annotations

import importlib
import pkgutil

import jobs
from jobs.common.job import Job

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
