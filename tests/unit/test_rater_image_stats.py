import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from rec_core.rater.image_stats import IMAGE_STAT_NAMES, PosterReadError, image_statistics, poster_statistics


def test_black_and_white_brightness():
    assert image_statistics(np.zeros((10, 8, 3), np.float32))["img_brightness"] == 0.0
    assert image_statistics(np.ones((10, 8, 3), np.float32))["img_brightness"] == pytest.approx(1.0)


def test_colourful_image_beats_grey_and_edges_beat_flat():
    grey = np.full((32, 32, 3), 0.5, np.float32)
    colour = np.zeros((32, 32, 3), np.float32)
    colour[:, :16, 0] = 1.0
    colour[:, 16:, 2] = 1.0
    checker = (np.indices((32, 32)) // 4).sum(axis=0) % 2  # 4-px blocks (Sobel cancels on 1-px ones)
    checker = np.repeat(checker[..., None], 3, axis=2).astype(np.float32)
    sg, sc, sk = image_statistics(grey), image_statistics(colour), image_statistics(checker)
    assert sc["img_colorfulness"] > sg["img_colorfulness"] + 0.2
    assert sc["img_saturation"] == pytest.approx(1.0)
    assert sk["img_edge_density"] > 0.3 and sg["img_edge_density"] == 0.0
    # pure red and pure blue fall in different hue bins, half the coloured pixels each
    hues = [sc[f"img_hue_{i}"] for i in range(8)]
    assert sorted(hues)[-2:] == pytest.approx([0.5, 0.5])


@settings(max_examples=25, deadline=None)
@given(h=st.integers(3, 40), w=st.integers(3, 40), seed=st.integers(0, 1000))
def test_statistics_are_finite_and_bounded(h, w, seed):
    img = np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)
    s = image_statistics(img)
    assert list(s) == IMAGE_STAT_NAMES
    assert all(np.isfinite(v) for v in s.values())
    assert 0 <= s["img_brightness"] <= 1 and 0 <= s["img_edge_density"] <= 1
    assert sum(s[f"img_hue_{i}"] for i in range(8)) <= 1.0 + 1e-6


def test_corrupt_truncated_and_missing_files_raise_named_error(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    good = tmp_path / "good.jpg"
    Image.fromarray((np.random.default_rng(0).random((64, 48, 3)) * 255).astype(np.uint8)).save(good)
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    assert poster_statistics(good)["img_aspect_ratio"] == pytest.approx(64 / 48)
    for p in (bad, trunc, tmp_path / "missing.jpg"):
        with pytest.raises(PosterReadError, match=p.name):
            poster_statistics(p)
