"""GPU path of the NCF job: one CUDA worker, bf16 autocast, dynamic LoRA LM. Skipped without CUDA."""

import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_xattn_dynamic_lora_bf16_on_gpu(ray_local, tmp_path):
    from jobs.common.job import run_job
    from jobs.ncf import JOB

    res = run_job(
        JOB,
        preset="smoke",
        out_dir=tmp_path,
        init_runtime=False,
        overrides=[
            "model=llm_xattn",
            "lm.mode=dynamic",
            "lm.lora_rank=4",
            "lm.lora_targets=[query,value]",
            "train.use_gpu=true",
            "train.precision=bf16",
        ],
    )
    assert res.metrics["test/hr@10"] > 0.2


def test_cache_and_dynamic_agree_on_gpu():
    from rec_core.ncf import LMConfig, NCFModelConfig, build_model, prepare, synthetic_split

    split, items = synthetic_split(num_users=20, num_items=120, per_user=5, eval_negatives=20)
    d = prepare(split, items, ["title", "genres"])
    cfg = NCFModelConfig(factors=4, layers=[16, 8], meta_dim=8)
    lm = dict(name="tiny-from-config", max_length=10, cache_dtype="float32")
    a = build_model("llm_xattn", d.num_users, d.num_items, cfg, LMConfig(**lm), d.item_texts).cuda().eval()
    b = (
        build_model("llm_xattn", d.num_users, d.num_items, cfg, LMConfig(mode="dynamic", **lm), d.item_texts)
        .cuda()
        .eval()
    )
    b.load_state_dict(a.state_dict(), strict=False)
    u, i = torch.randint(0, 20, (64,), device="cuda"), torch.randint(0, 120, (64,), device="cuda")
    assert torch.allclose(a(u, i)[0], b(u, i)[0], atol=1e-4)
