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
