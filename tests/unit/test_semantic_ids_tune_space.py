"""Every sampled point of the semantic-ID search space resolves to a valid config that the preset's data
can train: a space fixed at 256 codes sent the smoke preset (400 items, batch 128) into a failing trial."""

import pytest
from ray import tune

from jobs.common.tune import _to_override
from jobs.semantic_ids import JOB
from tune_spaces import semantic_ids as space_mod


@pytest.mark.parametrize("preset", ["smoke", "cpu", "gpu"])
def test_space_samples_fit_the_preset(preset):
    base = JOB.resolve(preset, None, [])
    space = space_mod.param_space(base)
    for _ in range(10):
        sampled = {k: v.sample() if hasattr(v, "sample") else v for k, v in space.items()}
        cfg = JOB.resolve(preset, None, [_to_override(k, v) for k, v in sampled.items()])
        assert cfg.codebook_size == sampled["codebook_size"] and cfg.rqvae.hidden_dims == sampled["rqvae.hidden_dims"]
        assert cfg.codebook_size <= base.codebook_size
        if base.max_items:  # k-means init needs one first-batch item per code on every worker
            per_worker = base.max_items / cfg.train.num_workers
            assert cfg.codebook_size <= min(per_worker, cfg.train.batch_size)
        assert cfg.eval_every == 1  # ASHA reads collision_rate from every epoch's report
    assert isinstance(space["levels"], tune.search.sample.Categorical)
    assert space_mod.scheduler(base) is not None and space_mod.MODE == "min"
