"""The demo hands an upstream job's output to a later job by path (Job.uses), only on the same dataset."""

from __future__ import annotations

from jobs.common.registry import get_job
from jobs.demo import hand_over


def _setup(tmp_path, sid_dataset="beauty", tiger_sets=()):
    tiger, sids = get_job("tiger"), get_job("semantic_ids")
    (tmp_path / "semantic_ids").mkdir()
    (tmp_path / "semantic_ids" / "codes.parquet").write_bytes(b"")
    done = {"semantic_ids": sids.resolve("smoke", overrides=[f"dataset={sid_dataset}"])}
    return tiger, tiger.resolve("cpu", overrides=list(tiger_sets)), done


def test_tiger_takes_the_demo_codes_on_the_same_dataset(tmp_path):
    tiger, cfg, done = _setup(tmp_path)
    assert tiger.uses == {"codes": "semantic_ids/codes.parquet"}
    assert hand_over(tiger, cfg, done, tmp_path) == [f"codes={tmp_path / 'semantic_ids' / 'codes.parquet'}"]
    assert cfg.codes == tmp_path / "semantic_ids" / "codes.parquet"


def test_no_handoff_across_datasets(tmp_path):
    tiger, cfg, done = _setup(tmp_path, sid_dataset="industrial_scientific")
    assert hand_over(tiger, cfg, done, tmp_path) == [] and cfg.codes is None


def test_no_handoff_over_a_key_set_by_hand(tmp_path):
    tiger, cfg, done = _setup(tmp_path, tiger_sets=["codes=/elsewhere/codes.parquet"])
    assert hand_over(tiger, cfg, done, tmp_path) == [] and str(cfg.codes) == "/elsewhere/codes.parquet"


def test_no_handoff_when_the_producer_did_not_finish(tmp_path):
    tiger, cfg, _ = _setup(tmp_path)
    assert hand_over(tiger, cfg, {}, tmp_path) == [] and cfg.codes is None


def test_summary_row_shows_headline_baseline_and_time():
    from jobs.demo import summary_row

    tiger = get_job("tiger")
    row = summary_row(tiger, {"test/recall@10": 0.1234567, "most_popular/test/recall@10": 0.01}, 12.3)
    assert row == "| [tiger](tiger/report.md) | test/recall@10 = 0.1235 | most_popular/test/recall@10 = 0.01 | 12 |"
    assert summary_row(get_job("ncf"), {"test/ndcg@10": 0.5}, 1.0).endswith("| test/ndcg@10 = 0.5 | — | 1 |")


def test_a_failed_stage_is_one_table_row():
    from jobs.demo import summary_row

    row = summary_row(get_job("rater"), None, 3.0, error=ValueError("bad file\nline 2 | col 3\n\nmore"))
    assert "\n" not in row and row.count("|") == 5 and "FAILED: ValueError: bad file line 2 / col 3 more" in row


def test_a_rerun_reuses_a_stage_that_finished_with_the_same_config(tmp_path):
    from jobs.common.job import write_json_atomic
    from jobs.demo import finished_result

    tiger = get_job("tiger")
    cfg = tiger.resolve("smoke")
    assert finished_result(tiger, "smoke", cfg, tmp_path) is None  # nothing ran yet
    write_json_atomic(tmp_path / "config.json", {"job": "tiger", "preset": "smoke", **cfg.model_dump(mode="json")})
    assert finished_result(tiger, "smoke", cfg, tmp_path) is None  # started, never finished (Ctrl-C, a crash)
    write_json_atomic(tmp_path / "metrics.json", {"test/recall@10": 0.5, "wall_time_s": 3.0})
    assert finished_result(tiger, "smoke", cfg, tmp_path) == {"test/recall@10": 0.5, "wall_time_s": 3.0}
    changed = tiger.resolve("smoke", overrides=["train.epochs=2"])
    assert finished_result(tiger, "smoke", changed, tmp_path) is None  # another config: run it again
    # where it runs and where it is tracked do not change a result: still reused
    elsewhere = tiger.resolve("smoke", overrides=["tracking.backend=mlflow", "runtime.num_cpus=1"])
    assert finished_result(tiger, "smoke", elsewhere, tmp_path) == {"test/recall@10": 0.5, "wall_time_s": 3.0}
