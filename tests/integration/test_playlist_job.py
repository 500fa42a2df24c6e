"""The `playlist` job end to end at smoke size on local Ray: corpus -> SIDs -> Ray Train -> eval -> export -> CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # ~3 min on the shared 2-core machine (Ray Train start-up dominates)
def test_smoke_job_trains_generates_and_exports(ray_local, mirror, data_dir, tmp_path):
    from jobs.common.job import run_job
    from jobs.playlist import JOB

    if not (mirror / "ml-latest-small" / "tags.csv").exists():
        pytest.skip("ml-latest-small is not in the data mirror")
    res = run_job(
        JOB,
        preset="smoke",
        overrides=[f"mirror={mirror}", f"data_dir={data_dir}"],
        out_dir=tmp_path,
        init_runtime=False,
    )
    m = res.metrics
    assert m["train/final_loss"] < m["train/first_loss"]
    assert (
        m["validity/invalid_sid_chunks"] == 0
        and m["validity/lists_with_repeats"] == 0
        and m["validity/lists_wrong_length"] == 0
    )
    for key in ("t5_beam", "t5_fusion", "t5_sample", "retrieval", "popularity"):
        assert 0.0 <= m[f"test/{key}/ndcg@5"] <= 1.0
    assert (tmp_path / "report.md").exists() and (tmp_path / "corpus.parquet").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["corpus/pairs"] > 0
    r = subprocess.run(
        [sys.executable, "-m", "jobs.cli.playlist", "--checkpoint", str(tmp_path), "--json", "--length", "3", "comedy"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["items"]) == 3

    # The benchmark's significance check regenerates the same beam lists from the export: same means as the job.
    from benchmarks.playlist import paired_bootstrap

    boot = paired_bootstrap(tmp_path, reps=50)
    mean, lo, hi = boot["t5-pop/ndcg@10"]
    assert mean == pytest.approx(m["test/t5_beam/ndcg@10"] - m["test/popularity/ndcg@10"], abs=1e-9)
    assert lo <= mean <= hi
    # ... and the fused lists with the weight the job chose on the valid texts and wrote into the export
    fused = boot["t5f-kw/ndcg@10"][0]
    assert fused == pytest.approx(m["test/t5_fusion/ndcg@10"] - m["test/keyword_popularity/ndcg@10"], abs=1e-9)
    assert m["keyword_fusion/weight"] in (0.0, 5.0)  # the smoke preset's grid
    assert set(boot) == {f"{a}-{b}/{k}" for a in ("t5", "t5f") for b in ("pop", "kw") for k in ("ndcg@10", "recall@10")}
