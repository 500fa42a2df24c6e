import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.rater.stats import paired_comparison, regression_metrics, repeated_kfold


@settings(max_examples=30, deadline=None)
@given(n=st.integers(10, 200), k=st.integers(2, 6), reps=st.integers(1, 3))
def test_repeated_kfold_partitions(n, k, reps):
    f = repeated_kfold(n, k, list(range(reps)))
    assert f.shape == (reps, n)
    for r in range(reps):
        counts = np.bincount(f[r], minlength=k)
        assert counts.sum() == n and counts.max() - counts.min() <= 1


def test_repeated_kfold_same_seed_same_folds_and_too_few_rows():
    np.testing.assert_array_equal(repeated_kfold(50, 5, [3]), repeated_kfold(50, 5, [3]))
    with pytest.raises(ValueError, match="cannot be split"):
        repeated_kfold(3, 5, [0])


def test_regression_metrics_known_values():
    m = regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert m["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["r2"] == pytest.approx(1 - 4 / 2)


def test_noise_only_difference_is_within_noise():
    rng = np.random.default_rng(0)
    a = 0.8 + rng.normal(0, 0.02, 15)
    b = a + rng.normal(0, 0.01, 15)
    c = paired_comparison(a, b, test_train_ratio=0.25)
    assert c.within_noise and c.ci_low < 0 < c.ci_high
    assert "within noise" in c.verdict()


def test_consistent_improvement_is_detected_and_ci_brackets_delta():
    rng = np.random.default_rng(1)
    a = 0.8 + rng.normal(0, 0.02, 15)
    b = a - 0.05 + rng.normal(0, 0.005, 15)
    c = paired_comparison(a, b, test_train_ratio=0.25)
    assert not c.within_noise and c.ci_high < 0
    assert c.ci_low < c.delta < c.ci_high and c.boot_low < c.delta < c.boot_high
    assert c.p_value >= c.naive_p_value  # the corrected test is the more cautious one
    assert "better" in c.verdict()


def test_paired_comparison_rejects_mismatched_input():
    with pytest.raises(ValueError):
        paired_comparison(np.ones(3), np.ones(4), 0.25)
