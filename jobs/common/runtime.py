"""Start an embedded local Ray sized to this machine, or connect to a cluster, and check that a job's
resource request can ever be satisfied before it starts.

Why the check: on a 2-CPU laptop a request for 3 CPUs (say 2 Train workers + an actor pool) is not an
error in Ray: the job just waits for resources forever. We fail fast instead, naming what was asked
and what exists.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from jobs.common.config import RuntimeConfig
from jobs.common.data_progress import show_data_progress
from rec_core.paths import REPO_ROOT

log = logging.getLogger(__name__)

TRAIN_POLL_ENV = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"  # runtime.train_poll_s
# Below this much RAM the object store is capped: Ray's default (30 % of RAM) starves the workers.
_SMALL_MACHINE_GB = 64
_SMALL_STORE_GB = 2.0


class ResourceRequestError(RuntimeError):
    """The job asks for more than the cluster has (and no autoscaler will add it)."""


def _machine_gb() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):  # pragma: no cover - non-POSIX
        return 16.0


def _detect_gpus() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # pragma: no cover - torch missing or broken driver
        return 0


def init_ray(rt: RuntimeConfig | None = None, *, quiet: bool = True):
    """Connect to `rt.address` / RAY_ADDRESS, else start an embedded local Ray.

    Returns the ray module. Idempotent: an already-initialised Ray is reused as is.
    """
    import ray

    rt = rt or RuntimeConfig()
    if ray.is_initialized():
        return ray
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray Train's controller reads it in its own process: a local Ray's processes inherit this environment, a
    # remote cluster's get it through the job's runtime env. An explicit environment variable wins.
    os.environ.setdefault(TRAIN_POLL_ENV, f"{rt.train_poll_s:g}")
    show_data_progress()
    address = rt.address or os.environ.get("RAY_ADDRESS")
    if address:
        log.info("connecting to Ray at %s", address)
        _say_dashboard(ray.init(address=address, log_to_driver=not quiet, runtime_env=_runtime_env_for_remote()))
        return ray
    # Local workers must import this project even when it is not pip-installed (a plain checkout).
    pp = os.environ.get("PYTHONPATH", "")
    if str(REPO_ROOT) not in pp.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), pp) if p)
    kwargs: dict = {
        "num_cpus": rt.num_cpus or os.cpu_count() or 1,
        "num_gpus": rt.num_gpus if rt.num_gpus is not None else _detect_gpus(),
        "include_dashboard": rt.dashboard and _dashboard_usable(),
        "log_to_driver": not quiet,
        "configure_logging": True,
        "logging_level": logging.WARNING if quiet else logging.INFO,
    }
    store_gb = rt.object_store_gb or (_SMALL_STORE_GB if _machine_gb() < _SMALL_MACHINE_GB else None)
    if store_gb:
        kwargs["object_store_memory"] = int(store_gb * 2**30)
    _warn_if_another_ray()
    _say_dashboard(ray.init(**kwargs))
    return ray


def _warn_if_another_ray() -> None:
    """A second embedded Ray on the same host breaks Ray Train's placement-group cleaner: its state-API query finds
    several Ray instances and gives up ("Found multiple active Ray instances"), so a Tune trial stopped early keeps
    its workers' CPUs reserved. Measured: two `genrec tune` runs side by side on 2 CPUs leaked both CPUs, and the
    next trials could not start."""
    try:
        from ray._private.services import find_gcs_addresses

        others = sorted(find_gcs_addresses())
    except Exception:  # noqa: BLE001 - a private helper: its absence only costs the warning
        return
    if others:
        print(
            f"genrec: another Ray is already running on this machine ({', '.join(others)}). Two embedded Rays on one "
            "host make Ray Train leak the CPUs of stopped Tune trials; to run jobs side by side, start one Ray "
            "(`ray start --head`) and pass --address to each.",
            file=sys.stderr,
            flush=True,
        )


def _say_dashboard(ctx) -> None:
    """Where to watch the run: the dashboard's URL, once, on stderr (stdout carries the job's own output)."""
    url = getattr(ctx, "dashboard_url", None)
    if url:
        print(f"Ray dashboard: {url if '://' in url else 'http://' + url}", file=sys.stderr, flush=True)


def _dashboard_usable() -> bool:
    """A minimal `pip install ray` lacks the dashboard's packages, and Ray refuses to start when the dashboard
    is asked for explicitly: start without it and say what that costs."""
    try:
        from ray._private.utils import get_dashboard_dependency_error

        err = get_dashboard_dependency_error()
    except Exception:  # pragma: no cover - a Ray without this helper: let ray.init decide
        return True
    if err is None:
        return True
    log.warning(
        "starting Ray without its dashboard (%s; install `ray[default]` for it): a run killed mid-training "
        "may keep its CPUs reserved until Ray restarts",
        err,
    )
    return False


def _runtime_env_for_remote() -> dict | None:
    """Ship the checkout to a remote cluster unless it is already there.

    Inside a submitted job (`genrec submit`, a RayJob) the job's own runtime env already carries the
    code, and Ray refuses to merge a second working_dir into it, so none is added.
    """
    from ray._private.runtime_env.constants import RAY_JOB_CONFIG_JSON_ENV_VAR

    if os.environ.get("GENREC_NO_WORKING_DIR") or RAY_JOB_CONFIG_JSON_ENV_VAR in os.environ:
        return None
    return {
        "working_dir": str(REPO_ROOT),
        "excludes": [".git", "runs", "**/__pycache__", ".venv", "venv", "*.parquet"],
        "env_vars": {TRAIN_POLL_ENV: os.environ[TRAIN_POLL_ENV]},
    }


def cluster_totals() -> dict[str, float]:
    import ray

    return {
        k: float(v)
        for k, v in ray.cluster_resources().items()
        # custom resources too (train.worker_resources: e.g. a GPU-node label); not the per-node `node:<ip>` ones
        if k in ("CPU", "GPU", "memory") or not (k.startswith("node:") or k == "object_store_memory")
    }


def check_fits(request: Mapping[str, float], *, job: str, allow_autoscale: bool = False) -> None:
    """Raise ResourceRequestError when `request` (peak concurrent need) exceeds the cluster totals."""
    if allow_autoscale:
        return
    totals = cluster_totals()
    short = {k: v for k, v in request.items() if v > totals.get(k, 0.0) + 1e-9}
    if short:
        asked = ", ".join(f"{k}={v:g}" for k, v in sorted(request.items()) if v)
        have = ", ".join(f"{k}={totals.get(k, 0.0):g}" for k in sorted(request))
        raise ResourceRequestError(
            f"job {job!r} asks for {asked} at once, but the cluster has {have}. "
            f"Lower train.num_workers / cpus_per_worker / the actor pool size (e.g. --set train.num_workers=1), "
            f"connect to a bigger cluster with --address, or pass --set runtime.allow_autoscale=true "
            f"if an autoscaler will add nodes."
        )


def add_requests(*requests: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in requests:
        for k, v in r.items():
            out[k] = out.get(k, 0.0) + float(v)
    return out


def peak_request(*alternatives: Mapping[str, float]) -> dict[str, float]:
    """Stages that run one after another: the peak is the per-resource max."""
    out: dict[str, float] = {}
    for r in alternatives:
        for k, v in r.items():
            out[k] = max(out.get(k, 0.0), float(v))
    return out


def shutdown() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


# Our packages log progress at INFO ("downloading ...", "embedding: N items"); third-party libraries stay at WARNING.
OWN_LOGGERS = ("rec_core", "data_pipelines", "jobs", "tune_spaces", "benchmarks")


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (a test runner or a notebook may swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(verbose: int = 0, quiet: bool = False) -> int:
    """One stderr handler for this project's loggers: INFO by default, DEBUG with -v, WARNING with -q. Returns the
    level. Idempotent (a second call replaces the handler)."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    handler.set_name("genrec")
    for name in OWN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = [h for h in logger.handlers if h.get_name() != "genrec"] + [handler]
        logger.setLevel(level)
    return level
