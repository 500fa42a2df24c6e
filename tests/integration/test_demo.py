"""`genrec run demo`: pipelines one after another on the embedded Ray, the summary table, and resume.

Each pipeline's own smoke run is tested in its own module; the default run here checks the demo's orchestration on
two cheap pipelines, and the slow test runs every demo pipeline end to end."""

import json

import pytest

from jobs.common.job import run_job
from jobs.common.registry import all_jobs, get_job

pytestmark = pytest.mark.ray


def _run_demo(tmp_path, monkeypatch, overrides=()):
    monkeypatch.setenv("GENREC_DATA_DIR", str(tmp_path / "data"))
    return run_job(get_job("demo"), preset="smoke", overrides=list(overrides), out_dir=tmp_path / "run")


def _check_table_and_resume(tmp_path, monkeypatch, res, names, overrides=()):
    for name in names:
        sub = json.loads((tmp_path / "run" / name / "metrics.json").read_text())
        assert sub, f"{name} wrote no metrics"
        assert f"{name}/wall_time_s" in res.metrics
    table = (tmp_path / "run" / "report.md").read_text()
    assert "FAILED" not in table and all(f"[{name}]({name}/report.md)" in table for name in names)
    # A re-run into the same run dir (after Ctrl-C or a failed stage) resumes: finished stages are reused as is.
    again = _run_demo(tmp_path, monkeypatch, overrides)
    assert {k: v for k, v in again.metrics.items() if k != "wall_time_s"} == {
        k: v for k, v in res.metrics.items() if k != "wall_time_s"
    }
    assert again.metrics["wall_time_s"] < res.metrics["wall_time_s"] / 5
    return table


def test_demo_runs_its_pipelines_prints_headlines_and_resumes(ray_local, tmp_path, monkeypatch):
    overrides = ["jobs=[ncf,rag_index]"]
    res = _run_demo(tmp_path, monkeypatch, overrides)
    table = _check_table_and_resume(tmp_path, monkeypatch, res, ["ncf", "rag_index"], overrides)
    # each headline beside its same-run baseline: NCF against ItemPop, retrieval against popularity
    assert "| test/ndcg@10 = " in table and "item_pop/test/ndcg@10 = " in table
    assert "retrieval/jaccard/popularity/ndcg@10 = " in table


@pytest.mark.slow
def test_demo_smoke_runs_every_pipeline(ray_local, tmp_path, monkeypatch):
    names = [j.name for j in all_jobs() if j.in_demo]
    assert names, "no pipeline joined the demo"
    res = _run_demo(tmp_path, monkeypatch)
    table = _check_table_and_resume(tmp_path, monkeypatch, res, names)
    # the headline and its same-run baseline, e.g. TIGER against MostPopular
    assert "test/recall@10 = " in table and "most_popular/test/recall@10 = " in table
