"""Adapter save/load round trip (only the adapter and the new rows are written) and weighted adapter merging."""

import json

import pytest
import torch
from safetensors.torch import load_file

from rec_core.lcrec.merge import merge_adapters
from rec_core.lcrec.model import load_lcrec, save_lcrec
from rec_core.lcrec.tokens import embedding_rows
from tests.unit.lcrec_fixtures import build, tiny_cfg
from tests.unit.test_lcrec_decode import _train_item2index


@pytest.fixture(scope="module")
def two_adapters(tmp_path_factory):
    out = []
    for seed in (0, 1):
        model, tok, sid, _ = build(seed=0)
        torch.manual_seed(seed)
        _train_item2index(model, tok, steps=5 + 5 * seed, lr=0.05)
        d = tmp_path_factory.mktemp(f"lcrec{seed}")
        save_lcrec(model, tok, sid, d, {"seed": 0})
        out.append((d, model.eval(), tok))
    return out


def _logits(model, tok):
    ids = tok(["thing alpha <a_1><b_2>"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_saves_only_adapter_and_new_rows_and_loads_back(two_adapters):
    d, model, tok = two_adapters[0]
    tensors = load_file(str(d / "adapter" / "adapter_model.safetensors"))
    assert all("lora_" in k or "trainable_tokens_delta" in k for k in tensors)
    sid_rows = sum(json.loads((d / "lcrec_meta.json").read_text())["sid_tokens"]["codebook_sizes"])
    assert any(v.shape[0] == sid_rows for k, v in tensors.items() if "trainable_tokens_delta" in k)
    loaded, tok2, sid2, meta = load_lcrec(tiny_cfg(), d)
    assert len(tok2) == len(tok) and sid2.num_original + sid_rows == len(tok2)
    assert torch.allclose(_logits(loaded, tok2), _logits(model, tok), atol=1e-5)


def test_weighted_merge(two_adapters, tmp_path):
    (d0, m0, tok), (d1, m1, _) = two_adapters
    a0 = load_file(str(d0 / "adapter" / "adapter_model.safetensors"))
    a1 = load_file(str(d1 / "adapter" / "adapter_model.safetensors"))
    merge_adapters([d0 / "adapter", d1 / "adapter"], [3, 1], tmp_path / "m")
    m = load_file(str(tmp_path / "m" / "adapter_model.safetensors"))
    for k in a0:
        assert torch.allclose(m[k], 0.75 * a0[k] + 0.25 * a1[k], atol=1e-6)
    # weight (1, 0) is the first adapter again, loaded and evaluated like any adapter
    merge_adapters([d0 / "adapter", d1 / "adapter"], [1, 0], tmp_path / "first")
    loaded, tok2, _, _ = load_lcrec(tiny_cfg(), d0, adapter=tmp_path / "first")
    assert torch.allclose(_logits(loaded, tok2), _logits(m0, tok), atol=1e-5)
    merged, _, sid, _ = load_lcrec(tiny_cfg(), d0, adapter=tmp_path / "m")
    rows = embedding_rows(merged)[sid.num_original :]
    want = 0.75 * embedding_rows(m0)[sid.num_original :] + 0.25 * embedding_rows(m1)[sid.num_original :]
    assert torch.allclose(rows, want, atol=1e-5)
    with pytest.raises(ValueError, match="weight"):
        merge_adapters([d0 / "adapter"], [1, 2], tmp_path / "bad")
