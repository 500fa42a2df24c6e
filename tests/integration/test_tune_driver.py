"""The generic Tune driver: sampled values go through the job's own config validation, trials run in
parallel, ASHA sees per-epoch reports, and the best config is the one that really scored best."""

import json
import time
import types
from pathlib import Path

import pytest

from jobs.common import tune as tune_mod
from jobs.common.config import JobConfig, TrainConfig
from jobs.common.job import Job, JobResult, UserFacingError
from rec_core.config import StrictModel
from tune_spaces import asha

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
        score = -((cfg.model.x - 0.3) ** 2) * (epoch + 1) / cfg.epochs
        ctx.report_progress({"valid": {"score": score}, "epoch": epoch})
    return JobResult(metrics={"valid": {"score": score}})


JOB = Job(name="quad", config=Cfg, run=_run, summary="test", resources=lambda c: {"CPU": 1.0})


def _space_module():
    from ray import tune

    return types.SimpleNamespace(
        param_space=lambda cfg: {"model.x": tune.grid_search([0.0, 0.3, 0.9])},
        scheduler=lambda cfg: asha(cfg.epochs),
        METRIC="valid/score",
        MODE="max",
    )


def test_tune_finds_the_best_trial(ray_local, tmp_path, monkeypatch):
    monkeypatch.setattr(tune_mod, "space_module", lambda name: _space_module())
    s = tune_mod.tune_job(JOB, preset=None, overrides=["epochs=3"], num_samples=1, out_dir=tmp_path)
    assert s.num_trials == 3
    assert s.best_config["model.x"] == pytest.approx(0.3)
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["failed_trials"] == 0 and best["best_metrics"]["valid/score"] == pytest.approx(0.0)
    # what reproduces the best trial: the shared overrides plus its sampled values
    assert best["overrides"] == ["epochs=3"] and best["rerun"] == "genrec run quad --set epochs=3 --set model.x=0.3"
    # the best trial was not cut off at its last epoch report: the job's own final report arrived
    assert best["best_metrics"]["done"] == 1


def _reporting_train_loop(config):
    import ray.train

    for epoch in range(3):
        ray.train.report({"valid/score": float(epoch), "epoch": epoch, "from_trainer": 1})


def _trainer_run(cfg, ctx):
    from jobs.common.train import fit_torch

    fit_torch(
        _reporting_train_loop,
        {},
        TrainConfig(num_workers=1, cpus_per_worker=1.0, epochs=3),
        ctx.out_dir / "train",
        "reports",
        callbacks=ctx.callbacks,
    )
    return JobResult(metrics={"valid": {"score": 2.0}})


TRAINER_JOB = Job(name="trainer", config=Cfg, run=_trainer_run, summary="test", resources=lambda c: {"CPU": 1.0})


def test_trainer_reports_reach_tune_through_the_run_context(ray_local, tmp_path, monkeypatch):
    """A trial's RunContext carries the Tune callback; a job passing ctx.callbacks to fit_torch has every
    per-epoch report of its trainer arrive in Tune as an intermediate result (what ASHA stops on)."""
    from ray import tune

    mod = types.SimpleNamespace(
        param_space=lambda cfg: {"model.x": tune.grid_search([0.0])},
        scheduler=lambda cfg: None,
        METRIC="valid/score",
        MODE="max",
    )
    monkeypatch.setattr(tune_mod, "space_module", lambda name: mod)
    s = tune_mod.tune_job(TRAINER_JOB, preset=None, overrides=[], num_samples=1, out_dir=tmp_path)
    assert s.num_trials == 1 and s.best_metrics["done"] == 1
    rows = [
        json.loads(line) for f in tmp_path.rglob("result.json") for line in f.read_text().splitlines() if line.strip()
    ]
    assert [r["epoch"] for r in rows if r.get("from_trainer") == 1] == [0, 1, 2]


def _slow_train_loop(config):
    Path(config["marker"]).touch()  # the workers are up and training
    for _ in range(1200):
        time.sleep(0.25)


