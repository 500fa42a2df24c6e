"""MLflow tracking end to end on local Ray: a smoke `genrec run` logs its config, every epoch the trainer reports
(through the driver's progress thread) and its final metrics; `genrec tune` logs one MLflow run per trial."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ray
mlflow = pytest.importorskip("mlflow")


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_smoke_run_logs_config_epochs_and_final_metrics(ray_local, tmp_path):
    from jobs.common.job import run_job
    from jobs.sasrec import JOB

    res = run_job(
        JOB,
        preset="smoke",
        overrides=["tracking.backend=mlflow", "loss=ce", "train.epochs=4", "train.checkpoint_every=2", "eval.every=2"],
        out_dir=tmp_path / "sasrec",
        init_runtime=False,
    )
    client = _client((tmp_path / "mlruns").as_uri())
    (run,) = client.search_runs([client.get_experiment_by_name("sasrec").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == "4"
    assert run.data.params["dataset"] == "synthetic"
    assert run.data.metrics["test/ndcg_at_10"] == pytest.approx(res.metrics["test/ndcg@10"])
    loss = client.get_metric_history(run.info.run_id, "sasrec-ce/loss")
    assert sorted(m.step for m in loss) == [0, 1, 2, 3]  # one point per reported epoch, step = epoch
    assert {m.step for m in client.get_metric_history(run.info.run_id, "sasrec-ce/valid/ndcg_at_10")} >= {1, 3}


@pytest.mark.slow
def test_tune_logs_every_trial(ray_local, tmp_path):
    from jobs.common.tune import tune_job
    from jobs.tiger import JOB

    s = tune_job(
        JOB,
        preset="smoke",
        overrides=["tracking.backend=mlflow", "train.epochs=2", "eval.every=1", "eval.compare_users=0"],
        num_samples=2,
        out_dir=tmp_path / "tune",
    )
    client = _client((tmp_path / "mlruns").as_uri())
    runs = client.search_runs([client.get_experiment_by_name("tiger").experiment_id])
    assert len(runs) == s.num_trials == 2
    for run in runs:
        assert "train.lr" in run.data.params and "model.num_layers" in run.data.params  # the sampled values
        assert run.info.status in ("FINISHED", "FAILED")
    done = [r for r in runs if r.info.status == "FINISHED"]
    assert len(done) == s.num_trials - s.failed_trials
    for run in done:
        assert "valid/ndcg_at_10" in run.data.metrics
        assert len(client.get_metric_history(run.info.run_id, "valid/ndcg_at_10")) >= 2  # per-epoch + final reports
