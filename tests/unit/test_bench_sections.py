"""`genrec bench`: sections that need a GPU leave their last figures alone on a machine without one; every
section imports and turns its stored markdown into flat JSON figures; the JSON writer takes numbers only."""

import importlib
import json

import pytest
import torch

import benchmarks.run as bench
from benchmarks.results_io import write_section
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
    from benchmarks.sequential_baselines import figures, render

    m = {f"{p}test/{k}": 0.01 for p in ("", "most_popular/") for k in ("recall@5", "ndcg@5", "recall@10", "ndcg@10")}
    m["epochs_trained"] = 4
    runs = [
        (d, loss, m, 10.0, [f"dataset={d}", f"loss={loss}"])
        for d in ("instruments", "ml-latest-small")
        for loss in ("bce", "ce")
    ]
    text = render(runs)
    rows = [
        line for line in text.splitlines() if line.startswith("| instruments") or line.startswith("| ml-latest-small")
    ]
    assert len(rows) == 6 and sum("MostPopular" in r for r in rows) == 2
    assert text.count("`genrec run sasrec --preset cpu") == 4
    f = figures(text)
    assert f["instruments/sasrec_ce/recall@10"] == 0.01 and f["ml-latest-small/most_popular/ndcg@5"] == 0.01
    assert f["instruments/sasrec_bce/epochs"] == 4 and f["instruments/sasrec_bce/wall_s"] == 10


@pytest.mark.parametrize("name", bench.available_sections())
def test_every_section_imports_and_its_stored_json_matches_its_markdown(name):
    mod = importlib.import_module(f"benchmarks.{name}")
    assert callable(mod.bench) and callable(mod.figures)
    md = (bench.RESULTS / f"{name}.md").read_text()
    stored = json.loads((bench.RESULTS / f"{name}.json").read_text())
    assert stored == {
        **bench.figures(name, md),
        "measured_on": bench.measured_on_from_md(md),
        "command": bench.command(name),
    }
    nums = {k: v for k, v in stored.items() if k not in ("measured_on", "command")}
    assert len(nums) >= 10 and all(type(v) in (int, float) for v in nums.values())


def test_sections_are_the_section_modules():
    assert bench.available_sections() == [
        "export",
        "faults",
        "lcrec",
        "ncf",
        "ncf_tuned",
        "playlist",
        "rag",
        "rater",
        "semantic_id_variants",
        "semantic_ids",
        "semantic_ids_gpu",
        "sequential_baselines",
        "tiger",
        "tiger_gpu",
        "train_overhead",
        "xgb_overhead",
    ]


def test_json_writer_takes_flat_numbers_plus_measured_on_and_command(tmp_path):
    write_section(
        tmp_path,
        "demo",
        "## Demo\n",
        {"rqvae/beauty/recon_cosine": 0.54, "xgboost/tmdb_cv/ray_over_single": 17.8, "items": 12101},
        "2026-11-27, x86_64, 2 CPUs",
        "genrec bench demo",
    )
    obj = json.loads((tmp_path / "demo.json").read_text())
    assert obj == {
        "rqvae/beauty/recon_cosine": 0.54,
        "xgboost/tmdb_cv/ray_over_single": 17.8,
        "items": 12101,
        "measured_on": "2026-11-27, x86_64, 2 CPUs",
        "command": "genrec bench demo",
    }
    assert (tmp_path / "demo.md").read_text() == "## Demo\n"
    for bad in (
        {"a/b": "0.5"},
        {"a/b": None},
        {"a/b": True},
        {"a/b": float("nan")},
        {"a/b": {"c": 1}},
        {"A/B": 1},
        {"command": 1},
    ):
        with pytest.raises(ValueError):
            write_section(tmp_path, "demo", "## changed\n", bad, "2026-11-27", "genrec bench demo")
    with pytest.raises(ValueError):
        write_section(tmp_path, "demo", None, {"a": 1}, "", "genrec bench demo")
    assert json.loads((tmp_path / "demo.json").read_text()) == obj  # a refused write leaves the stored pair alone
    assert (tmp_path / "demo.md").read_text() == "## Demo\n"
    assert not list(tmp_path.glob(".*.tmp"))


