"""SID tokens: added one per code per level, mean-initialised, and only the new rows train."""

import torch

from rec_core.lcrec.model import optimizer_groups, trainable_parameters
from rec_core.lcrec.tokens import embedding_rows, sid_text, sid_token_strings
from tests.unit.lcrec_fixtures import CODEBOOKS, build, tiny_cfg


def _step(model, tok, lr=0.05, steps=2):
    opt = torch.optim.AdamW(optimizer_groups(model, weight_decay=0.1), lr=lr)
    ids = tok(["thing alpha <a_1><b_2><c_0>", "<a_0><b_0><c_1> thing beta"], return_tensors="pt", padding=True)
    for _ in range(steps):
        loss = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"], labels=ids["input_ids"]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_one_token_per_code_per_level_mean_initialised():
    assert sid_token_strings((2, 3)) == [["<a_0>", "<a_1>"], ["<b_0>", "<b_1>", "<b_2>"]]
    assert sid_text([1, 2, 0]) == "<a_1><b_2><c_0>"
    model, tok, sid, item_tokens = build()
    assert len(sid.new_ids) == sum(CODEBOOKS) and min(sid.new_ids) == sid.num_original
    assert len(tok) == sid.num_original + sum(CODEBOOKS)
    assert tok.convert_tokens_to_ids("<b_3>") == sid.level_ids[1][3]
    # an item's SID text encodes to exactly its L token ids
    assert tok("<a_2><b_1><c_1>", add_special_tokens=False)["input_ids"] == [
        sid.level_ids[0][2],
        sid.level_ids[1][1],
        sid.level_ids[2][1],
    ]
    e = embedding_rows(model)
    mean = e[: sid.num_original].mean(0)
    assert torch.allclose(e[sid.num_original :], mean.expand(sum(CODEBOOKS), -1), atol=1e-6)
    assert item_tokens.shape == (12, 3) and item_tokens.min() >= sid.num_original


def test_lora_trains_new_rows_and_adapter_only():
    model, tok, sid, _ = build()
    names = [n for n, _ in trainable_parameters(model)]
    assert names and all("lora_" in n or "trainable_tokens_delta" in n for n in names)
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    before = embedding_rows(model)
    _step(model, tok)
    after = embedding_rows(model)
    assert torch.equal(after[: sid.num_original], before[: sid.num_original])  # original rows exactly unchanged
    assert not torch.allclose(after[sid.num_original :], before[sid.num_original :])  # new rows trained
    for n, p in model.named_parameters():
        if n in frozen:
            assert torch.equal(p, frozen[n]), n


def test_full_finetune_keeps_original_rows():
    model, tok, sid, _ = build(tiny_cfg(finetune="full"))
    before = embedding_rows(model)
    w_before = model.model.layers[0].mlp.up_proj.weight.detach().clone()
    _step(model, tok)
    after = embedding_rows(model)
    assert torch.equal(after[: sid.num_original], before[: sid.num_original])
    assert not torch.allclose(after[sid.num_original :], before[sid.num_original :])
    assert not torch.equal(model.model.layers[0].mlp.up_proj.weight, w_before)  # the body trains too
