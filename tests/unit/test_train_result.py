"""What a job loads after `fit_torch`: the best checkpoint, else the newest, else a clear error."""

from pathlib import Path

import pytest

from jobs.common.job import UserFacingError
from jobs.common.train import TorchRunResult


def test_model_checkpoint_prefers_the_best_then_the_newest_and_names_the_run_dir_when_there_is_none():
    assert TorchRunResult({}, checkpoint_dir=Path("new"), best_checkpoint_dir=Path("best")).model_checkpoint() == Path(
        "best"
    )
    assert TorchRunResult({}, checkpoint_dir=Path("new")).model_checkpoint() == Path("new")
    with pytest.raises(UserFacingError, match="training under runs/x/train produced no checkpoint"):
        TorchRunResult({}, run_dir=Path("runs/x/train")).model_checkpoint()
