"""The benchmark section renders what was measured: seeds per row, paired LLM gains, the anchor."""

import json

import pytest

from benchmarks import ncf as bench
from benchmarks import ncf_tuned


def test_render_from_log(tmp_path):
    log = tmp_path / "log.jsonl"
    stats = {"users": 3, "items": 5, "train_pairs": 9}
    with open(log, "w") as f:
        for seed in (0, 1):
            for key, ndcg in (("gmf", 0.2), ("neumf", 0.25), ("llm_concat", 0.26 + seed * 0.01)):
                f.write(
                    json.dumps(
                        {
                            "dataset": "ml-100k",
                            "model": key,
                            "seed": seed,
                            "epochs": 1,
                            "test/hr@10": 0.5,
                            "test/ndcg@10": ndcg,
                            "test/full_recall@10": 0.1,
                            "test/full_ndcg@10": 0.05,
                            **(
                                {"test/targets_with_ties": 0.02, "test/full_targets_with_ties": 0.5}
                                if key == "gmf"
                                else {}
                            ),
                            "stats": stats,
                        }
                    )
                    + "\n"
                )
    res = bench.results_from_log(str(log))
    md = bench.render(
        res,
        {"steps_per_epoch": 10, "steps_timed": 3, "cache": 0.1, "dynamic": 2.0, "dynamic_lora8": 3.0},
        {"seeds": [0, 1], "epochs": 1},
        60.0,
        quick=False,
    )
    assert "| GMF | 2 | 0.5000 ± 0.0000 | 0.2000 ± 0.0000 |" in md
    assert "not finished" in md  # rows without runs say so instead of inventing a number
    assert "LLM-concat +6.0 % (per seed: +4.0, +8.0)" in md
    assert "0.726" in md and "0.445" in md and "20.0x" in md
    assert "| 2.0% / 50.0% |" in md and "| — / — |" in md  # the share of tied targets, where the run recorded it
    f = bench.figures(md)
    assert f["ml-100k/gmf/targets_with_ties_pct"] == 2.0 and f["ml-100k/gmf/full_targets_with_ties_pct"] == 50.0
    assert "ml-100k/neumf/targets_with_ties_pct" not in f


def test_tuned_table_renders_each_models_own_choice_and_parses_back():
    def runs(ndcgs):
        return [
            {"seed": s, "best_epoch": 3 + s, "test/hr@10": 0.6, "test/ndcg@10": v, "test/full_recall@10": 0.1,
             "test/full_ndcg@10": 0.05}
            for s, v in enumerate(ndcgs)
        ]  # fmt: skip

    res = {
        "ml-100k": {"neumf": runs([0.30, 0.40]), "llm_xattn": runs([0.33, 0.42]), "_stats": {"users": 3, "items": 5}}
    }
    tuned_file = {
        "epochs": 16,
        "samples": {"ml-100k": 12},
        "configs": {
            "ml-100k": {
                "neumf": {
                    "config": {"train.lr": 0.00123, "ncf.layers": [64, 32]},
                    "valid_ndcg@10": 0.41,
                    "trials": 12,
                    "failed_trials": 2,
                },
                "llm_xattn": {"config": {"train.lr": 0.002, "ncf.temperature": 0.2}, "valid_ndcg@10": 0.43},
            }
        },
    }
    md = ncf_tuned.render(res, tuned_file, {"seeds": [0, 1], "epochs": 16, "patience": 4}, 60.0)
    assert "| NeuMF, tuned | 2 | 0.6000 ± 0.0000 | 0.3500 ± 0.0500 |" in md
    assert "| 4, 5 | 12 (2) | 0.4100 | layers [64, 32], lr 0.00123 |" in md  # best epochs 1-based, the Tune pick
    assert "LLM-xattn + InfoNCE +7.5 % (per seed: +10.0, +5.0)" in md
    assert "Not tuned yet (no search in ncf_tuned_configs.json): ml-latest-small." in md
    f = ncf_tuned.figures(md)
    assert f["ml-100k/neumf/ndcg@10"] == 0.35 and f["ml-100k/llm_xattn/ndcg@10"] == 0.375
    assert f["ml-100k/neumf/ndcg@10_sd"] == 0.05 and f["ml-100k/llm_xattn/tune_valid_ndcg@10"] == 0.43
    assert f["ml-100k/llm_xattn/ndcg@10_gain_pct"] == 7.5


def test_split_tuned_maps_dotted_tune_keys_onto_the_bench_sizes():
    sizes, train = ncf_tuned.split_tuned({"ncf.factors": 64, "train.lr": 0.01, "data.num_negatives": 8})
    assert sizes["factors"] == 64 and sizes["layers"] == bench.NCF_SIZES["layers"]
    assert train == {**bench.TRAIN, "lr": 0.01, "num_negatives": 8}
    with pytest.raises(ValueError, match="lm.lora_rank"):
        ncf_tuned.split_tuned({"lm.lora_rank": 8})
