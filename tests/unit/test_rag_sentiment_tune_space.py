"""The sentiment search space draws each trial's learning rate from its mode's range, and every point resolves."""

from jobs.common.tune import _probe_value, _to_override
from jobs.rag_sentiment import JOB
from tune_spaces import rag_sentiment as space_mod


def test_learning_rate_range_follows_the_mode_and_samples_resolve():
    from ray.tune.search.variant_generator import generate_variants

    base = JOB.resolve("smoke", None, [])
    space = space_mod.param_space(base)
    seen = {"full": 0, "lora": 0}
    for _ in range(200):
        for _, point in generate_variants(space):
            mode = "lora" if point["model.lora_rank"] else "full"
            lo, hi = space_mod.LR_RANGE[mode]
            assert lo <= point["train.lr"] <= hi, point
            seen[mode] += 1
    assert min(seen.values()) > 20  # both modes are searched
    cfg = JOB.resolve("smoke", None, [_to_override(k, v) for k, v in point.items()])
    assert cfg.train.lr == point["train.lr"] and cfg.model.lora_rank == point["model.lora_rank"]
    assert cfg.train.lr_schedule == point["train.lr_schedule"] and cfg.train.warmup_frac == 0.1
    # the driver's up-front probe samples each domain without a trial config
    probe = {k: _probe_value(v) for k, v in space.items()}
    assert space_mod.LR_RANGE["full"][0] <= probe["train.lr"] <= space_mod.LR_RANGE["lora"][1]
