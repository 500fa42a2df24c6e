"""The xgb_overhead bench section's arithmetic: the crossover it sets `cv.ray_min_rows` from, and the keys it writes."""

from __future__ import annotations

from benchmarks import xgb_overhead as xo


def _row(ratio: float, ray_s: float = 10.0) -> dict:
    return {
        "ray_s": ray_s,
        "single_s": ray_s / ratio,
        "ratio": ratio,
        "ratios": [ratio],
        "load": 0.5,
        "ray_rmse": 0.5,
        "single_rmse": 0.5,
        "rmse_diff_pct": 0.0,
        "rows": 0,
        "tasks": 1,
        "threads": 2,
        "what": "w",
    }


def test_crossover_is_the_smallest_size_from_which_ray_stays_cheap():
    assert xo.crossover_rows({10: _row(9.0), 100: _row(1.2), 1000: _row(0.9)}) == 100
    # a dip that does not last is not a crossover
    assert xo.crossover_rows({10: _row(1.0), 100: _row(2.0), 1000: _row(1.1)}) == 1000
    assert xo.crossover_rows({10: _row(5.0), 100: _row(1.4)}) is None


def test_figures_read_back_every_table():
    results = {"tmdb_cv": {**_row(26.0), "rows": 3652}, "synthetic_1m": {**_row(1.1), "rows": 1_000_000}}
    sweep = {10_000: _row(8.0), 100_000: _row(1.25), 1_000_000: _row(1.1)}
    job = {"rows": 3652, "min_rows": 100_000, "path": "in-process", "job_s": 1.0, "single_s": 1.0, "ratio": 1.0}
    job["load"] = 0.4
    md = xo.render(results, xo.FULL, False, sweep, job)
    figs = xo.figures(md)
    assert figs["xgboost/tmdb_cv/ray_over_single"] == 26.0
    assert figs["xgboost/synthetic_1m/ray_over_single"] == 1.1
    assert figs["xgboost/sweep/100000/ray_over_single"] == 1.25
    assert figs["xgboost/crossover_rows"] == 100_000
    assert figs["xgboost/tmdb_cv/job_path_over_single"] == 1.0
    assert "train **in-process**" in md
