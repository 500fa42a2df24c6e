"""Experiment tracking: MLflow, off by default (`--set tracking.backend=mlflow`).

`genrec run` (driver side only, so one MLflow run per job run whatever the number of workers):
- the resolved config as flat params (`train.lr`, `model.d_model`, ...), when the run starts;
- every epoch that Ray Train reports (rank 0's report, as `jobs.common.progress` receives it on the driver), as
  `<trainer name>/<metric>` at step = epoch;
- the final metrics (the flat `metrics.json`), when the run ends; the run is marked FAILED if the job raised.

`genrec tune`: Ray's own `MLflowLoggerCallback` on the Tune driver, one MLflow run per trial (its sampled params and
every result it reports).

MLflow metric names allow letters, digits and `_ - . / : space`: our `valid/ndcg@10` is logged as
`valid/ndcg_at_10` (`mlflow_name`).

`tracking.uri` defaults to a local file store `<runs folder>/mlruns` (the folder that holds the run dir, `runs/` by
default); point it at a server with `--set tracking.uri=http://host:5000`. MLflow 3 refuses its file store unless
`MLFLOW_ALLOW_FILE_STORE=true`; we set that for `file:` URIs only.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from jobs.common.config import TrackingConfig

log = logging.getLogger(__name__)

_BAD = re.compile(r"[^\w.\- :/]")
MAX_PARAM_LEN = 6000  # MLflow's limit on a param value
PARAMS_PER_BATCH = 100


def mlflow_name(key: str) -> str:
    """A metric/param name MLflow accepts: `@` -> `_at_`, any other character it refuses -> `_`."""
    return _BAD.sub("_", key.replace("@", "_at_"))


def default_uri(out_dir: Path) -> str:
    """A file store beside the run dir: `<parent of out_dir>/mlruns` (`runs/mlruns` for the default run dirs)."""
    return (Path(out_dir).resolve().parent / "mlruns").as_uri()


def resolve_uri(cfg: TrackingConfig, out_dir: Path) -> str:
    uri = cfg.uri or default_uri(out_dir)
    if "://" not in uri and not uri.startswith(("file:", "databricks")):
        uri = Path(uri).expanduser().resolve().as_uri()  # a plain path: a file store there
    return uri


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise RuntimeError(
            "tracking.backend=mlflow needs MLflow: pip install 'genrec-ray[tracking]' (or mlflow-skinny)"
        ) from None
    return mlflow


def _allow_file_store(uri: str) -> None:
    if uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")


def flat_params(tree: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {'train.lr': '0.001', ...}, values as MLflow stores them (strings, capped in length)."""
    out: dict[str, str] = {}
    for k, v in tree.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(flat_params(v, key + "."))
        else:
            out[mlflow_name(key)] = str(v)[:MAX_PARAM_LEN]
    return out


def numeric(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numbers of a flat metrics dict, under MLflow-safe names."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, bool):
            v = int(v)
        if isinstance(v, (int, float)) and math.isfinite(float(v)):
            out[mlflow_name(str(k))] = float(v)
    return out


class MlflowRun:
    """One MLflow run, written through `MlflowClient` (no global active run: safe from the progress thread)."""

    def __init__(self, uri: str, experiment: str, run_name: str, tags: dict[str, str] | None = None):
        _mlflow()
        _allow_file_store(uri)
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(experiment)
        self.run_id = self.client.create_run(exp_id, run_name=run_name, tags=tags or {}).info.run_id
        self.experiment, self.experiment_id = experiment, exp_id

    def log_params(self, params: Mapping[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), PARAMS_PER_BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + PARAMS_PER_BATCH])

    def log_metrics(self, metrics: Mapping[str, Any], step: int = 0) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in numeric(metrics).items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i : i + 1000])

    def end(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status=status)


# The runs open on this driver, innermost last (the demo's run holds its sub-jobs' runs).
_ACTIVE: list[MlflowRun] = []


def active() -> MlflowRun | None:
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def track_run(cfg: TrackingConfig, job: str, out_dir: Path, config: Mapping[str, Any]) -> Iterator[MlflowRun | None]:
    """Around a job run on the driver: opens the MLflow run and logs the config (a wrong or unreachable URI fails here,
    before any work); the caller logs the final metrics with `log_final`. Yields None (and writes nothing) when
    tracking is off."""
    if cfg.backend == "none":
        yield None
        return
    parent = active()
    # A sub-job of the demo logs beside its parent run unless it names its own store.
    uri = parent.uri if parent and not cfg.uri else resolve_uri(cfg, out_dir)
    tags = {"genrec.job": job, "genrec.run_dir": str(Path(out_dir).resolve())}
    if parent:
        tags["mlflow.parentRunId"] = parent.run_id
    # ... and in its parent's experiment unless it names one.
    experiment = cfg.experiment or (parent.experiment if parent else job)
    run = MlflowRun(uri, experiment, run_name=Path(out_dir).name, tags=tags)
    run.log_params(flat_params(config))
    log.info("tracking: MLflow run %s in experiment %r at %s", run.run_id, experiment, uri)
    _ACTIVE.append(run)
    status = "FAILED"
    try:
        yield run
        status = "FINISHED"
    finally:
        _ACTIVE.remove(run)
        with contextlib.suppress(Exception):
            run.end(status)


def log_final(run: MlflowRun | None, metrics: Mapping[str, Any]) -> None:
    """The run's flat metrics.json at the end. Never raises: the run's results are already on disk."""
    if run is None:
        return
    try:
        run.log_metrics(metrics)
    except Exception as e:  # noqa: BLE001
        log.warning("tracking: could not log the final metrics: %s", e)


def log_epoch(stage: str, epoch: int, metrics: Mapping[str, Any]) -> None:
    """Driver side, per reported epoch (jobs.common.progress): `<stage>/<metric>` at step = epoch. Never raises:
    a tracking server that is down must not fail the training run."""
    run = active()
    if run is None:
        return
    try:
        run.log_metrics({f"{stage}/{k}": v for k, v in metrics.items() if k != "epoch"}, step=int(epoch))
    except Exception as e:  # noqa: BLE001
        log.warning("tracking: could not log epoch %s of %s: %s", epoch, stage, e)


def tune_callbacks(cfg: TrackingConfig, job: str, out_dir: Path) -> list:
    """Tune callbacks for `genrec tune`: an MLflow run per trial (params = its sampled values), or none."""
    if cfg.backend == "none":
        return []
    _mlflow()
    uri = resolve_uri(cfg, out_dir)
    _allow_file_store(uri)
    return [_tune_logger_class()(tracking_uri=uri, experiment_name=cfg.experiment or job, tags={"genrec.job": job})]


def _tune_logger_class():
    from ray.air.integrations.mlflow import MLflowLoggerCallback

    class GenrecMLflowLogger(MLflowLoggerCallback):
        """Ray's MLflow logger with metric names MLflow accepts (`valid/ndcg@10` -> `valid/ndcg_at_10`)."""

        def log_trial_result(self, iteration, trial, result):
            super().log_trial_result(iteration, trial, _safe_tree(result))

    return GenrecMLflowLogger


def _safe_tree(d: Mapping[str, Any]) -> dict:
    return {mlflow_name(str(k)): (_safe_tree(v) if isinstance(v, Mapping) else v) for k, v in d.items()}
