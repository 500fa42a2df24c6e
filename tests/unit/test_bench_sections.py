"""`genrec bench`: sections that need a GPU leave their last figures alone on a machine without one."""
import pytest
import torch

import jobs.bench as bench
from jobs.common.job import RunContext


@pytest.mark.skipif(torch.cuda.is_available(), reason="on a GPU these sections really run")
def test_gpu_sections_are_skipped_and_keep_their_figures(tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    monkeypatch.setattr(bench, "RESULTS", results)
    (results / "tiger_gpu.md").write_text("## TIGER on a GPU\nmeasured on an H100\n")
    cfg = bench.Config(sections=["semantic_ids_gpu", "tiger_gpu"], output=tmp_path / "BENCHMARKS.md")
    res = bench.run(cfg, RunContext(out_dir=tmp_path, data_dir=tmp_path, mirror=None))
    assert res.metrics == {"semantic_ids_gpu/skipped": 1, "tiger_gpu/skipped": 1}
    assert (results / "tiger_gpu.md").read_text() == "## TIGER on a GPU\nmeasured on an H100\n"
    assert not (results / "semantic_ids_gpu.md").exists()
    assert "measured on an H100" in (tmp_path / "BENCHMARKS.md").read_text()


def test_gpu_sections_are_listed():
    assert {"semantic_ids_gpu", "tiger_gpu"} <= set(bench.available_sections())


def test_sequential_baselines_table_has_a_row_per_model_and_dataset():
    from jobs.benchmarks.sequential_baselines import render

    m = {f"{p}test/{k}": 0.01 for p in ("", "most_popular/") for k in ("recall@5", "ndcg@5", "recall@10", "ndcg@10")}
    m["epochs_trained"] = 4
    runs = [(d, loss, m, 10.0, [f"dataset={d}", f"loss={loss}"]) for d in ("instruments", "ml-latest-small") for loss in ("bce", "ce")]
    text = render(runs)
    rows = [line for line in text.splitlines() if line.startswith("| instruments") or line.startswith("| ml-latest-small")]
    assert len(rows) == 6 and sum("MostPopular" in r for r in rows) == 2
    assert text.count("`genrec run sasrec --preset cpu") == 4
