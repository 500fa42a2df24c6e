"""`genrec tune ... --resume`: an experiment whose driver died (SIGKILL of the driver and its embedded Ray) continues
from Tune's saved experiment state; trials that had finished are not run again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rec_core.paths import REPO_ROOT
from tests.integration.multinode import kill_group, record_fault

pytestmark = pytest.mark.ray

DRIVER = """
import json, sys, time, types
from pathlib import Path

from jobs.common import tune as tune_mod
from jobs.common.config import JobConfig
from jobs.common.job import Job, JobResult
from rec_core.config import StrictModel
from tune_spaces import asha

out, starts, resume = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
EPOCHS = 6


class Model(StrictModel):
    x: float = 0.0


class Cfg(JobConfig):
    model: Model = Model()


def log(line):
    with open(starts, "a") as f:
        f.write(line + "\\n")


def run(cfg, ctx):  # resumable as a trainer is: its progress lives in its run dir (ctx.out_dir)
    done = ctx.out_dir / "epochs_done"
    first = int(done.read_text()) if done.exists() else 0
    log(f"start {cfg.model.x} {first}")
    score = -((cfg.model.x - 0.3) ** 2)
    for epoch in range(first, EPOCHS):
        time.sleep(0.5)
        ctx.report_progress({"valid": {"score": score}, "epoch": epoch})
        (ctx.out_dir / "tmp").write_text(str(epoch + 1))
        (ctx.out_dir / "tmp").replace(done)  # atomic, as a checkpoint is: a kill never leaves half a file
        log(f"epoch {cfg.model.x} {epoch}")
        if cfg.model.x == 0.3 and first == 0 and epoch == 2:  # the best (ASHA keeps it) holds half-way, to be killed
            log("hold")
            time.sleep(120)
    log(f"end {cfg.model.x}")
    return JobResult(metrics={"valid": {"score": score}})


def space(name):
    from ray import tune

    return types.SimpleNamespace(
        param_space=lambda cfg: {"model.x": tune.grid_search([0.0, 0.1, 0.3, 0.6, 0.9])},
        scheduler=lambda cfg: asha(EPOCHS),
        METRIC="valid/score",
        MODE="max",
    )


tune_mod.space_module = space
job = Job(name="quad", config=Cfg, run=run, summary="test", resources=lambda c: {"CPU": 1.0})
s = tune_mod.tune_job(
    job, None, ["runtime.num_cpus=1", "runtime.dashboard=false"], 1, out, max_concurrent=1, resume=resume
)
print("SUMMARY", json.dumps({"trials": s.num_trials, "failed": s.failed_trials, "best": s.best_config,
                             "interrupted": s.interrupted, "unstarted": s.unstarted_trials,
                             "planned": s.planned_trials}))
"""


def _terminated_in_state(out: Path) -> set[str]:
    """The trials (their x) Tune's saved experiment state records as TERMINATED: what a restore must not re-run."""
    done: set[str] = set()
    for f in out.glob("tune-quad-*/experiment_state-*.json"):
        try:
            state = json.loads(f.read_text())
        except (OSError, ValueError):  # being rewritten
            continue
        for trial_json, _ in state.get("trial_data", []):
            t = json.loads(trial_json)
            if t.get("status") == "TERMINATED":
                done.add(str(float(t["config"]["model.x"])))
    return done


def _lines(starts: Path) -> list[str]:
    return starts.read_text().splitlines() if starts.exists() else []


def _mid_way(starts: Path) -> dict[str, int]:
    """{x: epochs done} of the trials that logged an epoch and no end."""
    lines = _lines(starts)
    ended = {ln.split()[1] for ln in lines if ln.startswith("end")}
    done: dict[str, int] = {}
    for ln in lines:
        if ln.startswith("epoch") and ln.split()[1] not in ended:
            done[ln.split()[1]] = int(ln.split()[2]) + 1
    return done


