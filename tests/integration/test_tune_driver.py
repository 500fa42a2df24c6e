"""The generic Tune driver: sampled values go through the job's own config validation, trials run in
parallel, ASHA sees per-epoch reports, and the best config is the one that really scored best."""
import json
import types

import pytest

from jobs.common import tune as tune_mod
from jobs.common.job import Job, JobResult, UserFacingError
from rec_core.config import JobConfig, StrictModel

pytestmark = pytest.mark.ray


class Model(StrictModel):
    x: float = 0.0


class Cfg(JobConfig):
    model: Model = Model()
    epochs: int = 3


def _run(cfg, ctx):
    # a "training curve" whose final score peaks at x = 0.3
    score = 0.0
    for epoch in range(cfg.epochs):
        score = -(cfg.model.x - 0.3) ** 2 * (epoch + 1) / cfg.epochs
        ctx.report_progress({"valid": {"score": score}, "epoch": epoch})
    return JobResult(metrics={"valid": {"score": score}})


JOB = Job(name="quad", config=Cfg, run=_run, summary="test", resources=lambda c: {"CPU": 1.0})


def _space_module():
    from ray import tune

    return types.SimpleNamespace(
        param_space=lambda cfg: {"model.x": tune.grid_search([0.0, 0.3, 0.9])},
        scheduler=lambda cfg: tune.schedulers.ASHAScheduler(max_t=3, grace_period=1),
        METRIC="valid/score",
        MODE="max",
    )


def test_tune_finds_the_best_trial(ray_local, tmp_path, monkeypatch):
    monkeypatch.setattr(tune_mod, "space_module", lambda name: _space_module())
    s = tune_mod.tune_job(JOB, preset=None, overrides=[], num_samples=1, out_dir=tmp_path)
    assert s.num_trials == 3
    assert s.best_config["model.x"] == pytest.approx(0.3)
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["failed_trials"] == 0 and best["best_metrics"]["valid/score"] == pytest.approx(0.0)


def test_space_key_not_in_config_fails_before_any_trial(ray_local, tmp_path, monkeypatch):
    from ray import tune

    mod = types.SimpleNamespace(param_space=lambda cfg: {"model.nope": tune.choice([1])},
                                scheduler=lambda cfg: None, METRIC="valid/score", MODE="max")
    monkeypatch.setattr(tune_mod, "space_module", lambda name: mod)
    with pytest.raises(Exception, match=r"model\.nope: unknown key"):
        tune_mod.tune_job(JOB, preset=None, overrides=[], num_samples=1, out_dir=tmp_path)


def test_job_without_space_is_a_clear_error():
    with pytest.raises(UserFacingError, match="has no search space"):
        tune_mod.space_module("no_such_job_xyz")


def test_concurrency_leaves_headroom_for_data_tasks():
    # 1-CPU trials on 2 CPUs: one at a time (two would leave Ray Data's 1-CPU tasks no room)
    assert tune_mod.concurrent_trials({"CPU": 1.0}, {"CPU": 2.0}) == 1
    assert tune_mod.concurrent_trials({"CPU": 1.0}, {"CPU": 16.0}) == 10
    assert tune_mod.concurrent_trials({"CPU": 1.0, "GPU": 1.0}, {"CPU": 64.0, "GPU": 4.0}) == 4
    assert tune_mod.concurrent_trials({"CPU": 1.0}, {"CPU": 16.0}, cap=3) == 3
