"""Tracking without Ray: the runner opens one MLflow run per job run with the config as params, the epochs the
progress thread hands over, and the final metrics; off by default, and then it writes nothing."""

from __future__ import annotations

import pytest

from jobs.common import tracking
from jobs.common.config import ConfigError, JobConfig
from jobs.common.job import Job, JobResult, run_job
from rec_core.config import StrictModel

mlflow = pytest.importorskip("mlflow")


class Model(StrictModel):
    d_model: int = 8


class Cfg(JobConfig):
    model: Model = Model()


def _run(cfg, ctx):
    # what jobs.common.progress does on the driver for each epoch Ray Train reports
    for epoch in range(3):
        tracking.log_epoch("toy", epoch, {"loss": 1.0 / (epoch + 1), "valid/ndcg@10": 0.1 * epoch, "epoch": epoch})
    return JobResult(metrics={"test": {"ndcg@10": 0.25, "recall@10": 0.5}, "note": "text is dropped"})


JOB = Job(name="toy", config=Cfg, run=_run, summary="test")


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_default_is_off_and_writes_nothing(tmp_path):
    run_job(JOB, preset=None, out_dir=tmp_path / "run", init_runtime=False)
    assert not (tmp_path / "mlruns").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "metrics.json", "report.md"]


def test_mlflow_run_has_config_epochs_and_final_metrics(tmp_path):
    run_job(
        JOB,
        preset=None,
        overrides=["tracking.backend=mlflow", "model.d_model=16"],
        out_dir=tmp_path / "r1",
        init_runtime=False,
    )
    uri = (tmp_path / "mlruns").as_uri()  # default: <runs folder>/mlruns
    client = _client(uri)
    exp = client.get_experiment_by_name("toy")  # default experiment: the job name
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "r1"
    assert run.data.params["model.d_model"] == "16"
    assert run.data.params["tracking.backend"] == "mlflow"
    assert run.data.params["job"] == "toy"
    assert run.data.metrics["test/ndcg_at_10"] == 0.25
    assert "wall_time_s" in run.data.metrics
    hist = client.get_metric_history(run.info.run_id, "toy/loss")
    assert [(m.step, m.value) for m in sorted(hist, key=lambda m: m.step)] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert len(client.get_metric_history(run.info.run_id, "toy/valid/ndcg_at_10")) == 3
    assert run.data.tags["genrec.run_dir"] == str((tmp_path / "r1").resolve())


def test_uri_and_experiment_are_configurable_and_a_failed_job_is_marked(tmp_path):
    def boom(cfg, ctx):
        raise RuntimeError("boom")

    store = tmp_path / "elsewhere"
    with pytest.raises(RuntimeError):
        run_job(
            Job(name="boom", config=Cfg, run=boom, summary="test"),
            preset=None,
            overrides=["tracking.backend=mlflow", f"tracking.uri={store}", "tracking.experiment=exp1"],
            out_dir=tmp_path / "run",
            init_runtime=False,
        )
    client = _client(store.as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("exp1").experiment_id])
    assert run.info.status == "FAILED"
    assert not (tmp_path / "mlruns").exists()


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError, match="tracking.backend"):
        JOB.resolve(None, None, ["tracking.backend=wandb"])


def test_metric_names_mlflow_accepts():
    assert tracking.mlflow_name("valid/ndcg@10") == "valid/ndcg_at_10"
    assert tracking.mlflow_name("a b:c-d.e/f_g") == "a b:c-d.e/f_g"
    assert tracking.mlflow_name("x[0]") == "x_0_"


def test_a_job_run_inside_another_is_a_nested_run_in_the_same_store_and_experiment(tmp_path):
    def outer(cfg, ctx):
        inner = Cfg.model_validate({"tracking": cfg.tracking.model_dump()})
        run_job(JOB, preset=None, cfg=inner, out_dir=ctx.out_dir / "toy", init_runtime=False)  # as the demo does
        return JobResult(metrics={"stages": 1})

    run_job(
        Job(name="outer", config=Cfg, run=outer, summary="test"),
        preset=None,
        overrides=["tracking.backend=mlflow"],
        out_dir=tmp_path / "demo",
        init_runtime=False,
    )
    client = _client((tmp_path / "mlruns").as_uri())
    runs = {r.info.run_name: r for r in client.search_runs([client.get_experiment_by_name("outer").experiment_id])}
    assert set(runs) == {"demo", "toy"}
    assert runs["toy"].data.tags["mlflow.parentRunId"] == runs["demo"].info.run_id
    assert len(client.get_metric_history(runs["toy"].info.run_id, "toy/loss")) == 3
    assert "toy/loss" not in runs["demo"].data.metrics


def test_a_tracking_server_that_fails_mid_run_costs_warnings_not_the_run(tmp_path, monkeypatch):
    def down(self, metrics, step=0):
        raise ConnectionError("tracking server went away")

    monkeypatch.setattr(tracking.MlflowRun, "log_metrics", down)
    res = run_job(JOB, preset=None, overrides=["tracking.backend=mlflow"], out_dir=tmp_path / "r", init_runtime=False)
    assert res.metrics["test/ndcg@10"] == 0.25 and (tmp_path / "r" / "metrics.json").exists()
