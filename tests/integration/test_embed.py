"""Embedding pipeline on local Ray: resume after a crash, image fallbacks, clear input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data_pipelines.embed import EmbedConfig, InjectedFailure, embed_items, embedding_matrix
from rec_core.offline_models import is_available
from tests.integration.multinode import record_fault

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    import ray

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, object_store_memory=500 * 2**20, include_dashboard=False)
    yield
    if started:
        ray.shutdown()


def _items(n: int) -> pd.DataFrame:
    words = ["rose", "argan", "matte", "vitamin", "cedar", "coconut", "charcoal", "silk", "mint", "amber"]
    kinds = ["shampoo", "serum", "lipstick", "eyeliner", "cream", "soap"]
    return pd.DataFrame(
        {
            "item_id": np.arange(100, 100 + n, dtype=np.int64),
            "title": [f"{words[i % 10]} {kinds[i % 6]} no {i}" for i in range(n)],
            "brand": [f"brand{i % 4}" if i % 3 else None for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A 2-layer BERT from config (fast to load in an actor) with the MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from rec_core.offline_models import resolve_model

    if not is_available("minilm"):
        pytest.skip("needs the MiniLM tokenizer package")
    path = tmp_path_factory.mktemp("tiny_bert")
    tok = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    torch.manual_seed(0)
    BertModel(
        BertConfig(
            vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
        )
    ).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_crash_then_resume_skips_finished_parts(tmp_path, tiny_bert):
    items = _items(60)
    cfg = EmbedConfig(
        encoder=str(tiny_bert),
        kind="hf_mean",
        text_fields=["title", "brand"],
        part_rows=8,
        num_actors=1,
        cpus_per_actor=0.5,
        batch_size=8,
        device="cpu",
    )
    with pytest.raises(InjectedFailure):
        embed_items(items, cfg, out_dir=tmp_path, fail_after_parts=2)
    parts_dir = next(tmp_path.glob("parts-*"))
    first = {p.name: p.stat().st_mtime_ns for p in parts_dir.glob("part-*.parquet")}
    assert len(first) == 2  # one actor, killed after its 2nd part
    done_after_crash = sum(len(pd.read_parquet(parts_dir / n)) for n in first)
    assert done_after_crash == 16

    emb = embed_items(items, cfg, out_dir=tmp_path)
    stats = emb.attrs["embed_stats"]
    assert stats["reused"] == done_after_crash and stats["computed"] == 60 - done_after_crash
    # One actor: its start-up is counted once, and the model calls took measurable time.
    assert len(stats["actor_init_s"]) == 1 and stats["actor_init_s"][0] > 0 and stats["encode_s"] > 0
    # The run splits into start-up (at least the actor's own start-up) and an encoding window that holds
    # every model call of the one actor.
    assert stats["first_encode_after_s"] >= stats["actor_init_s"][0]
    assert stats["encoding_window_s"] >= stats["encode_s"]
    for name, mtime in first.items():  # finished parts were neither rewritten nor deleted
        assert (parts_dir / name).stat().st_mtime_ns == mtime
    assert emb["item_id"].tolist() == items["item_id"].tolist()
    mat = embedding_matrix(emb)
    assert mat.shape == (60, 32) and mat.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(mat, axis=1), 1.0, atol=1e-4)

    # Same vectors as a direct single-process encode of the same assembled texts (resume mixes nothing up).
    from data_pipelines.embed import assemble_texts
    from rec_core.encoders import build_encoder

    ref = build_encoder("hf_mean", str(tiny_bert), device="cpu").encode(assemble_texts(items, cfg.text_fields))
    np.testing.assert_allclose(mat, ref, atol=1e-5)
    assert "Title: rose shampoo no 0" in assemble_texts(items, cfg.text_fields)[0]

    # A third run computes nothing at all.
    again = embed_items(items, cfg, out_dir=tmp_path)
    assert again.attrs["embed_stats"]["computed"] == 0
    assert again.attrs["embed_stats"]["actor_init_s"] == []  # no actor was started
    assert again.attrs["embed_stats"]["first_encode_after_s"] is None


def test_images_missing_and_corrupt_are_counted_and_fall_back(tmp_path):
    from PIL import Image

    from tests.unit.test_encoders import build_tiny_llava

    if not is_available("minilm"):
        pytest.skip("needs the MiniLM tokenizer package")
    model_dir = build_tiny_llava(tmp_path / "tiny_llava")
    good = tmp_path / "good.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    items = pd.DataFrame(
        {
            "item_id": [1, 2, 3, 4, 5],
            "title": ["lip balm", "lip balm", "lip balm", "lip balm", "hair oil"],
            "image_path": [str(good), str(tmp_path / "missing.png"), str(bad), None, str(good)],
        }
    )
    cfg = EmbedConfig(
        encoder=str(model_dir),
        kind="vlm",
        text_fields=["title"],
        image_size=32,
        part_rows=2,
        num_actors=1,
        cpus_per_actor=0.5,
        device="cpu",
    )
    emb = embed_items(items, cfg, out_dir=tmp_path / "emb")
    s = emb.attrs["embed_stats"]
    assert (s["images_ok"], s["images_missing"], s["images_corrupt"], s["images_none"]) == (2, 1, 1, 1)
    mat = embedding_matrix(emb)
    assert np.isfinite(mat).all()
    # items 2, 3, 4 fell back to their (identical) text: same vector; item 1 used its image.
    np.testing.assert_allclose(mat[1], mat[2], atol=1e-5)
    np.testing.assert_allclose(mat[1], mat[3], atol=1e-5)
    assert not np.allclose(mat[0], mat[1], atol=1e-4)


def test_bad_items_table_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="none of the text_fields"):
        embed_items(pd.DataFrame({"item_id": [1], "name": ["x"]}), EmbedConfig(), out_dir=tmp_path)
    with pytest.raises(ValueError, match="duplicate item_id"):
        embed_items(pd.DataFrame({"item_id": [1, 1], "title": ["x", "y"]}), EmbedConfig(), out_dir=tmp_path)


def test_a_killed_actor_is_restarted_and_its_batch_retried(tmp_path, tiny_bert):
    """The encoder actor's process dies on its 3rd batch (os._exit, as on a lost node): Ray Data restarts it and
    retries the batch; every item gets exactly one vector, in exactly one part."""
    items = _items(60)
    cfg = EmbedConfig(
        encoder=str(tiny_bert),
        kind="hf_mean",
        text_fields=["title", "brand"],
        part_rows=8,
        num_actors=1,
        cpus_per_actor=0.5,
        batch_size=8,
        device="cpu",
        actor_restarts=2,
    )
    marker = tmp_path / "died"
    emb = embed_items(items, cfg, out_dir=tmp_path / "emb", die_once=(str(marker), 3))
    assert marker.exists()  # the actor did die
    stats = emb.attrs["embed_stats"]
    assert stats["computed"] == 60 and stats["reused"] == 0
    # (Ray Data retries the dead actor's whole block; the outputs its batches had already returned are not repeated,
    # and their parts are rewritten under the same names.)
    parts = sorted(next((tmp_path / "emb").glob("parts-*")).glob("part-*.parquet"))
    ids = np.concatenate([pd.read_parquet(p, columns=["item_id"])["item_id"].to_numpy() for p in parts])
    assert len(ids) == len(set(ids)) == 60  # no duplicate, no missing item
    missing = len(set(items["item_id"]) - set(ids.tolist()))
    record_fault("embed_actor", survived=1, duplicates=len(ids) - len(set(ids)), missing=missing)
    assert emb["item_id"].tolist() == items["item_id"].tolist()

    from data_pipelines.embed import assemble_texts
    from rec_core.encoders import build_encoder

    ref = build_encoder("hf_mean", str(tiny_bert), device="cpu").encode(assemble_texts(items, cfg.text_fields))
    np.testing.assert_allclose(embedding_matrix(emb), ref, atol=1e-5)
