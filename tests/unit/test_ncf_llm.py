"""LLM fusion: cache vs dynamic give the same forward, attention weights are a distribution over real
tokens, InfoNCE behaves, LoRA trains only adapters, a causal LM (GPT-2 shape) loads from a path."""

import pytest
import torch
from pydantic import ValidationError

from rec_core.ncf import LMConfig, NCFModelConfig, build_model, info_nce, prepare, synthetic_split
from rec_core.ncf.explain import explain_items
from rec_core.ncf.lm import build_or_load_cache, load_tokenizer

CFG = NCFModelConfig(factors=4, layers=[16, 8], meta_dim=8, attn_heads=2, contrastive_weight=0.5)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    split, items = synthetic_split(num_users=20, num_items=120, per_user=5, eval_negatives=20, seed=0)
    return prepare(split, items, ["title", "genres"], seed=0)


def _lm(**kw):
    return LMConfig(name="tiny-from-config", max_length=10, cache_dtype="float32", **kw)


@pytest.mark.parametrize("kind", ["llm_concat", "llm_xattn"])
def test_cache_and_dynamic_mode_give_the_same_forward(kind, data):
    torch.manual_seed(0)
    cached = build_model(kind, data.num_users, data.num_items, CFG, _lm(mode="cache"), data.item_texts)
    dynamic = build_model(kind, data.num_users, data.num_items, CFG, _lm(mode="dynamic"), data.item_texts)
    missing, unexpected = dynamic.load_state_dict(cached.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("item_tower.meta.lm.") for k in missing)
    u, i = torch.randint(0, data.num_users, (32,)), torch.randint(0, data.num_items, (32,))
    for m in (cached, dynamic):
        m.train()  # train mode too: a frozen LM must keep its dropout off
    (a, aux_a), (b, aux_b) = cached(u, i), dynamic(u, i)
    assert torch.allclose(a, b, atol=1e-5)
    if kind == "llm_xattn":
        assert torch.allclose(aux_a, aux_b, atol=1e-5)
    # the frozen LM gets no gradient in dynamic mode
    (b.sum() + (aux_b if aux_b is not None else 0)).backward()
    assert all(p.grad is None for p in dynamic.item_tower.meta.lm.parameters())


def test_half_precision_cache_is_close_to_dynamic(data):
    torch.manual_seed(0)
    cached = build_model(
        "llm_xattn",
        data.num_users,
        data.num_items,
        CFG,
        _lm(mode="cache").model_copy(update={"cache_dtype": "float16"}),
        data.item_texts,
    )
    dynamic = build_model("llm_xattn", data.num_users, data.num_items, CFG, _lm(mode="dynamic"), data.item_texts)
    dynamic.load_state_dict(cached.state_dict(), strict=False)
    u, i = torch.randint(0, data.num_users, (16,)), torch.randint(0, data.num_items, (16,))
    cached.eval(), dynamic.eval()
    assert torch.allclose(cached(u, i)[0], dynamic(u, i)[0], atol=1e-2)


def test_attention_weights_shape_and_sum(data):
    torch.manual_seed(0)
    m = build_model("llm_xattn", data.num_users, data.num_items, CFG, _lm(), data.item_texts)
    items = torch.tensor([0, 5, 5, 17])
    w = m.item_tower.attention_weights(items)
    per_head = m.item_tower.attention_weights(items, average_heads=False)
    mask = m.item_tower.meta.mask[items]
    length = int(mask.sum(1).max())  # padding columns no item in the batch uses are dropped
    mask = mask[:, :length]
    assert 5 <= length <= 10 and w.shape == (4, length) and per_head.shape == (4, 2, length)
    assert torch.allclose(w.sum(-1), torch.ones(4), atol=1e-5)
    assert torch.allclose(per_head.sum(-1), torch.ones(4, 2), atol=1e-5)
    assert (w[~mask] == 0).all() and (w[mask] > 0).all()
    ex = explain_items(m, load_tokenizer(_lm(), data.item_texts), data.item_texts, [0, 17], max_length=10)
    assert ex[0]["weights"][0][0] == "[CLS]" and abs(sum(x for _, x in ex[0]["weights"]) - 1) < 1e-3
    assert any(t in data.item_texts[17].lower() for t, _ in ex[1]["top"])


def test_contrastive_loss_only_in_training_and_when_weighted(data):
    torch.manual_seed(0)
    m = build_model("llm_xattn", data.num_users, data.num_items, CFG, _lm(), data.item_texts)
    u, i = torch.zeros(8, dtype=torch.long), torch.arange(8)
    assert m.train()(u, i)[1] is not None
    assert m.eval()(u, i)[1] is None
    off = build_model(
        "llm_xattn",
        data.num_users,
        data.num_items,
        CFG.model_copy(update={"contrastive_weight": 0.0}),
        _lm(),
        data.item_texts,
    )
    assert off.train()(u, i)[1] is None and not hasattr(off.item_tower, "id_view")


