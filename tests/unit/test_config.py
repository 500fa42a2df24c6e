"""Typed configs: presets, dotted overrides, and errors that name the key."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.common.config import ConfigError, JobConfig, TrainConfig, parse_override, resolve_config
from rec_core.config import StrictModel


class Model(StrictModel):
    d_model: int = 64
    dropout: float = 0.1


class Cfg(JobConfig):
    dataset: str = "beauty"
    model: Model = Model()
    train: TrainConfig = TrainConfig()
    ks: list[int] = [5, 10]


def test_layers_then_overrides_win():
    cfg = resolve_config(
        Cfg,
        {"dataset": "toys", "model": {"d_model": 32}},
        {"model": {"dropout": 0.2}},
        overrides=["model.d_model=128", "train.lr=3e-4", "ks=[1,2]"],
    )
    assert (cfg.dataset, cfg.model.d_model, cfg.model.dropout) == ("toys", 128, 0.2)
    assert cfg.train.lr == pytest.approx(3e-4) and cfg.ks == [1, 2]


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"no_such_key: unknown key"):
        resolve_config(Cfg, overrides=["no_such_key=1"])
    with pytest.raises(ConfigError, match=r"model\.widht: unknown key"):
        resolve_config(Cfg, overrides=["model.widht=1"])


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"model\.d_model: .*integer"):
        resolve_config(Cfg, overrides=["model.d_model=big"])
    with pytest.raises(ConfigError, match=r"train\.zero_stage"):
        resolve_config(Cfg, overrides=["train.zero_stage=5"])


def test_setting_into_a_value_is_an_error():
    with pytest.raises(ConfigError, match=r"dataset: Input should be a valid string"):
        resolve_config(Cfg, overrides=["dataset.x=1"])
    with pytest.raises(ConfigError, match="is a value, not a section"):
        resolve_config(Cfg, overrides=["dataset=toys", "dataset.x=1"])


@pytest.mark.parametrize("bad", ["noequals", "=3", "a..b=1"])
def test_malformed_override(bad):
    with pytest.raises(ConfigError):
        parse_override(bad)


@given(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans())
def test_override_values_parse_as_yaml(i, f, b):
    assert parse_override(f"k={i}")[1] == i
    assert parse_override(f"k={b}")[1] is b
    assert parse_override(f"k={f!r}")[1] == pytest.approx(f)


def test_paths_expand(tmp_path):
    cfg = resolve_config(Cfg, overrides=[f"data_dir={tmp_path}", "mirror=~/x"])
    assert cfg.data_dir == tmp_path and cfg.mirror == Path.home() / "x"


def test_every_preset_of_every_job_validates():
    """Presets are code: each YAML must resolve against its job's config."""
    from jobs.common.registry import all_jobs

    jobs = all_jobs()
    assert any(j.name == "demo" for j in jobs)
    for job in jobs:
        assert job.presets(), f"job {job.name} has no presets"
        for preset in job.presets():
            if job.name == "demo":
                continue  # the demo's presets resolve its sub-jobs; covered by the demo test
            job.resolve(preset)
        need = {"cpu"} if job.service else {"smoke", "cpu", "gpu"}
        assert need <= set(job.presets()), f"{job.name} lacks one of the presets {sorted(need)}"


def test_every_demo_preset_resolves_for_every_demo_job():
    """`genrec run demo --preset P` runs each pipeline at its own preset `sub_preset`: all of them must exist."""
    from jobs.common.registry import get_job
    from jobs.demo import demo_jobs

    demo = get_job("demo")
    assert "quick" in demo.presets()  # README's main command
    for preset in demo.presets():
        cfg = demo.resolve(preset)
        for job in demo_jobs(cfg):
            job.resolve(cfg.sub_preset)


def test_minimal_ray_starts_without_dashboard(monkeypatch):
    """`pip install ray` without [default]: Ray refuses include_dashboard=True, so init_ray asks for none."""
    import ray
    import ray._private.utils as ray_utils

    from jobs.common import runtime
    from jobs.common.config import RuntimeConfig

    seen = {}
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: seen.update(kw))
    monkeypatch.setattr(ray_utils, "get_dashboard_dependency_error", lambda: "No module named 'aiohttp_cors'")
    runtime.init_ray(RuntimeConfig(num_cpus=1))
    assert seen["include_dashboard"] is False
    monkeypatch.setattr(ray_utils, "get_dashboard_dependency_error", lambda: None)
    runtime.init_ray(RuntimeConfig(num_cpus=1))
    assert seen["include_dashboard"] is True
    runtime.init_ray(RuntimeConfig(num_cpus=1, dashboard=False))
    assert seen["include_dashboard"] is False


def test_time_limit_must_be_positive():
    from pydantic import ValidationError

    from jobs.common.config import TrainConfig

    assert TrainConfig(time_limit_s=90).time_limit_s == 90
    with pytest.raises(ValidationError):
        TrainConfig(time_limit_s=0)


def test_a_bad_set_is_blamed_on_the_set_not_the_preset():
    from jobs.common.registry import get_job

    with pytest.raises(ConfigError) as e:
        get_job("tiger").resolve("smoke", overrides=["train.lr=abc"])
    msg = str(e.value)
    assert "--set train.lr=abc" in msg and "train.lr" in msg and "preset" not in msg


def test_a_bad_preset_value_is_still_blamed_on_the_preset(tmp_path):
    from jobs.common.registry import get_job

    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {lr: oops}\n")
    with pytest.raises(ConfigError) as e:
        get_job("tiger").resolve("smoke", config_file=bad, overrides=["train.epochs=2"])
    assert "invalid preset 'smoke'" in str(e.value) and "--set" not in str(e.value)


def test_an_unknown_dataset_fails_at_resolve_time_and_lists_the_valid_names():
    """Before Ray starts: resolving the config is all `genrec run` does first."""
    from jobs.common.registry import get_job

    for job in ("tiger", "sasrec", "semantic_ids", "ncf", "playlist"):
        with pytest.raises(ConfigError) as e:
            get_job(job).resolve("smoke", overrides=["dataset=nosuch"])
        assert "--set dataset=nosuch" in str(e.value) and "beauty" in str(e.value) and "ml-100k" in str(e.value)
    assert get_job("tiger").resolve("smoke", overrides=["dataset=ml-100k"]).dataset == "ml-100k"
