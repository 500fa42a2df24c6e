"""Embedding-stage inputs without Ray: text assembly, image loading, fingerprints, part files."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from data_pipelines.embed import EmbedConfig, assemble_texts, fingerprint, write_part
from data_pipelines.images import load_image


def test_assemble_texts_labels_fields_and_flattens_categories():
    df = pd.DataFrame(
        {
            "item_id": [1, 2],
            "title": ["Rose Balm", None],
            "brand": ["Acme", float("nan")],
            "categories": [[["Beauty", "Lips"], ["Beauty"]], []],
        }
    )
    texts = assemble_texts(df, ["title", "brand", "categories", "description"])
    assert texts == ["Title: Rose Balm; Brand: Acme; Categories: Beauty, Lips", ""]
    assert assemble_texts(df, ["title"]) == ["Rose Balm", ""]


@given(st.lists(st.text(max_size=20), min_size=1, max_size=20))
def test_single_field_text_is_the_stripped_value(titles):
    df = pd.DataFrame({"item_id": range(len(titles)), "title": titles})
    assert assemble_texts(df, ["title"]) == [t.strip() for t in titles]


def test_fingerprint_tracks_content_and_encoder_not_parallelism():
    df = pd.DataFrame({"item_id": [1, 2], "title": ["a", "b"]})
    base = fingerprint(df, EmbedConfig())
    assert fingerprint(df, EmbedConfig(num_actors=4, batch_size=7, part_rows=3)) == base
    assert fingerprint(df, EmbedConfig(encoder="other")) != base
    assert fingerprint(df.assign(title=["a", "c"]), EmbedConfig()) != base


def test_load_image_statuses(tmp_path):
    from PIL import Image

    good = tmp_path / "g.png"
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(good)
    (tmp_path / "bad.jpg").write_bytes(b"\x00garbage")
    arr, status = load_image(str(good), 16)
    assert status == "ok" and arr.shape == (16, 16, 3) and arr.dtype == np.uint8
    assert load_image(str(tmp_path / "nope.png"), 16) == (None, "missing")
    assert load_image(str(tmp_path / "bad.jpg"), 16) == (None, "corrupt")
    assert load_image(None, 16) == (None, "none") and load_image(float("nan"), 16) == (None, "none")


def test_unreadable_parts_and_stale_tmp_files_are_discarded(tmp_path):
    import os

    from data_pipelines.parts import STALE_TMP_S, finished_parts

    write_part(tmp_path, np.array([5, 6]), np.ones((2, 3), np.float32), ["unused"] * 2)
    (tmp_path / "part-999-broken.parquet").write_bytes(b"PAR1 truncated")
    (tmp_path / ".tmp-abc.parquet").write_bytes(b"half written")
    old = os.stat(tmp_path / ".tmp-abc.parquet").st_mtime - STALE_TMP_S - 1
    os.utime(tmp_path / ".tmp-abc.parquet", (old, old))  # left by a crash a while ago
    (tmp_path / ".tmp-now.parquet").write_bytes(b"being written by a concurrent run")
    good, done, discarded = finished_parts(tmp_path)
    assert len(good) == 1 and done == {5, 6} and discarded == 1
    assert [p.name for p in tmp_path.glob(".tmp-*")] == [".tmp-now.parquet"]
    assert not (tmp_path / "part-999-broken.parquet").exists()