def _wait_until(cond, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline and not cond():
        time.sleep(0.5)
    return cond()


def test_train_run_killed_mid_training_gives_its_cpus_back(ray_local, tmp_path):
    """What ASHA does to a stopped trial: its driver (and so its Ray Train controller) is killed while the
    workers train. Ray Train's placement-group cleaner must then release the workers' CPUs; it asks the
    dashboard's state API whether the controller is alive, and with the dashboard off the CPUs stayed
    reserved forever (the next trial's 1-CPU Ray Data task hung)."""
    ray = ray_local
    total = ray.cluster_resources()["CPU"]

    @ray.remote(num_cpus=0)
    class TrialDriver:
        def fit(self, run_dir: str):
            from jobs.common.train import fit_torch

            fit_torch(
                _slow_train_loop,
                {"marker": f"{run_dir}/training"},
                TrainConfig(num_workers=1, cpus_per_worker=1.0),
                Path(run_dir),
                "slow",
            )

    driver = TrialDriver.remote()
    driver.fit.remote(str(tmp_path))
    free = lambda: ray.available_resources().get("CPU", 0.0)  # noqa: E731
    assert _wait_until((tmp_path / "training").exists, timeout=180), "the Train worker never started"
    assert free() <= total - 1 + 1e-6  # its CPU is held
    time.sleep(3)  # the controller registers the worker group with Ray Train's cleaner once it is up
    ray.kill(driver)
    _wait_until(lambda: free() >= total, timeout=60)
    assert free() == pytest.approx(total)
    assert ray.get(ray.remote(num_cpus=1)(lambda: "ran").remote(), timeout=60) == "ran"


def test_space_key_not_in_config_fails_before_any_trial(ray_local, tmp_path, monkeypatch):
    from ray import tune

    mod = types.SimpleNamespace(
        param_space=lambda cfg: {"model.nope": tune.choice([1])},
        scheduler=lambda cfg: None,
        METRIC="valid/score",
        MODE="max",
    )
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


class _Square:
    def __call__(self, batch):
        batch["y"] = batch["x"] ** 2
        return batch


def _ray_data_run(cfg, ctx):
    import pandas as pd
    import ray

    ds = ray.data.from_pandas(pd.DataFrame({"x": range(200)})).repartition(4)
    ds = ds.map_batches(_Square, batch_format="pandas", compute=ray.data.ActorPoolStrategy(size=1), num_cpus=1)
    total = float(sum(r["y"] for r in ds.iter_rows()))
    return JobResult(metrics={"valid": {"score": total}})


DATA_JOB = Job(name="square", config=Cfg, run=_ray_data_run, summary="test", resources=lambda c: {"CPU": 1.0})


@pytest.mark.timeout(240)
def test_trial_with_a_whole_cpu_actor_pool_does_not_starve_ray_data_tasks(ray_local, tmp_path, monkeypatch):
    """On 2 CPUs a 1-CPU actor pool leaves exactly one CPU for Ray Data's own 1-CPU tasks (from_pandas,
    repartition). A trial that held even 0.01 CPU itself left 0.99 and the trial hung (the rater's tune)."""
    from ray import tune

    mod = types.SimpleNamespace(
        param_space=lambda cfg: {"model.x": tune.grid_search([0.0])},
        scheduler=lambda cfg: None,
        METRIC="valid/score",
        MODE="max",
    )
    monkeypatch.setattr(tune_mod, "space_module", lambda name: mod)
    s = tune_mod.tune_job(DATA_JOB, preset=None, overrides=[], num_samples=1, out_dir=tmp_path)
    assert s.best_metrics["valid/score"] == float(sum(x * x for x in range(200)))


def _fragile_run(cfg, ctx):
    if cfg.model.x > 0.5:
        raise RuntimeError(f"this trial's x={cfg.model.x} breaks the model")
    return _run(cfg, ctx)


FRAGILE_JOB = Job(name="fragile", config=Cfg, run=_fragile_run, summary="test", resources=lambda c: {"CPU": 1.0})


def test_summary_counts_failed_trials_and_names_their_error_files(ray_local, tmp_path, monkeypatch):
    monkeypatch.setattr(tune_mod, "space_module", lambda name: _space_module())  # x in 0.0, 0.3, 0.9
    s = tune_mod.tune_job(FRAGILE_JOB, preset=None, overrides=[], num_samples=1, out_dir=tmp_path)
    assert s.num_trials == 3 and s.failed_trials == 1 and len(s.error_files) == 1
    assert "x=0.9 breaks the model" in Path(s.error_files[0]).read_text()
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["failed_trials"] == 1 and best["error_files"] == s.error_files
    assert s.best_config["model.x"] == pytest.approx(0.3)


def test_every_trial_failing_is_an_error_that_names_the_files(ray_local, tmp_path, monkeypatch):
    from ray import tune

    mod = types.SimpleNamespace(
        param_space=lambda cfg: {"model.x": tune.grid_search([0.7, 0.9])},
        scheduler=lambda cfg: asha(cfg.epochs),
        METRIC="valid/score",
        MODE="max",
    )
    monkeypatch.setattr(tune_mod, "space_module", lambda name: mod)
    with pytest.raises(UserFacingError, match="all 2 trials failed") as e:
        tune_mod.tune_job(FRAGILE_JOB, preset=None, overrides=[], num_samples=1, out_dir=tmp_path)
    assert str(e.value).count("error.txt") == 2
