"""Pure functions returning Ray Tune param spaces plus scheduler/searcher factories."""

from __future__ import annotations


def asha(epochs: int, grace_period: int = 1):
    """ASHA for a trial that reports once per epoch and then once more when its job has finished.

    max_t is one past the epoch count on purpose: ASHA stops a trial as soon as it reaches max_t, and a
    max_t equal to the epochs stopped every surviving trial at its last epoch report, i.e. before its job
    wrote its final metrics (test figures, codes), killing the Ray Train run mid-shutdown.
    grace_period is clamped to 1..epochs.
    """
    from ray.tune.schedulers import ASHAScheduler

    epochs = max(1, int(epochs))
    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=epochs + 1,
        grace_period=max(1, min(grace_period, epochs)),
        reduction_factor=2,
    )
