"""The rater's CV picks in-process xgboost below `cv.ray_min_rows` rows (no Ray started), and says so."""

import numpy as np
import pandas as pd

from jobs.rater import JOB, fit_tasks
from rec_core.rater import cv
from rec_core.rater.stats import repeated_kfold


def test_a_table_below_ray_min_rows_is_trained_in_process(tmp_path):
    rng = np.random.default_rng(0)
    n = 200
    table = pd.DataFrame({"item_id": np.arange(n) + 1, "a": rng.normal(size=n)})
    table["y"] = 2 * table["a"] + rng.normal(0, 0.1, n)
    table["fold_r0"] = repeated_kfold(n, 2, [0])[0]
    cfg = JOB.resolve("smoke", overrides=["cv.ray_min_rows=1000"])
    tasks = cv.make_tasks("p", "A", 0, 2, 0)
    boosters, wall, path = fit_tasks(cfg, table, {"p.A": ["a"]}, tasks, tmp_path)
    assert path == "in-process" and wall > 0 and set(boosters) == {t["id"] for t in tasks}
    local, _ = cv.fit_local(table, {"p.A": ["a"]}, tasks, cfg.xgb, nthread=2)
    for t in tasks:
        assert boosters[t["id"]].save_raw() == local[t["id"]].save_raw()


def test_tables_below_a_million_rows_train_in_process_by_default_and_smoke_keeps_ray_covered():
    assert JOB.resolve("cpu").cv.ray_min_rows == JOB.resolve("quick").cv.ray_min_rows == 1_000_000
    assert JOB.resolve("smoke").cv.ray_min_rows == 0
