"""The benchmark section renders what was measured: seeds per row, paired LLM gains, the anchor."""

import json

from benchmarks import ncf as bench


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