def _wait_for_a_finished_trial(driver: subprocess.Popen, out: Path, timeout_s: float = 240) -> None:
    """Until Tune's saved state records a finished trial, while the experiment still runs (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and driver.poll() is None and not _terminated_in_state(out):
        time.sleep(0.5)
    assert driver.poll() is None, "the experiment ended before it could be stopped:\n" + driver.stdout.read()


def _driver(tmp_path: Path, out: Path, starts: Path, resume: bool) -> subprocess.Popen:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(PYTHONPATH=str(REPO_ROOT), RAY_USAGE_STATS_ENABLED="0", HF_HUB_OFFLINE="1")
    return subprocess.Popen(
        [sys.executable, str(script), str(out), str(starts), "1" if resume else "0"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


@pytest.mark.slow  # two driver processes, each starting its own Ray, and five 3-s trials: ~1-2 min
def test_resume_continues_an_experiment_whose_driver_died(tmp_path):
    out, starts = tmp_path / "exp", tmp_path / "starts.txt"
    first = _driver(tmp_path, out, starts, resume=False)
    try:
        _wait_for_a_finished_trial(first, out)
        deadline = time.monotonic() + 90  # and for trial 0.3 to hold half-way (3 of 6 epochs), to be killed there
        while time.monotonic() < deadline and first.poll() is None and "hold" not in _lines(starts):
            time.sleep(0.2)
    finally:
        kill_group(first, sig0=9)  # the driver dies with its embedded Ray, mid-experiment
    finished = _terminated_in_state(out)  # what Tune had recorded as finished when its driver died
    mid_way = _mid_way(starts)  # {x: epochs it had done} of the trials killed part-way
    assert finished and len(finished) < 5

    second = _driver(tmp_path, out, starts, resume=True)
    try:
        stdout, _ = second.communicate(timeout=300)
    finally:
        kill_group(second)
    assert second.returncode == 0, stdout[-4000:]
    summary = json.loads(stdout.split("SUMMARY", 1)[1].strip().splitlines()[0])
    assert summary["trials"] == 5 and summary["failed"] == 0 and summary["interrupted"] is False
    assert summary["best"]["model.x"] == pytest.approx(0.3)
    lines = starts.read_text().split("\n")
    started = [ln.split()[1] for ln in lines if ln.startswith("start")]
    ended = {ln.split()[1] for ln in lines if ln.startswith("end")}
    # the total completes: every trial ran to its end or was stopped by ASHA
    assert _terminated_in_state(out) == {"0.0", "0.1", "0.3", "0.6", "0.9"}
    assert "0.3" in ended  # the best trial ran to its end
    for x in finished:
        assert started.count(x) == 1, (x, started)  # a finished trial is not run again
    assert mid_way == {"0.3": 3}, mid_way  # killed half-way
    restarts = [ln.split() for ln in lines if ln.startswith("start")]
    assert [int(r[2]) for r in restarts if r[1] == "0.3"] == [0, 3], restarts  # went on from its run dir, not 0
    record_fault(
        "tune_driver",
        survived=1,
        trials_finished_before_kill=len(finished),
        finished_trials_rerun=sum(started.count(x) - 1 for x in finished),
        trials_completed=len(_terminated_in_state(out)),
    )
    print(f"tune resume: finished before the kill {sorted(finished)}; trial starts {started}")


@pytest.mark.slow  # one driver with its own Ray, stopped by Ctrl+C after its first finished trial: ~30-60 s
def test_ctrl_c_leaves_a_best_so_far_that_says_it_is_unfinished(tmp_path):
    import signal

    out, starts = tmp_path / "exp", tmp_path / "starts.txt"
    driver = _driver(tmp_path, out, starts, resume=False)
    try:
        _wait_for_a_finished_trial(driver, out)
        driver.send_signal(signal.SIGINT)  # the driver alone, as a terminal's Ctrl+C reaches `genrec tune`
        stdout, _ = driver.communicate(timeout=120)
    finally:
        kill_group(driver)
    assert driver.returncode == 0, stdout[-4000:]  # Tune saves its state and returns what it has
    summary = json.loads(stdout.split("SUMMARY", 1)[1].strip().splitlines()[0])
    assert summary["interrupted"] is True and summary["planned"] == 5 and summary["unstarted"] < 5
    best = json.loads((out / "best.json").read_text())
    assert best["interrupted"] is True and best["planned_trials"] == 5
