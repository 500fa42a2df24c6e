from jobs.common.tune import _probe_value, _to_override
from jobs.rater import JOB
from tune_spaces import rater as space


def test_every_sampled_key_resolves_against_the_config():
    base = JOB.resolve("smoke")
    sp = space.param_space(base)
    for _ in range(5):
        cfg = JOB.resolve("smoke", None, [_to_override(k, _probe_value(v)) for k, v in sp.items()])
        assert 3 <= cfg.xgb.max_depth <= 8 and 0.01 <= cfg.xgb.eta <= 0.3
        # tuning folds differ from the A/B folds; one fit per repetition so ASHA sees progress
        assert not set(cfg.cv.seeds) & set(base.cv.seeds) and cfg.cv.fit_group == "repetition"
        assert cfg.features.stage_dir is not None
    assert space.METRIC == "valid/rmse" and space.MODE == "min"
    assert space.scheduler(base)._max_t == len(base.cv.seeds) + 1  # + the final report