def test_lcrec_section_has_every_model_row_task_row_and_engine():
    from benchmarks.lcrec import ENGINES, figures, render

    ranking = {
        f"{p}test/{k}": 0.02 for p in ("", "most_popular/") for k in ("recall@5", "ndcg@5", "recall@10", "ndcg@10")
    }
    lc = {
        **ranking,
        "recall@10_ci_low": 0.01,
        "recall@10_ci_high": 0.03,
        "invalid_ids": 0,
        "train_examples": 10,
        "train_tokens": 100,
        "train_tokens_per_s": 50.0,
        "random_recall@10": 0.006,
        "item2index_acc": 0.1,
        "item2index_chance": 0.0006,
        "bleu": 20.0,
        "bleu_base": 0.1,
        "rouge_l": 0.6,
        "rouge_l_base": 0.0,
        "i2i_recall@10": 0.02,
        "i2i_text_recall@10": 0.01,
        "i2i_random_recall@10": 0.005,
        "search_precision@10": 0.3,
        "search_chance": 0.1,
        "preference_f1": 0.5,
        "preference_f1_baseline": 0.2,
    }
    runs = {"lcrec": (lc, 1.0, ["dataset=ml-100k"]), "sasrec": (ranking, 1.0, []), "tiger": (ranking, 1.0, [])}
    engine = {"train_tokens_per_s": 100.0, "peak_rss_gb": 2.0, "loss_first": 5.0, "loss_last": 4.0}
    text = render(runs, {name: (engine, 30.0) for name in ENGINES}, 300)
    f = figures(text)
    for model in ("lc_rec", "mostpopular", "sasrec_ce", "tiger"):
        assert f[f"ml-100k/{model}/recall@10"] == 0.02, model
    assert f["ml-100k/lcrec/item2index_exact_match"] == 0.1
    assert f["ml-100k/lcrec/item2index_exact_match/baseline"] == 0.0006
    assert f["engine/zero_3_+_cpu_offload/tokens_per_s"] == 200 and f["engine/ddp/vs_ddp"] == 1.0
    assert f["engine/zero_2/peak_rss_gb"] == 2.0
    assert f["ml-100k/lcrec/item_search_precision@10"] == 0.3 and f["ml-100k/lcrec/preference_keyword_f1"] == 0.5
    assert f["ml-100k/lcrec/item_search_precision@10/baseline"] == 0.1
    assert "| 5.000 → 4.000 |" in text
    one_epoch = render(runs, {"DDP": ({**engine, "loss_last": 5.0}, 30.0)}, 300)
    assert "| 5.000 |" in one_epoch and "→ 5.000" not in one_epoch  # one epoch: its loss once, not a "change"


def test_semantic_id_sections_carry_the_keys_the_quality_checks_read():
    stored = json.loads((bench.RESULTS / "semantic_ids.json").read_text())
    for key in (
        "rqvae/beauty/collision_rate_before",
        "rqvae/industrial_scientific/collision_rate_before",
        "rqvae/beauty/recon_cosine",
        "rqkmeans/beauty/recon_cosine",
    ):
        assert isinstance(stored[key], (int, float)), key


def test_semantic_id_variants_rows_become_keys():
    from benchmarks.semantic_id_variants import COLUMNS, figures

    md = "\n".join(
        [
            "### beauty (12,101 items)",
            "",
            "| " + " | ".join(COLUMNS) + " |",
            "|" + "---|" * len(COLUMNS),
            "| RQ-VAE, summed MSE | 0.0200 | 0.0030 | 0.0026 | 0.0000 | 0.6400 | 1.00 / 1.00 / 0.98 | 24,000 | 31 |",
            "",
            "ran at **24,421 items/s**; the same ... ran at 27,139 items/s: job / plain = **0.90**.",
        ]
    )
    f = figures(md)
    assert f["rq_vae_summed_mse/beauty/collision_rate_before"] == 0.02
    assert f["rq_vae_summed_mse/beauty/collision_floor"] == 0.0026
    assert f["rq_vae_summed_mse/beauty/items_per_s"] == 24000
    assert f["speed/job_over_plain"] == 0.9 and f["speed/plain_items_per_s"] == 27139
