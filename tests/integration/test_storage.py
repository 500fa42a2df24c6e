"""`runtime.storage`: checkpoints and results in an S3-compatible bucket (a moto server the test starts), and a
run resumed from the bucket by a new driver, on a fresh Ray, with an empty local run dir."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs.common.config import RuntimeConfig
from jobs.common.storage import Storage
from rec_core.paths import REPO_ROOT
from tests.integration.multinode import record_fault

BUCKET = "genrec-ckpt"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
# SASRec smoke, deterministic (no dropout; CE loss ignores the sampled negatives), a checkpoint every epoch.
SASREC = [
    "model.dropout=0",
    "eval.every=2",
    "eval.patience=100",
    "train.checkpoint_every=1",
    "runtime.num_cpus=1",
    "runtime.dashboard=false",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    """A moto S3 server on a free loopback port, with one bucket; stopped at the end."""
    pytest.importorskip("moto.server", reason="needs moto[server] (the test extra)")
    import boto3
    from moto.server import ThreadedMotoServer

    saved = {k: os.environ.get(k) for k in CREDS}
    os.environ.update(CREDS)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        boto3.client("s3", endpoint_url=url).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _keys(url: str, prefix: str) -> list[str]:
    import boto3

    resp = boto3.client("s3", endpoint_url=url).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for o in resp.get("Contents", [])]


def test_storage_targets():
    assert Storage().target("/tmp/r/train") == ("/tmp/r/train", None)
    st = Storage("/mnt/shared/ckpt", root=Path("/tmp/runs/tiger-1"))
    assert st.target("/tmp/runs/tiger-1/train")[0] == "/mnt/shared/ckpt/tiger-1/train"
    assert st.target("/elsewhere/x")[0] == "/mnt/shared/ckpt/x"
    path, fs = Storage("s3://bkt/pre/fix", "http://127.0.0.1:9", Path("/tmp/runs/r1")).target("/tmp/runs/r1/train")
    assert path == "bkt/pre/fix/r1/train" and type(fs).__name__ == "S3FileSystem"
    assert RuntimeConfig(storage="s3://b/p", storage_endpoint="http://h:9000").storage == "s3://b/p"


@pytest.mark.slow  # 150 s measured on the shared 2-CPU box (a fresh driver and Ray, three SASRec runs)
@pytest.mark.ray
def test_a_run_resumes_from_the_bucket_on_a_fresh_ray_with_an_empty_disk(ray_local, s3_endpoint, tmp_path):
    from jobs.common.job import run_job
    from jobs.common.registry import get_job

    job = get_job("sasrec")
    to_s3 = [f"runtime.storage=s3://{BUCKET}/runs", f"runtime.storage_endpoint={s3_endpoint}"]
    # 1. Three epochs into the bucket (this process, the session's Ray): the "interrupted" run.
    run_job(job, "smoke", overrides=[*SASREC, *to_s3, "train.epochs=3"], out_dir=tmp_path / "a" / "run1")
    keys = _keys(s3_endpoint, "runs/run1/train/sasrec-ce/")
    assert any(k.endswith("/model.pt") for k in keys) and any(
        k.endswith("checkpoint_manager_snapshot.json") for k in keys
    )
    # 2. The same run name continued to six epochs by a new driver process on its own fresh Ray, from an empty dir.
    fresh = tmp_path / "b" / "run1"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(PYTHONPATH=str(REPO_ROOT), HF_HUB_OFFLINE="1", RAY_USAGE_STATS_ENABLED="0", **CREDS)
    cmd = [sys.executable, "-m", "jobs.sasrec", "--preset", "smoke", "--out", str(fresh)]
    for s in [*SASREC, *to_s3, "train.epochs=6"]:
        cmd += ["--set", s]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    epochs = [int(m) for m in re.findall(r"\[sasrec-ce\] epoch (\d+)/6(?!  step)", proc.stdout)]
    assert epochs and epochs[0] == 4, proc.stdout[-2000:]  # epochs 1-3 came from the bucket
    resumed = json.loads((fresh / "metrics.json").read_text())
    # 3. The same six epochs uninterrupted, local storage: the same model, to float precision.
    ref = run_job(job, "smoke", overrides=[*SASREC, "train.epochs=6"], out_dir=tmp_path / "ref").metrics
    diff = abs(resumed["test/ndcg@10"] - ref["test/ndcg@10"])
    print(f"s3 resume: fresh driver {time.monotonic() - t0:.1f} s, |test/ndcg@10 diff| = {diff:.2e}")
    record_fault("s3_fresh_driver", survived=1, resumed_at_epoch=epochs[0] - 1, epochs_lost=0, metric_diff=diff)
    assert diff <= 1e-6
    assert resumed["epochs_trained"] == ref["epochs_trained"] == 6


@pytest.mark.ray
def test_xgboost_checkpoints_go_to_the_bucket_and_the_boosters_come_back_from_it(ray_local, s3_endpoint, tmp_path):
    """The XGBoost half of the harness with `runtime.storage` in a bucket: every task's booster checkpoint is written
    there, and the boosters the driver reads back come from it."""
    from jobs.common import storage
    from jobs.common.train import boosters_by_task, fit_xgboost
    from tests.integration.test_xgb_harness import ROUNDS, _crash_once_loop

    (tmp_path / "died").touch()  # the harness test's loop, without its crash
    cfg = {"marker": str(tmp_path / "died"), "log": str(tmp_path / "starts.log")}
    runtime = RuntimeConfig(storage=f"s3://{BUCKET}/xgb", storage_endpoint=s3_endpoint)
    with storage.using(runtime, root=tmp_path / "run"):
        res = fit_xgboost(_crash_once_loop, cfg, None, 1, 1.0, tmp_path / "run" / "train", "xgb-s3")
        boosters = boosters_by_task(res, ["t0", "t1", "t2"])
    assert [boosters[t].num_boosted_rounds() for t in ("t0", "t1", "t2")] == [ROUNDS] * 3
    keys = _keys(s3_endpoint, "xgb/run/train/xgb-s3/")
    assert sum(k.endswith("/task.json") for k in keys) >= 3, keys  # one checkpoint per finished booster at least
    assert not any((tmp_path / "run" / "train").rglob("task.json"))  # nothing of it on the local disk


@pytest.mark.ray
def test_a_tune_experiment_keeps_its_state_in_the_bucket(ray_local, s3_endpoint, tmp_path, monkeypatch):
    """`genrec tune` with `runtime.storage` in a bucket: the experiment's state (what `--resume` restores from) and
    the trials' results are written there; the best config still comes back."""
    from jobs.common import storage
    from jobs.common import tune as tune_mod
    from tests.integration.test_tune_driver import JOB, _space_module

    monkeypatch.setattr(tune_mod, "space_module", lambda name: _space_module())
    to_s3 = [f"runtime.storage=s3://{BUCKET}/tune", f"runtime.storage_endpoint={s3_endpoint}"]
    s = tune_mod.tune_job(JOB, preset=None, overrides=to_s3, num_samples=1, out_dir=tmp_path / "exp")
    assert s.num_trials == 3 and s.best_config["model.x"] == pytest.approx(0.3)
    keys = _keys(s3_endpoint, "tune/exp/")
    assert any("experiment_state" in k for k in keys), keys  # what Tuner.restore reads on --resume
    assert sum(k.endswith("/result.json") for k in keys) == 3, keys  # one per trial
    assert storage.current().uri is None  # the driver's own storage setting is left as it was
