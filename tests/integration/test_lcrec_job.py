"""The lcrec job end to end on local Ray with its smoke preset: a tiny from-config Llama, LoRA + SID rows, trained
on the synthetic chains, decoded with the trie (0 invalid IDs), every required metric present."""

import json

import pytest

from jobs.common.job import run_job

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def lcrec_run(ray_local, tmp_path_factory):
    from jobs.lcrec import JOB

    out = tmp_path_factory.mktemp("lcrec")
    return out, run_job(JOB, preset="smoke", out_dir=out)


def test_lcrec_smoke_trains_and_decodes_valid_ids(lcrec_run):
    out, res = lcrec_run
    m = res.metrics
    assert m["invalid_ids"] == 0 and m["beams"] == 10
    for key in ("recall@10", "ndcg@10", "test/recall@10", "most_popular/test/recall@10", "bleu", "rouge_l"):
        assert key in m, key
    assert any(k.startswith("i2i_") for k in m) and "item2index_acc" in m
    # search and preference train in the smoke preset, so each has its own score beside its baseline
    assert 0 <= m["search_precision@10"] <= 1 and 0 < m["search_chance"] <= 1
    assert 0 <= m["preference_f1"] <= 1 and 0 <= m["preference_f1_baseline"] <= 1
    assert "item search precision@10" in (out / "report.md").read_text()
    hist = json.loads(next((out / "train").rglob("history.json")).read_text())
    assert hist[-1]["loss"] < hist[0]["loss"]  # it learns
    assert (out / "model" / "adapter" / "adapter_model.safetensors").exists()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["invalid_ids"] == 0 and "recall@10" in saved


def test_lcrec_saved_adapter_reloads_and_ranks_the_same(lcrec_run):
    """The saved adapter + rows, loaded with peft, give the job's own test Recall@10 on the same users."""
    from jobs.common.job import RunContext
    from jobs.common.sequential import load_sequential
    from jobs.lcrec import JOB
    from rec_core.evaluation import evaluate_ranker
    from rec_core.lcrec.decode import LCRecRanker
    from rec_core.lcrec.model import load_lcrec
    from rec_core.lcrec.prompts import ItemText
    from rec_core.lcrec.tokens import sid_text

    out, res = lcrec_run
    cfg = JOB.resolve("smoke")
    split, _ = load_sequential("synthetic", RunContext(out, out, None), cfg.max_history, cfg.synthetic, cfg.seed)
    model, tok, sid, meta = load_lcrec(cfg.model, out / "model")
    assert meta["item_ids"] == split.item_ids.tolist()
    import numpy as np

    codes = np.asarray(json.loads((out / "model" / "lcrec_meta.json").read_text())["item_codes"])
    items = ItemText([sid_text(r) for r in codes])
    ranker = LCRecRanker(model, tok, sid.item_token_ids(codes), items, cfg.eval.beams, cfg.max_history)
    again = evaluate_ranker(ranker, split.test, batch_size=cfg.eval.batch_size, max_users=cfg.eval.test_users, seed=0)
    assert again.metrics["recall@10"] == pytest.approx(res.metrics["recall@10"])
    assert ranker.stats.invalid == 0


@pytest.mark.slow
@pytest.mark.parametrize("stage", [2, 3])
def test_lcrec_deepspeed_zero_with_cpu_offload(ray_local, tmp_path, stage):
    """ZeRO-2 and ZeRO-3 with the optimizer offloaded to CPU (gloo on CPU), through the same harness."""
    from jobs.lcrec import JOB

    res = run_job(
        JOB,
        preset="smoke",
        out_dir=tmp_path,
        overrides=[
            "train.deepspeed=true",
            f"train.zero_stage={stage}",
            "train.offload_optimizer=true",
            "train.epochs=2",
            "train.checkpoint_every=1",
            "eval.i2i_items=0",
            "eval.enrich_items=0",
        ],
    )
    assert res.metrics["invalid_ids"] == 0 and res.metrics["epochs_trained"] == 2
    assert res.metrics["loss_last"] < res.metrics["loss_first"]


@pytest.mark.slow
def test_lcrec_merges_adapters_and_evaluates_the_merge(lcrec_run, tmp_path):
    """A second run merged with the first by weighted average; the merged adapter is evaluated on the same users."""
    from safetensors.torch import load_file

    from jobs.lcrec import JOB

    out, res = lcrec_run
    other = out / "model" / "adapter"
    res2 = run_job(
        JOB, preset="smoke", out_dir=tmp_path, overrides=[f"merge_with=[{other}]", "merge_weights=[0.5,0.5]"]
    )
    m = res2.metrics
    assert m["merged/invalid_ids"] == 0 and "merged/test/recall@10" in m
    a = load_file(str(other / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "model" / "adapter" / "adapter_model.safetensors"))
    c = load_file(str(tmp_path / "model_merged" / "adapter_model.safetensors"))
    assert all(torch_allclose(c[k], 0.5 * a[k] + 0.5 * b[k]) for k in a)


def torch_allclose(x, y):
    import torch

    return torch.allclose(x, y, atol=1e-6)
