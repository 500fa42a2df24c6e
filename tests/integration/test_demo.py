"""`genrec run demo --preset smoke`: every demo pipeline end to end on the embedded Ray."""

import json

import pytest

from jobs.common.job import run_job
from jobs.common.registry import all_jobs, get_job

pytestmark = pytest.mark.ray


def test_demo_smoke_runs_every_pipeline(ray_local, tmp_path, monkeypatch):
    monkeypatch.setenv("GENREC_DATA_DIR", str(tmp_path / "data"))
    demo = get_job("demo")
    names = [j.name for j in all_jobs() if j.in_demo]
    assert names, "no pipeline joined the demo"
    res = run_job(demo, preset="smoke", out_dir=tmp_path / "run")
    for name in names:
        sub = json.loads((tmp_path / "run" / name / "metrics.json").read_text())
        assert sub, f"{name} wrote no metrics"
        assert f"{name}/wall_time_s" in res.metrics
    table = (tmp_path / "run" / "report.md").read_text()
    assert "FAILED" not in table and all(f"[{name}]({name}/report.md)" in table for name in names)
    # the headline and its same-run baseline, e.g. TIGER against MostPopular
    assert "test/recall@10 = " in table and "most_popular/test/recall@10 = " in table
    # A re-run into the same run dir (after Ctrl-C or a failed stage) resumes: finished stages are reused as is.
    again = run_job(demo, preset="smoke", out_dir=tmp_path / "run")
    assert {k: v for k, v in again.metrics.items() if k != "wall_time_s"} == {
        k: v for k, v in res.metrics.items() if k != "wall_time_s"
    }
    assert again.metrics["wall_time_s"] < res.metrics["wall_time_s"] / 5
