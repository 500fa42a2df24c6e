"""The `ncf` job end to end on local Ray: learns, exports attention, resumes, pre-trains, DeepSpeed."""

import json

import pytest

from jobs.common.job import run_job
from jobs.ncf import JOB

pytestmark = pytest.mark.ray

RANDOM_HR10 = 10 / 100  # 1 positive among 100 candidates


def _run(tmp_path, *sets, preset="smoke"):
    return run_job(JOB, preset=preset, overrides=list(sets), out_dir=tmp_path, init_runtime=False)


def test_xattn_job_learns_and_exports_attention(ray_local, tmp_path):
    res = _run(tmp_path, "model=llm_xattn")
    m = res.metrics
    assert m["test/hr@10"] > 2 * RANDOM_HR10, m
    assert m["valid/ndcg@10"] > 0 and m["epochs"] == 5
    hist = json.loads((tmp_path / "history.json").read_text())
    assert hist[-1]["loss"] < hist[0]["loss"] and "loss_contrastive" in hist[0]
    att = json.loads((tmp_path / "attention.json").read_text())
    assert len(att) == 5
    for e in att:
        assert abs(sum(w for _, w in e["weights"]) - 1) < 1e-3 and e["weights"][0][0] == "[CLS]"
    assert "What the ID query attended to" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_job_resumes_from_its_checkpoint(ray_local, tmp_path):
    first = _run(tmp_path, "model=gmf", "train.epochs=2")
    h1 = json.loads((tmp_path / "history.json").read_text())
    _run(tmp_path, "model=gmf", "train.epochs=3")
    h2 = json.loads((tmp_path / "history.json").read_text())
    assert len(h2) == 3 and h2[:2] == h1  # epochs 0-1 restored (their timings included), only epoch 2 trained
    assert first.metrics["epochs"] == 2


@pytest.mark.slow
def test_pretrained_neumf_runs_gmf_and_mlp_first(ray_local, tmp_path):
    res = _run(tmp_path, "model=neumf", "pretrain=true")
    assert res.metrics["test/hr@10"] > 2 * RANDOM_HR10
    assert res.metrics["pretrain_gmf/test/hr@10"] > 0 and res.metrics["pretrain_mlp/test/hr@10"] > 0
    assert (tmp_path / "train" / "gmf").is_dir() and (tmp_path / "train" / "mlp").is_dir()


@pytest.mark.slow
def test_dynamic_mode_with_lora_under_deepspeed_two_workers(ray_local, tmp_path):
    res = _run(
        tmp_path,
        "model=llm_xattn",
        "lm.mode=dynamic",
        "lm.lora_rank=2",
        "lm.lora_targets=[query,value]",
        "train.deepspeed=true",
        "train.zero_stage=2",
        "train.num_workers=2",
        "train.cpus_per_worker=0.5",
        "train.epochs=3",
    )
    assert res.metrics["test/hr@10"] > RANDOM_HR10 and res.metrics["epochs"] == 3


@pytest.mark.slow
def test_real_ml100k_neumf_beats_random(ray_local, tmp_path, mirror, data_dir):
    res = _run(
        tmp_path,
        "dataset=ml-100k",
        "model=neumf",
        f"mirror={mirror}",
        f"data_dir={data_dir}",
        "train.epochs=1",
        "train.batch_size=2048",
        "data.max_eval_users=300",
        preset="cpu",
    )
    assert res.metrics["test/hr@10"] > 2 * RANDOM_HR10 and res.metrics["users"] == 943


def test_bad_requests_fail_clearly(tmp_path):
    from jobs.common.config import ConfigError
    from jobs.common.job import UserFacingError

    with pytest.raises(UserFacingError, match="pretrain"):
        _run(tmp_path, "model=mlp", "pretrain=true")
    with pytest.raises(ConfigError, match="dynamic"):
        JOB.resolve("smoke", None, ["lm.lora_rank=4"])
    with pytest.raises(ConfigError, match="model"):
        JOB.resolve("smoke", None, ["model=bpr"])