def test_info_nce_prefers_aligned_views():
    torch.manual_seed(0)
    a = torch.randn(16, 8)
    aligned = info_nce(a, a + 0.01 * torch.randn(16, 8), 0.1)
    shuffled = info_nce(a, a[torch.randperm(16)], 0.1)
    assert aligned < 0.1 < shuffled


def test_lora_trains_adapters_only(data):
    torch.manual_seed(0)
    m = build_model(
        "llm_xattn",
        data.num_users,
        data.num_items,
        CFG,
        _lm(mode="dynamic", lora_rank=2, lora_targets=["query", "value"]),
        data.item_texts,
    )
    lm = m.item_tower.meta.lm
    trainable = {n for n, p in lm.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
    before = {n: p.detach().clone() for n, p in lm.named_parameters() if p.requires_grad}
    opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=0.05)
    for _ in range(2):
        logits, aux = m.train()(torch.randint(0, 20, (16,)), torch.randint(0, 120, (16,)))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones(16)) + aux
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert any(not torch.equal(before[n], p) for n, p in lm.named_parameters() if p.requires_grad)


def test_lora_needs_dynamic_mode():
    with pytest.raises(ValidationError, match="dynamic"):
        LMConfig(mode="cache", lora_rank=4)


def test_causal_lm_from_a_local_path_with_last_token_pooling(tmp_path, data):
    from transformers import GPT2Config, GPT2Model

    tok = load_tokenizer(_lm(), data.item_texts)
    tok.save_pretrained(tmp_path)
    GPT2Model(GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=32)).save_pretrained(tmp_path)
    lm = LMConfig(name=str(tmp_path), max_length=10, pooling="last", cache_dtype="float32", mode="dynamic", lora_rank=2)
    m = build_model("llm_concat", data.num_users, data.num_items, CFG, lm, data.item_texts)
    assert any(
        "lora_" in n for n, p in m.named_parameters() if p.requires_grad
    )  # peft's default GPT-2 targets (c_attn)
    logits, _ = m(torch.tensor([0, 1]), torch.tensor([3, 4]))
    assert logits.shape == (2,) and torch.isfinite(logits).all()


def test_cache_is_written_once_and_keyed_by_text(tmp_path, data):
    lm = _lm()
    c1 = build_or_load_cache(lm, data.item_texts, tmp_path, need_tokens=True)
    files = list(tmp_path.glob("lm_*.pt"))
    assert len(files) == 1 and c1["states"].shape[0] == data.num_items and c1["states"].shape[1] <= 10
    c2 = build_or_load_cache(lm, data.item_texts, tmp_path, need_tokens=True)
    assert torch.equal(c1["pooled"], c2["pooled"]) and len(list(tmp_path.glob("lm_*.pt"))) == 1
    build_or_load_cache(lm, [t + " x" for t in data.item_texts], tmp_path, need_tokens=True)
    assert len(list(tmp_path.glob("lm_*.pt"))) == 2
    # a torn file is recomputed, not a crash
    files[0].write_bytes(b"garbage")
    assert torch.equal(build_or_load_cache(lm, data.item_texts, tmp_path, need_tokens=True)["pooled"], c1["pooled"])


def test_token_cross_attention_equals_torch_multihead_attention():
    from rec_core.ncf.fusion import TokenCrossAttention

    torch.manual_seed(0)
    ours = TokenCrossAttention(d_attn=8, d_lm=12, heads=2)
    ref = torch.nn.MultiheadAttention(8, 2, kdim=12, vdim=12, batch_first=True)
    with torch.no_grad():
        ref.q_proj_weight.copy_(ours.q_proj.weight)
        ref.k_proj_weight.copy_(ours.k_proj.weight)
        ref.v_proj_weight.copy_(ours.v_proj.weight)
        ref.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
        ref.out_proj.load_state_dict(ours.out_proj.state_dict())
    q, states = torch.randn(5, 8), torch.randn(5, 7, 12)
    mask = torch.ones(5, 7, dtype=torch.bool)
    mask[1, 3:] = False
    mask[4, 1:] = False
    out, w = ours(q, states, mask)
    out_ref, w_ref = ref(q[:, None], states, states, key_padding_mask=~mask, average_attn_weights=False)
    assert torch.allclose(out, out_ref[:, 0], atol=1e-5)
    assert torch.allclose(w, w_ref[:, :, 0], atol=1e-6)
