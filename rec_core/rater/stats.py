"""Repeated K-fold assignments, regression metrics and the paired comparison of two feature sets.

A and B are evaluated on the *same* folds, so the per-fold differences are paired. Folds of one
repetition share training data, which makes the plain paired t-test over-confident; we therefore
report the Nadeau-Bengio corrected resampled t-test (variance inflated by n_test/n_train) beside a
percentile bootstrap CI over the paired fold differences, and call a difference "within noise"
when the corrected 95 % CI contains 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from sklearn.model_selection import KFold


def repeated_kfold(n: int, n_folds: int, seeds: list[int]) -> np.ndarray:
    """(len(seeds), n) int8: fold index of each row for each repetition."""
    if n < n_folds:
        raise ValueError(f"{n} rows cannot be split into {n_folds} folds")
    out = np.empty((len(seeds), n), dtype=np.int8)
    for r, seed in enumerate(seeds):
        for k, (_, test) in enumerate(KFold(n_folds, shuffle=True, random_state=seed).split(np.arange(n))):
            out[r, test] = k
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    y, pred = np.asarray(y, float), np.asarray(pred, float)
    err = pred - y
    ss_res = float((err**2).sum())
    ss_tot = float(((y - y.mean()) ** 2).sum())
    return {
        "rmse": float(np.sqrt((err**2).mean())),
        "mae": float(np.abs(err).mean()),
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
    }


@dataclass
class PairedComparison:
    mean_a: float
    mean_b: float
    delta: float  # mean(b - a); negative RMSE delta = B is better
    ci_low: float  # corrected t 95 % CI of delta
    ci_high: float
    p_value: float  # corrected resampled t-test, two-sided
    naive_p_value: float  # plain paired t-test (over-confident; for reference)
    boot_low: float  # percentile bootstrap 95 % CI over fold differences
    boot_high: float
    n_pairs: int
    within_noise: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def verdict(self, metric: str = "RMSE", lower_is_better: bool = True) -> str:
        if self.within_noise:
            return (
                f"Δ{metric} = {self.delta:+.4f} (95 % CI {self.ci_low:+.4f} … {self.ci_high:+.4f}, p = "
                f"{self.p_value:.3g}): within noise — the GenAI features do not measurably change {metric}."
            )
        better = (self.delta < 0) == lower_is_better
        return (
            f"Δ{metric} = {self.delta:+.4f} (95 % CI {self.ci_low:+.4f} … {self.ci_high:+.4f}, p = "
            f"{self.p_value:.3g}): B is {'better' if better else 'worse'} than A beyond fold noise."
        )


def paired_comparison(
    a: np.ndarray, b: np.ndarray, test_train_ratio: float, n_boot: int = 10000, seed: int = 0, alpha: float = 0.05
) -> PairedComparison:
    """Compare per-fold metric values a[i], b[i] measured on the same folds."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"need two equal 1-d arrays of >= 2 paired folds, got {a.shape} and {b.shape}")
    d = b - a
    n = len(d)
    mean, var = float(d.mean()), float(d.var(ddof=1))
    if var == 0:
        p = naive_p = 1.0 if mean == 0 else 0.0
        lo = hi = mean
    else:
        se_corr = np.sqrt((1.0 / n + test_train_ratio) * var)
        t_corr = mean / se_corr
        p = float(2 * stats.t.sf(abs(t_corr), df=n - 1))
        naive_p = float(stats.ttest_rel(b, a).pvalue)
        q = stats.t.ppf(1 - alpha / 2, df=n - 1)
        lo, hi = mean - q * se_corr, mean + q * se_corr
    rng = np.random.default_rng(seed)
    boots = d[rng.integers(0, n, size=(n_boot, n))].mean(axis=1)
    b_lo, b_hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2])
    return PairedComparison(
        mean_a=float(a.mean()),
        mean_b=float(b.mean()),
        delta=mean,
        ci_low=float(lo),
        ci_high=float(hi),
        p_value=p,
        naive_p_value=naive_p,
        boot_low=float(b_lo),
        boot_high=float(b_hi),
        n_pairs=n,
        within_noise=bool(lo <= 0.0 <= hi),
    )
