"""train.lr_schedule: warmup then decay over the whole run, and a resumed run continues it exactly."""

import pytest
import torch

from jobs.common.config import TrainConfig
from jobs.common.train import lr_scheduler


def _run(train: TrainConfig, steps_per_epoch: int, epochs: range, opt=None, base=None):
    model = torch.nn.Linear(2, 1)
    opt = opt or torch.optim.AdamW(model.parameters(), lr=train.lr)
    sched = lr_scheduler(opt, train, steps_per_epoch, start_epoch=epochs.start, base_lrs=base)
    lrs = []
    for _ in epochs:
        for _ in range(steps_per_epoch):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
    return lrs, opt


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_warmup_then_decay_to_zero_and_resume_continues_the_schedule(kind):
    t = TrainConfig(epochs=4, lr=1e-3, lr_schedule=kind, warmup_frac=0.25)
    full, _ = _run(t, steps_per_epoch=5, epochs=range(4))
    assert full[0] == 0.0 and max(full) == pytest.approx(1e-3)  # warmup from 0 to the configured lr ...
    assert full.index(max(full)) == 5  # ... over a quarter of the 20 steps
    assert full[-1] < 0.1e-3 and all(a >= b for a, b in zip(full[5:], full[6:]))  # ... then down towards 0
    first, opt = _run(t, 5, range(2))
    # A resumed worker builds a fresh optimizer and loads the checkpoint's state, which holds the decayed lr.
    fresh = torch.optim.AdamW(torch.nn.Linear(2, 1).parameters(), lr=1e-3)
    fresh.load_state_dict(opt.state_dict())
    rest, _ = _run(t, 5, range(2, 4), opt=fresh, base=[1e-3])
    assert first + rest == pytest.approx(full)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_the_factors_are_transformers_schedules(kind):
    from transformers import get_scheduler

    t = TrainConfig(epochs=3, lr=2e-3, lr_schedule=kind, warmup_frac=0.2)
    ours, _ = _run(t, steps_per_epoch=7, epochs=range(3))
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=2e-3)
    ref = get_scheduler(kind, opt, num_warmup_steps=int(0.2 * 21), num_training_steps=21)
    theirs = []
    for _ in range(21):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert ours == pytest.approx(theirs, abs=1e-12)


def test_constant_is_the_default():
    assert TrainConfig().lr_schedule == "constant"
    with pytest.raises(ValueError):
        TrainConfig(lr_schedule="step")


def test_a_loader_prepared_every_epoch_does_not_restart_the_schedule():
    """NCF prepares a fresh loader each epoch: the session's schedule is built once and keeps counting."""
    from jobs.common.train import WorkerSession

    t = TrainConfig(epochs=3, lr=1e-3, lr_schedule="linear", warmup_frac=0.5)
    opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1e-3)
    # the scheduling part of a session, without the Ray Train context its __init__ needs
    sess = WorkerSession.__new__(WorkerSession)
    sess.train, sess._lr_optimizer, sess._base_lrs, sess.start_epoch, sess._scheduler = t, opt, [1e-3], 0, None
    lrs = []
    for _ in range(3):
        sess.set_steps_per_epoch(2)
        for _ in range(2):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sess._scheduler.step()
    expected, _ = _run(t, steps_per_epoch=2, epochs=range(3))
    assert lrs == pytest.approx(expected)
