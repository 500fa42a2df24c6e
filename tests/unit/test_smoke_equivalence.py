"""The refactor check: timing keys are dropped, any other changed number (or error) is reported."""

from benchmarks.smoke_equivalence import compare, is_timing


def test_timing_keys_are_not_compared():
    assert is_timing("wall_time_s") and is_timing("decode/constrained/users_per_s") and is_timing("latency/t5_beam")
    assert not is_timing("test/recall@10") and not is_timing("quality/collision_rate_before")


def test_compare_counts_equal_and_changed_metrics():
    before = {"tiger": {"test/recall@10": 0.5, "epochs": 3}, "ncf": {"hr@10": 0.2}}
    table, bad = compare(before, {"tiger": {"test/recall@10": 0.5, "epochs": 3}, "ncf": {"hr@10": 0.2}})
    assert bad == 0 and "| tiger | 2 | 2 | 0 |" in table
    table, bad = compare(before, {"tiger": {"test/recall@10": 0.51, "epochs": 3}, "ncf": {"error": "boom"}})
    assert bad == 3 and "- tiger/test/recall@10: 0.5 -> 0.51" in table and "| ncf | 2 | 0 | 2 |" in table
