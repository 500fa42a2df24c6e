"""Every sampled point of the NCF search spaces resolves to a valid job config."""

import pytest

from jobs.common.tune import _to_override
from jobs.ncf import JOB
from tune_spaces import ncf as space_mod


@pytest.mark.parametrize(
    "overrides", [["model=neumf"], ["model=llm_xattn"], ["model=llm_xattn", "lm.mode=dynamic"], ["model=llm_concat"]]
)
def test_space_samples_resolve(overrides):
    base = JOB.resolve("smoke", None, overrides)
    space = space_mod.param_space(base)
    if base.model == "llm_xattn":
        assert {"ncf.contrastive_weight", "ncf.temperature"} <= set(space)
    assert ("lm.lora_rank" in space) == (base.lm.mode == "dynamic")
    for _ in range(5):
        sampled = {k: v.sample() for k, v in space.items()}
        cfg = JOB.resolve("smoke", None, overrides + [_to_override(k, v) for k, v in sampled.items()])
        assert cfg.train.lr == sampled["train.lr"] and cfg.ncf.layers == sampled["ncf.layers"]
    assert space_mod.scheduler(base) is not None and space_mod.METRIC == "valid/ndcg@10"
