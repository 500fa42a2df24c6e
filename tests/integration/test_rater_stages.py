"""The Ray Data stages on local Ray: corrupt posters and malformed LLM replies are counted, not fatal,
and a re-run resumes from the Parquet parts."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from data_pipelines.plot_scores import PlotScoreConfig, plot_feature_table, run_plot_stage
from data_pipelines.posters import PosterStageConfig, poster_feature_table, run_poster_stage

pytestmark = pytest.mark.ray


def _posters(root: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        p = root / f"{i}.jpg"
        Image.fromarray((rng.random((60, 40, 3)) * 255).astype(np.uint8)).save(p)
        paths.append(str(p))
    (root / "corrupt.jpg").write_bytes(b"\x00\x01 not an image")
    paths += [str(root / "corrupt.jpg"), str(root / "missing.jpg")]
    return pd.DataFrame({"item_id": np.arange(len(paths)) + 10, "image_path": paths})


def test_poster_stage_counts_unreadable_and_resumes(tmp_path, ray_local):
    index = _posters(tmp_path)
    cfg = PosterStageConfig(batch_size=2)
    out = tmp_path / "stage"
    posters = run_poster_stage(index, cfg, out)
    feats, counts = poster_feature_table(posters, cfg)
    assert counts == {"posters_processed": 6, "posters_ok": 4, "posters_unreadable": 2}
    bad = posters[posters["status"] != "ok"]
    assert set(bad["item_id"]) == {14, 15} and bad["error"].str.contains("cannot read poster").all()
    assert feats.set_index("item_id").loc[[14, 15]].isna().all().all()
    parts = sorted(out.glob("part-*.parquet"))
    again = run_poster_stage(index, cfg, out)  # nothing pending: no new part files
    assert sorted(out.glob("part-*.parquet")) == parts and len(again) == 6


@pytest.mark.slow  # builds a from-config LLaVA inside a Ray actor
def test_vlm_path_with_tiny_llava(tmp_path, ray_local):
    index = _posters(tmp_path).head(3)
    cfg = PosterStageConfig(method="vlm", vlm_model="tiny-random-llava", max_new_tokens=6, batch_size=3)
    posters = run_poster_stage(index, cfg, tmp_path / "vlm")
    assert posters["raw_reply"].notna().all() and posters["keywords"].notna().all()
    feats, counts = poster_feature_table(posters, cfg)
    assert counts["posters_ok"] == 3 and "kw_dark" in feats.columns


def test_plot_stage_counts_malformed_json_replies(tmp_path, ray_local):
    items = pd.DataFrame({"item_id": [1, 2, 3, 4], "overview": ["a plot", "another plot", "", None]})
    cfg = PlotScoreConfig(model="tiny-random", method="json", max_new_tokens=4, batch_size=2)
    scores = run_plot_stage(items, cfg, tmp_path / "plots")
    feats, counts = plot_feature_table(scores)
    # empty overviews are not sent; a random tiny model never writes valid JSON: both are failures,
    # counted, with the raw replies of both attempts kept
    assert sorted(scores["item_id"]) == [1, 2]
    assert counts["plot_failures"] == 2 and counts["plot_failure_rate"] == 1.0
    assert scores["raw_response"].notna().all() and feats[["plot_novelty"]].isna().all().all()


@pytest.mark.slow
def test_plot_stage_token_prob_scores_and_model_change_invalidates_cache(tmp_path, ray_local):
    items = pd.DataFrame({"item_id": [1, 2, 3], "overview": ["a dog", "a cat saves the city", "space war"]})
    out = tmp_path / "plots"
    scores = run_plot_stage(items, PlotScoreConfig(model="tiny-random", min_mass=0.0), out)
    assert scores["failure"].isna().all() and scores["plot_novelty"].between(0, 10).all()
    # a different method must not reuse the other method's rows
    scores2 = run_plot_stage(items, PlotScoreConfig(model="tiny-random", method="json", max_new_tokens=2), out)
    assert scores2["failure"].notna().all()
