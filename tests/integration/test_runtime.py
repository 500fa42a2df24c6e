"""Runtime: an oversize request fails fast with a message, a fitting one runs and writes its files."""

import json
import time

import pytest

from jobs.common.config import JobConfig
from jobs.common.job import Job, JobResult, UserFacingError, run_job
from jobs.common.runtime import ResourceRequestError, check_fits

pytestmark = pytest.mark.ray


class Cfg(JobConfig):
    cpus: float = 1.0
    gpus: float = 0.0


def _run(cfg, ctx):
    import ray

    @ray.remote(num_cpus=cfg.cpus)
    def square(x):
        return x * x

    return JobResult(
        metrics={"sum": sum(ray.get([square.remote(i) for i in range(4)])), "nested": {"a": 1.5}}, report="ok"
    )


JOB = Job(name="probe", config=Cfg, run=_run, summary="test job", resources=lambda c: {"CPU": c.cpus, "GPU": c.gpus})


def test_oversize_request_fails_fast(ray_local, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(UserFacingError) as e:
        run_job(JOB, preset=None, overrides=["cpus=64"], out_dir=tmp_path)
    assert time.perf_counter() - t0 < 30
    msg = str(e.value)
    assert "asks for CPU=64" in msg and "cluster has CPU=2" in msg
    with pytest.raises(ResourceRequestError, match="GPU=1"):
        check_fits({"CPU": 1, "GPU": 1}, job="probe")
    check_fits({"CPU": 1, "GPU": 1}, job="probe", allow_autoscale=True)


def test_run_writes_config_metrics_report(ray_local, tmp_path):
    res = run_job(JOB, preset=None, overrides=["seed=3"], out_dir=tmp_path)
    assert res.metrics["sum"] == 14 and res.metrics["nested/a"] == 1.5
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["seed"] == 3 and cfg["job"] == "probe"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert all(isinstance(v, (int, float)) for v in metrics.values())
    assert "ok" in (tmp_path / "report.md").read_text()
