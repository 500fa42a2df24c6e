"""GPU paths of the semantic-ID stage: embedding actors with num_gpus=1, RQ-VAE over nccl with DeepSpeed bf16,
4-bit VLM loading. Skipped without CUDA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_embedding_actor_on_gpu_matches_cpu(ray_local, tmp_path):
    from data_pipelines.embed import EmbedConfig, assemble_texts, embed_items, embedding_matrix
    from rec_core.encoders import build_encoder

    items = pd.DataFrame({"item_id": np.arange(300), "title": [f"rose lip balm shade {i}" for i in range(300)]})
    cfg = EmbedConfig(text_fields=["title"], num_actors=1, cpus_per_actor=1, gpus_per_actor=1, part_rows=128)
    gpu = embedding_matrix(embed_items(items, cfg, out_dir=tmp_path))
    cpu = build_encoder("sentence_transformers", "minilm", device="cpu").encode(assemble_texts(items, ["title"]))
    np.testing.assert_allclose(gpu, cpu, atol=2e-3)


@pytest.mark.parametrize("deepspeed", [False, True])
def test_rqvae_nccl_bf16(ray_local, tmp_path, deepspeed):
    from jobs.common.config import resolve_config
    from jobs.common.job import RunContext
    from jobs.semantic_ids import Config, fit_rqvae

    rng = np.random.default_rng(0)
    c = rng.normal(size=(64, 32))
    x = (c[rng.integers(0, 64, 4096)] + 0.05 * rng.normal(size=(4096, 32))).astype(np.float32)
    cfg = resolve_config(
        Config,
        {
            "levels": 2,
            "codebook_size": 32,
            "rqvae": {"hidden_dims": [64], "latent_dim": 8},
            "train": {
                "num_workers": 1,
                "use_gpu": True,
                "epochs": 3,
                "batch_size": 512,
                "deepspeed": deepspeed,
                "precision": "bf16",
                "lr": 3e-3,
            },
        },
    )
    *_, hist = fit_rqvae(x, cfg, RunContext(out_dir=tmp_path, data_dir=tmp_path, mirror=None))
    assert hist[-1]["loss"] < hist[0]["loss"]


def test_vlm_4bit_loading(tmp_path):
    pytest.importorskip("bitsandbytes")
    from rec_core.encoders import build_encoder
    from tests.unit.test_encoders import build_tiny_llava

    path = build_tiny_llava(tmp_path / "llava")
    enc = build_encoder("vlm", str(path), device="cuda", load_in_4bit=True)
    img = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    out = enc.encode(["lip balm", "hair oil"], [img, None])
    assert out.shape == (2, 32) and np.isfinite(out).all()
