"""semantic_ids job on local Ray: smoke preset end to end (DDP over 2 gloo workers), DeepSpeed, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.common.config import resolve_config
from jobs.common.job import RunContext, run_job
from jobs.semantic_ids import JOB, Config, fit_rqvae
from rec_core.offline_models import is_available

pytestmark = pytest.mark.ray


def _synthetic(n=1024, d=24, centers=32, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centers, d))
    return (c[rng.integers(0, centers, n)] + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


def _cfg(*overrides):
    base = {
        "levels": 2,
        "codebook_size": 16,
        "rqvae": {"hidden_dims": [32], "latent_dim": 8, "ema_decay": 0.8},
        "train": {"num_workers": 2, "cpus_per_worker": 0.5, "epochs": 2, "batch_size": 128, "lr": 0.003},
    }
    return resolve_config(Config, base, overrides=list(overrides))


def _ctx(path: Path) -> RunContext:
    path.mkdir(parents=True, exist_ok=True)
    return RunContext(out_dir=path, data_dir=path, mirror=None)


@pytest.mark.skipif(not is_available("minilm"), reason="needs the offline MiniLM package")
def test_smoke_preset_end_to_end_with_ddp(ray_local, mirror, data_dir, tmp_path):
    res = run_job(
        JOB,
        preset="smoke",
        out_dir=tmp_path,
        overrides=[
            f"data_dir={data_dir}",
            f"mirror={mirror}",
            "train.num_workers=2",
            "train.cpus_per_worker=0.5",
            "eval_every=2",
        ],
    )
    m = res.metrics
    codes = pd.read_parquet(tmp_path / "codes.parquet")
    assert len(codes) == 400 and codes["item_id"].is_unique
    sids = [tuple(s) for s in codes["sid"]]
    assert len(set(sids)) == 400  # unique per item after collision handling
    meta = json.loads((tmp_path / "sid_meta.json").read_text())
    assert meta["levels"] == len(sids[0]) and len(meta["codebook_sizes"]) == meta["levels"]
    assert all(0 <= c < k for s in sids for c, k in zip(s, meta["codebook_sizes"]))
    assert m["quality/collision_rate_after"] == 0 and m["quality/unique_items"] == 400
    assert m["quality/collision_rate_before"] > 0  # 2 x 16 codes for 400 items must collide
    assert m["train/final_loss"] < m["train/first_loss"]
    assert m["embed/computed"] == 400 and m["embed/dim"] == 384
    # the k-means baseline on the same embeddings, same levels x codebook (what the demo table sets beside it)
    assert 0 < m["baseline_rqkmeans/recon_cosine"] <= 1 and m["baseline_rqkmeans/collision_rate_before"] > 0
    report = (tmp_path / "report.md").read_text()
    assert "LC-Rec / LETTER Instruments (released)" in report and "collision rate" in report
    # every epoch was reported and checkpointed (the newest checkpoint holds the whole history)
    hists = [json.loads(p.read_text()) for p in (tmp_path / "train").rglob("history.json")]
    hist = max(hists, key=len)
    assert [h["epoch"] for h in hist] == [0, 1, 2]
    # all items are scored every eval_every epochs and after the last; the other epochs report their loss only
    assert ["recon_cosine" in h for h in hist] == [False, True, True]
    assert "quality/collision_floor" in m and "Collision floor" in report


@pytest.mark.slow  # ZeRO-2 over 2 workers is in the default run through tests/integration/test_train_harness.py
def test_rqvae_deepspeed_zero2_two_workers(ray_local, tmp_path):
    x = _synthetic()
    cfg = _cfg("train.deepspeed=true", "train.zero_stage=2")
    codes, recon, last_inputs, last_book, hist = fit_rqvae(x, cfg, _ctx(tmp_path))
    assert codes.shape == (len(x), 2) and recon.shape == x.shape
    assert last_inputs.shape == (len(x), 8) and last_book.shape == (16, 8)
    assert hist[-1]["loss"] < hist[0]["loss"]
    assert list((tmp_path / "train").rglob("deepspeed")), "DeepSpeed checkpoint shards were not written"


@pytest.mark.slow
def test_rqvae_resumes_after_restart(ray_local, tmp_path):
    x = _synthetic()
    _, _, _, _, first = fit_rqvae(x, _cfg("train.epochs=2"), _ctx(tmp_path))
    _, _, _, _, hist = fit_rqvae(x, _cfg("train.epochs=4"), _ctx(tmp_path))
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3]
    assert hist[:2] == first  # epochs 0-1 were restored, not re-run


@pytest.mark.slow
def test_rqvae_deepspeed_bf16(ray_local, tmp_path):
    x = _synthetic()
    codes, recon, *_, hist = fit_rqvae(
        x, _cfg("train.deepspeed=true", "train.zero_stage=1", "train.precision=bf16"), _ctx(tmp_path)
    )
    assert np.isfinite(recon).all() and hist[-1]["loss"] < hist[0]["loss"]


@pytest.mark.slow
@pytest.mark.skipif(not is_available("minilm"), reason="needs the offline MiniLM package")
def test_smoke_rqkmeans_with_tiger_token(ray_local, mirror, data_dir, tmp_path):
    res = run_job(
        JOB,
        preset="smoke",
        out_dir=tmp_path,
        overrides=[f"data_dir={data_dir}", f"mirror={mirror}", "quantizer=rqkmeans", "collision=tiger"],
    )
    codes = pd.read_parquet(tmp_path / "codes.parquet")
    assert len({tuple(s) for s in codes["sid"]}) == 400
    assert json.loads((tmp_path / "sid_meta.json").read_text())["levels"] == 3  # 2 levels + TIGER token
    assert res.metrics["quality/recon_cosine"] > 0.5


@pytest.mark.slow
@pytest.mark.skipif(not is_available("minilm"), reason="needs the offline MiniLM package")
def test_instruments_with_item_text_gets_codes_beside_lc_rec(ray_local, mirror, tmp_path, monkeypatch):
    """Once Instruments.item.json is present (synthetic here: the mirror lacks it), the job embeds Instruments and
    reports its codes beside LC-Rec's released ones."""
    from tests.unit.test_data_errors import _instruments_with_text

    root = _instruments_with_text(tmp_path / "src", mirror, monkeypatch)
    res = run_job(
        JOB,
        preset="smoke",
        out_dir=tmp_path / "run",
        overrides=[
            f"data_dir={tmp_path / 'data'}",
            f"mirror={root}",
            "dataset=instruments",
            "quantizer=rqkmeans",
            "max_items=200",
        ],
    )
    assert res.metrics["embed/computed"] == 200 and res.metrics["quality/unique_items"] == 200
    assert "LC-Rec / LETTER Instruments (released)" in (tmp_path / "run" / "report.md").read_text()


def test_instruments_without_text_is_a_clear_error(ray_local, mirror, data_dir, tmp_path):
    from jobs.common.job import UserFacingError

    with pytest.raises(UserFacingError, match="no item text"):
        run_job(
            JOB,
            preset="smoke",
            out_dir=tmp_path,
            overrides=[f"data_dir={data_dir}", f"mirror={mirror}", "dataset=instruments"],
        )
