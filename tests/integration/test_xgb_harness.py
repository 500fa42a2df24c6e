"""The XGBoost half of the Ray Train harness: many boosters in one worker group, restarts that resume."""

from pathlib import Path

import numpy as np
import pytest

from jobs.common.train import boosters_by_task, fit_xgboost, xgb_train_tasks

pytestmark = pytest.mark.ray

ROUNDS = 30


def _data(rank: int, world: int):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 4))
    y = x @ np.array([1.0, 2.0, 3.0, 4.0]) + rng.normal(0, 0.1, 2000)
    return x[rank::world], y[rank::world], x


def _crash_once_loop(cfg: dict):
    """Three identical boosters in one worker group; the first attempt's rank 0 dies in task t1 at round 25,
    after the round-20 checkpoint, as a preempted worker would. Rank 0 logs `task:rounds at start`."""
    import os
    import time

    import ray.train
    import xgboost as xgb

    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    xs, ys, _ = _data(rank, ctx.get_world_size())
    marker, log = cfg["marker"], Path(cfg["log"])

    class Crash(xgb.callback.TrainingCallback):
        def __init__(self, tid):
            self.tid = tid

        def after_iteration(self, model, epoch, evals_log):
            if self.tid == "t1" and rank == 0 and model.num_boosted_rounds() == 25 and not os.path.exists(marker):
                open(marker, "w").close()
                # Let the controller register the round-20 checkpoint first (it polls the workers every
                # runtime.train_poll_s, slower on a loaded machine).
                time.sleep(3)
                os._exit(1)  # the process dies: no exception, no clean shutdown
            return False

    def train_one(tid, callbacks, resume_from):
        start = resume_from.num_boosted_rounds() if resume_from is not None else 0
        if rank == 0:
            with log.open("a") as f:
                f.write(f"{tid}:{start}\n")
        d = xgb.DMatrix(xs, label=ys)
        params = {"max_depth": 3, "eta": 0.3, "nthread": 1, "seed": 0, "tree_method": "hist"}
        return xgb.train(
            params,
            d,
            num_boost_round=ROUNDS - start,
            evals=[(d, "train")],
            xgb_model=resume_from,
            callbacks=[*callbacks, Crash(tid)],
            verbose_eval=False,
        )

    xgb_train_tasks(["t0", "t1", "t2"], train_one, frequency=10)


def test_a_dead_xgboost_worker_is_restarted_and_resumes_the_interrupted_booster(ray_local, tmp_path):
    import xgboost as xgb

    cfg = {"marker": str(tmp_path / "died"), "log": str(tmp_path / "starts.log")}
    res = fit_xgboost(_crash_once_loop, cfg, None, 2, 0.5, tmp_path / "ray", "xgb-crash", max_failures=2)
    assert (tmp_path / "died").exists()
    # t0 finished before the crash and is not trained again; t1 continues from its round-20 checkpoint.
    assert (tmp_path / "starts.log").read_text().split() == ["t0:0", "t1:0", "t1:20", "t2:0"]
    boosters = boosters_by_task(res, ["t0", "t1", "t2"])
    assert [boosters[t].num_boosted_rounds() for t in ("t0", "t1", "t2")] == [ROUNDS] * 3
    # Same data and parameters: the resumed booster predicts as the uninterrupted ones do.
    _, _, x = _data(0, 1)
    p0, p1, p2 = (boosters[t].predict(xgb.DMatrix(x)) for t in ("t0", "t1", "t2"))
    np.testing.assert_allclose(p1, p0, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(p2, p0, rtol=1e-5, atol=1e-5)


def test_max_failures_defaults_to_the_train_config_default():
    import inspect

    from jobs.common.config import TrainConfig
    from jobs.rater import CVSection

    default = inspect.signature(fit_xgboost).parameters["max_failures"].default
    assert default == TrainConfig().max_failures == CVSection().max_failures == 3
