"""End to end on local Ray (the session `ray_local` fixture): the rater's smoke preset on the real data
(pulled into a temp data dir, one poster corrupted on disk), then a re-run that must resume from the cache."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rec_core.paths import default_mirror

MIRROR = default_mirror() or Path("/work/shared/data")
pytestmark = [
    pytest.mark.ray,
    pytest.mark.skipif(not (MIRROR / "tmdb_5000").is_dir(), reason="data mirror not available"),
]


def pull_with_corrupt_poster(data_dir: Path) -> str:
    """Pull the real datasets into a fresh data dir, then corrupt one poster on disk (as a bad disk or an
    interrupted copy would): the rater must count it and go on."""
    from rec_core.data import load_dataset

    posters = load_dataset("movie_posters", data_dir=data_dir, mirror=MIRROR).items
    victim = Path(posters["image_path"].iloc[0])
    victim.write_bytes(b"\xff\xd8\xff\xe0 this poster file is corrupt")
    return victim.name


@pytest.mark.slow  # ~1-4 min on 2 shared cores: Ray Data stages + MiniLM + one Ray Train fit, twice
def test_smoke_preset_end_to_end_then_resume(tmp_path, ray_local):
    from jobs.common.job import run_job
    from jobs.rater import JOB

    victim = pull_with_corrupt_poster(tmp_path / "data")
    out = tmp_path / "run"
    sets = [f"mirror={MIRROR}", f"data_dir={tmp_path / 'data'}", "cv.single_process_check=false"]
    res = run_job(JOB, preset="smoke", overrides=sets, out_dir=out)
    m = res.metrics
    for f in ("metrics.json", "report.md", "config.json", "rmse_comparison.png", "feature_importance.png"):
        assert (out / f).stat().st_size > 0, f
    assert m["counts/movies"] == 240  # smoke: every eligible movie with a poster + a seeded sample
    assert m["counts/posters_unreadable"] == 1 and m["counts/posters_ok"] == m["counts/posters_processed"] - 1 > 100
    assert m["counts/plot_scored"] >= 235 and m["counts/plot_failures"] == 0
    for v in ("A", "B"):
        assert 0 < m[f"cv/pre_release/{v}/rmse"] < 3 and np.isfinite(m[f"cv/pre_release/{v}/r2"])
    assert "delta/pre_release/rmse/ci_low" in m and m["delta/pre_release/rmse/n_pairs"] == 3
    report = (out / "report.md").read_text()
    assert "image statistics (measured, not a VLM)" in report
    assert ("within noise" in report) or ("beyond fold noise" in report)
    assert "unreadable poster, counted" in report and victim in report and "answer distribution" in report
    assert any(k.startswith("fit_wall_s/") for k in m)  # the CV ran on Ray Train
    # the list columns are target-encoded per fold (a set per repetition and fold), and the models use them
    table = pd.read_parquet(out / "stages" / "features.parquet")
    assert {"te_keywords_mean@r0f0", "te_genres_min@r0f2"} <= set(table.columns)
    gain = json.loads((out / "feature_importance.json").read_text())["gain"]
    assert sum(v for k, v in gain.items() if k.startswith("te_")) > 0.05

    # Re-run in the same directory: every stage is read back from Parquet, no Ray Train fit runs.
    res2 = run_job(JOB, preset="smoke", overrides=sets, out_dir=out)
    assert not any(k.startswith("fit_wall_s/") for k in res2.metrics)
    assert res2.metrics["cv/pre_release/B/rmse"] == pytest.approx(m["cv/pre_release/B/rmse"])
    assert json.loads((out / "metrics.json").read_text())["counts/posters_unreadable"] == 1


@pytest.mark.slow  # the grouped-fit equivalence test below runs Ray XGBoost by default
def test_ray_xgboost_learns_and_matches_single_process(tmp_path, ray_local):
    """XGBoostTrainer on 2 workers learns a synthetic pattern (beats the mean by far) and reaches the
    quality of single-process xgboost.train on the same folds."""
    from jobs.rater import fit_on_ray
    from rec_core.rater import cv
    from rec_core.rater.stats import repeated_kfold
    from rec_core.rater.xgb import XGBConfig

    rng = np.random.default_rng(0)
    n = 400
    x = rng.normal(size=(n, 3))
    table = pd.DataFrame({"item_id": np.arange(n) * 5 + 1, "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
    table["y"] = 6 + 1.2 * table["a"] - (table["b"] > 0) + rng.normal(0, 0.2, n)
    table["fold_r0"] = repeated_kfold(n, 2, [0])[0]
    cols = {"p.B": ["a", "b", "c"]}
    tasks = cv.make_tasks("p", "B", 0, 2, 0)
    cfg = XGBConfig(max_depth=3, eta=0.2, num_boost_round=60, early_stopping_rounds=10)
    boosters, _ = fit_on_ray(
        table, cols, tasks, cfg, num_workers=2, cpus_per_worker=0.5, report_every=20, storage=tmp_path / "ray"
    )
    ray_rmse = cv.fold_metrics(cv.out_of_fold(table, cols, tasks, boosters))["rmse"].mean()
    local, _ = cv.fit_local(table, cols, tasks, cfg, nthread=1)
    local_rmse = cv.fold_metrics(cv.out_of_fold(table, cols, tasks, local))["rmse"].mean()
    mean_rmse = cv.mean_baseline_metrics(table, 1)["rmse"].mean()
    assert ray_rmse < 0.5 * mean_rmse
    assert abs(ray_rmse - local_rmse) < 0.1 * local_rmse


def _toy_cv(n=400, n_folds=3):
    from rec_core.rater import cv
    from rec_core.rater.stats import repeated_kfold

    rng = np.random.default_rng(1)
    x = rng.normal(size=(n, 3))
    table = pd.DataFrame({"item_id": np.arange(n) * 3 + 2, "a": x[:, 0], "b": x[:, 1], "c": x[:, 2]})
    table["y"] = 5 + table["a"] - (table["b"] > 0) + rng.normal(0, 0.2, n)
    table["fold_r0"] = repeated_kfold(n, n_folds, [0])[0]
    cols = {"p.A": ["a", "b"], "p.B": ["a", "b", "c"]}
    tasks = cv.make_tasks("p", "A", 0, n_folds, 0) + cv.make_tasks("p", "B", 0, n_folds, 0)
    return table, cols, tasks


def test_one_worker_group_trains_every_fold_model_exactly_as_the_per_fold_path(tmp_path, ray_local):
    """A and B × 3 folds in ONE XGBoostTrainer fit (1 worker) give the same boosters as training each fold model
    alone with plain xgboost.train: grouping the tasks changes nothing but the overhead."""
    from jobs.rater import fit_on_ray
    from rec_core.rater import cv
    from rec_core.rater.xgb import XGBConfig

    table, cols, tasks = _toy_cv()
    cfg = XGBConfig(max_depth=3, eta=0.2, num_boost_round=40, early_stopping_rounds=8)
    boosters, _ = fit_on_ray(table, cols, tasks, cfg, 1, 1.0, report_every=15, storage=tmp_path / "ray")
    local, _ = cv.fit_local(table, cols, tasks, cfg, nthread=1)
    assert set(boosters) == {t["id"] for t in tasks}
    for t in tasks:
        assert boosters[t["id"]].num_boosted_rounds() == local[t["id"]].num_boosted_rounds(), t["id"]
        assert boosters[t["id"]].attr("best_iteration") == local[t["id"]].attr("best_iteration"), t["id"]
    ray_oof, local_oof = cv.out_of_fold(table, cols, tasks, boosters), cv.out_of_fold(table, cols, tasks, local)
    np.testing.assert_array_equal(ray_oof["pred"].to_numpy(), local_oof["pred"].to_numpy())
