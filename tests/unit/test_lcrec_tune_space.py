"""Every sampled point of the LC-Rec search space resolves to a valid job config, for each preset."""

import pytest

from jobs.common.tune import _to_override
from jobs.lcrec import JOB
from tune_spaces import lcrec as space_mod


@pytest.mark.parametrize("preset", ["smoke", "cpu", "gpu"])
def test_space_samples_resolve(preset):
    base = JOB.resolve(preset)
    space = space_mod.param_space(base)
    for _ in range(5):
        sampled = {k: v.sample() for k, v in space.items()}
        cfg = JOB.resolve(preset, None, [_to_override(k, v) for k, v in sampled.items()])
        assert cfg.train.lr == sampled["train.lr"] and cfg.model.lora_r == sampled["model.lora_r"]
        assert cfg.tasks.item2index == sampled["tasks.item2index"]
    assert space_mod.scheduler(base) is not None and (space_mod.METRIC, space_mod.MODE) == ("valid/loss", "min")
