"""The shared Ray Train harness: DDP and DeepSpeed both learn, checkpoint and resume."""

import os

import numpy as np
import pytest
import torch

from jobs.common.config import TrainConfig
from jobs.common.train import WorkerSession, fit_torch, load_model_state
from tests.integration.multinode import record_fault

pytestmark = pytest.mark.ray


def _loop(cfg: dict):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(512, 8, generator=g)
    w_true = torch.arange(1.0, 9.0)
    y = x @ w_true
    ds = torch.utils.data.TensorDataset(x, y)
    model = torch.nn.Linear(8, 1)
    sess = WorkerSession(cfg, model, lambda p: torch.optim.AdamW(p, lr=cfg["lr"]))
    loader = sess.prepare_loader(torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True))
    t = sess.train
    for epoch in range(sess.start_epoch, t.epochs):
        total = 0.0
        for xb, yb in loader:
            loss = torch.nn.functional.mse_loss(sess.model(xb).squeeze(-1), yb)
            sess.step(loss)
            total += float(loss)
        poll_s = float(os.environ.get("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "-1"))
        lr = sess.optimizer.param_groups[0]["lr"]
        if sess.report(
            {"loss": total / len(loader), "start_epoch": sess.start_epoch, "poll_s": poll_s, "lr": lr}, epoch
        ):
            break


def _fit(tmp_path, **kw):
    t = TrainConfig(epochs=kw.pop("epochs", 6), batch_size=64, **kw)
    return fit_torch(_loop, {"lr": 0.5}, t, run_dir=tmp_path, name="lin")


def test_ddp_two_workers_learns_resumes_and_prints_a_line_per_epoch(ray_local, tmp_path, capsys):
    res = _fit(tmp_path, num_workers=2, epochs=6, cpus_per_worker=0.5, progress_every_s=1e-6)
    losses = [h["loss"] for h in res.history]
    assert len(losses) == 6 and losses[-1] < 0.2 * losses[0]
    # Users watch long runs: each reported epoch reaches the driver's stdout with its loss and the time left.
    out = capsys.readouterr().out.splitlines()
    lines = [ln for ln in out if ln.startswith("[lin] epoch") and " step " not in ln]
    # ... and inside an epoch, rank 0's step lines (here one per step: 512 rows / 2 ranks / batch 64 = 4 steps)
    steps = [ln.split()[2:5] for ln in out if ln.startswith("[lin] epoch") and " step " in ln]
    assert [s for s in steps if s[0] == "1/6"] == [["1/6", "step", f"{k}/4"] for k in range(1, 5)]
    assert {s[0] for s in steps} == {f"{e}/6" for e in range(1, 7)}
    assert [ln.split()[2] for ln in lines] == [f"{e}/6" for e in range(1, 7)]
    printed = [float(ln.split("loss ")[1].split()[0]) for ln in lines]
    assert printed == pytest.approx(losses, abs=1e-4)
    assert "ETA 0 s" in lines[-1]
    # The controller polls the workers at runtime.train_poll_s, not Ray's 2 s (each report after the first waits
    # for a poll): the workers run in the environment init_ray set up.
    assert res.metrics["poll_s"] == pytest.approx(0.2)
    state = load_model_state(res.checkpoint_dir)
    assert state["weight"].shape == (1, 8)
    # loop and optimizer state without pickle: JSON + safetensors beside the weights_only model.pt
    assert {p.name for p in res.checkpoint_dir.iterdir()} >= {"model.pt", "train_state.json", "train_state.safetensors"}
    # same run_dir, more epochs: resumes at epoch 6 instead of starting over
    res2 = _fit(tmp_path, num_workers=2, epochs=8, cpus_per_worker=0.5)
    assert res2.metrics["start_epoch"] == 6
    assert [h["epoch"] for h in res2.history] == list(range(8))


def _deepspeed_fit(tmp_path, epochs: int):
    return _fit(tmp_path, num_workers=2, cpus_per_worker=0.5, deepspeed=True, zero_stage=2, epochs=epochs)


def test_deepspeed_zero2_learns(ray_local, tmp_path):
    res = _deepspeed_fit(tmp_path, epochs=6)
    losses = [h["loss"] for h in res.history]
    assert losses[-1] < 0.2 * losses[0]
    w = load_model_state(res.checkpoint_dir)["weight"].flatten().numpy()
    assert np.corrcoef(w, np.arange(1.0, 9.0))[0, 1] > 0.95
    assert (res.checkpoint_dir / "deepspeed").is_dir()  # its ZeRO checkpoint, what a resume reads


@pytest.mark.slow  # a second DeepSpeed fit (15-35 s); the default run resumes through DDP and the restart tests
def test_deepspeed_zero2_resumes_from_its_zero_checkpoint(ray_local, tmp_path):
    first = _deepspeed_fit(tmp_path, epochs=3)
    # resumes from its ZeRO checkpoint, read with weights_only=True (jobs.common.train._deepspeed_loads_without_pickle)
    res = _deepspeed_fit(tmp_path, epochs=5)
    assert res.metrics["start_epoch"] == 3
    assert res.history[-1]["loss"] < first.history[0]["loss"]


def test_time_limit_stops_every_rank_after_a_checkpointed_epoch_and_resume_false_starts_over(ray_local, tmp_path):
    # Two ranks must leave the loop at the same epoch (rank 0's clock decides), or the run would hang.
    sched = dict(lr_schedule="linear", warmup_frac=0.1)
    res = _fit(tmp_path, num_workers=2, cpus_per_worker=0.5, epochs=50, time_limit_s=1e-3, **sched)
    assert [h["epoch"] for h in res.history] == [0]
    assert res.metrics["stopped_by_time_limit"] == 1
    assert load_model_state(res.checkpoint_dir)["weight"].shape == (1, 8)
    # lr 0.5 warming up over 10 % of 50 epochs x 4 steps (512 rows / 2 ranks / 64): 4 of 20 steps done
    assert res.history[0]["lr"] == pytest.approx(0.5 * 4 / 20)
    # The stop is a checkpoint: the next attempt resumes after it instead of starting over.
    res2 = _fit(tmp_path, epochs=50, time_limit_s=1e-3, **sched)
    assert res2.metrics["start_epoch"] == 1 and [h["epoch"] for h in res2.history] == [0, 1]
    # ... and picks the schedule up where epoch 1 starts (one rank now: 8 steps per epoch, 40 warmup steps)
    assert res2.history[-1]["lr"] == pytest.approx(0.5 * 16 / 40)
    # resume=false ignores those checkpoints and starts over.
    res3 = _fit(tmp_path, epochs=2, resume=False)
    assert res3.metrics["start_epoch"] == 0 and [h["epoch"] for h in res3.history] == [0, 1]


def _rank_draws_loop(cfg: dict):
    """Each rank seeds its own stream (as per-rank dropout seeds do) and logs one draw per epoch."""
    import ray.train

    rank = ray.train.get_context().get_world_rank()
    torch.manual_seed(100 + rank)
    sess = WorkerSession(cfg, torch.nn.Linear(2, 1), lambda p: torch.optim.SGD(p, lr=0.1))
    for epoch in range(sess.start_epoch, sess.train.epochs):
        draw = float(torch.rand(1))
        with open(f"{cfg['log']}.{rank}", "a") as f:
            f.write(f"{epoch} {draw!r}\n")
        if sess.report({"loss": draw}, epoch):
            break


@pytest.mark.slow  # 30 s; the default run keeps DDP resume (test_ddp_two_workers...) and the restart tests
def test_every_rank_resumes_its_own_random_stream(ray_local, tmp_path):
    """Two ranks with different streams, stopped after epoch 0 and resumed: each continues its own stream exactly as
    an uninterrupted run would (the checkpoint holds one RNG file per rank, not rank 0's states for all)."""
    log = str(tmp_path / "draws")
    t = dict(num_workers=2, cpus_per_worker=0.5, epochs=3, checkpoint_every=1)
    fit_torch(_rank_draws_loop, {"log": log}, TrainConfig(**t, time_limit_s=1e-3), run_dir=tmp_path, name="rng")
    res = fit_torch(_rank_draws_loop, {"log": log}, TrainConfig(**t), run_dir=tmp_path, name="rng")
    for rank in (0, 1):
        torch.manual_seed(100 + rank)  # the uninterrupted stream: the model's init, then one draw per epoch
        torch.nn.Linear(2, 1)
        expected = [float(torch.rand(1)) for _ in range(3)]
        got = [line.split() for line in open(f"{log}.{rank}").read().splitlines()]
        assert [int(e) for e, _ in got] == [0, 1, 2], got  # epoch 0 in the first run, 1-2 after the resume
        assert [float(x) for _, x in got] == expected, rank
    assert {p.name for p in res.checkpoint_dir.iterdir()} >= {"rng_rank0.json", "rng_rank1.json"}


def _crash_once_loop(cfg: dict):
    """_loop's model and data, but the first attempt dies at epoch 3 (after epoch 1's checkpoint), as a
    preempted worker would."""
    import os
    import time

    marker = cfg["marker"]
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(256, 8, generator=g)
    ds = torch.utils.data.TensorDataset(x, x @ torch.arange(1.0, 9.0))
    sess = WorkerSession(cfg, torch.nn.Linear(8, 1), lambda p: torch.optim.AdamW(p, lr=cfg["lr"]))
    loader = sess.prepare_loader(torch.utils.data.DataLoader(ds, batch_size=64))
    for epoch in range(sess.start_epoch, sess.train.epochs):
        if epoch == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            # The controller collects reports by polling the workers (every runtime.train_poll_s, slower on a loaded
            # machine): give it time to register epoch 1's checkpoint (a preemption does not come the instant after
            # one either).
            time.sleep(3)
            os._exit(1)  # the process dies: no exception, no clean shutdown
        total = 0.0
        for xb, yb in loader:
            loss = torch.nn.functional.mse_loss(sess.model(xb).squeeze(-1), yb)
            sess.step(loss)
            total += float(loss)
        sess.report({"loss": total / len(loader), "start_epoch": sess.start_epoch}, epoch)


def test_a_dead_worker_is_restarted_and_resumes_from_the_newest_checkpoint(ray_local, tmp_path):
    t = TrainConfig(epochs=5, batch_size=64, checkpoint_every=2, max_failures=2)
    res = fit_torch(_crash_once_loop, {"lr": 0.5, "marker": str(tmp_path / "died")}, t, run_dir=tmp_path, name="crash")
    assert (tmp_path / "died").exists()
    # epochs 0-1 from the first attempt (checkpointed at epoch 1), epoch 2 lost with the worker, 2-4 redone
    assert [h["epoch"] for h in res.history] == [0, 1, 2, 3, 4]
    assert [h["start_epoch"] for h in res.history] == [0, 0, 2, 2, 2]
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    # The same five epochs without the crash (the marker exists): the checkpoint carried model, optimizer and RNG
    # state, so the restarted run ends where an uninterrupted one does.
    ref = fit_torch(_crash_once_loop, {"lr": 0.5, "marker": str(tmp_path / "died")}, t, run_dir=tmp_path, name="ref")
    diff = abs(ref.history[-1]["loss"] - res.history[-1]["loss"])
    record_fault("train_worker_process", survived=1, epochs_lost=1, metric_diff=diff, checkpoint_every=2)
    assert diff <= 1e-6


@pytest.mark.slow  # the restart path itself runs by default
def test_with_no_restarts_allowed_a_dead_worker_fails_the_run(ray_local, tmp_path):
    t = TrainConfig(epochs=5, batch_size=64, checkpoint_every=2, max_failures=0)
    with pytest.raises(Exception):  # noqa: B017 - Ray's worker-group error type varies by version
        fit_torch(_crash_once_loop, {"lr": 0.5, "marker": str(tmp_path / "died")}, t, run_dir=tmp_path, name="crash")


_UNPLACEABLE = """
import os, sys, time
os.environ["RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S"] = "3"
import ray
from jobs.common.config import TrainConfig
from jobs.common.runtime import init_ray
from jobs.common.train import fit_torch
from tests.integration.test_train_harness import _loop

init_ray()
hog = ray.remote(num_cpus=float(ray.cluster_resources()["CPU"]))(lambda: time.sleep(600)).remote()  # every CPU
t0 = time.time()
try:
    fit_torch(_loop, {"lr": 0.5}, TrainConfig(epochs=1, start_retries=1), run_dir=sys.argv[1], name="lin")
    print("FIT RETURNED")
except Exception as e:
    print("FIT FAILED", type(e).__name__, round(time.time() - t0), str(e)[:300])
"""


@pytest.mark.slow  # its own Ray: the start timeout is read by the controller, from the environment Ray starts with
def test_a_worker_group_that_cannot_be_placed_fails_the_fit_after_start_retries(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _UNPLACEABLE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    ).stdout
    # two starts of 3 s each, then Ray's error; Ray's default (retry forever) would hit the 240 s timeout instead
    assert "FIT FAILED" in out and "timed out" in out, out[-2000:]
