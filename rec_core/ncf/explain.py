"""Which metadata tokens did an item's ID query attend to? (the cross-attention model's explanation)."""

from __future__ import annotations

import torch

from rec_core.ncf.fusion import CrossAttentionItemTower
from rec_core.ncf.lm import tokenize
from rec_core.ncf.models import NCF


@torch.no_grad()
def explain_items(
    model: NCF, tokenizer, texts: list[str], items: list[int], max_length: int, top: int = 5
) -> list[dict]:
    """[{item, text, weights: [(token, weight) over real tokens], top: [(token, weight)]}] per item."""
    tower = model.item_tower
    if not isinstance(tower, CrossAttentionItemTower):
        raise TypeError(f"attention weights exist only for the cross-attention model, not {model.kind!r}")
    was = model.training
    model.eval()
    idx = torch.as_tensor(items, dtype=torch.long, device=model.user_emb.weight.device)
    w = tower.attention_weights(idx).cpu()
    ids, mask = tokenize(tokenizer, [texts[i] for i in items], max_length)
    model.train(was)
    out = []
    for row, item in enumerate(items):
        n = int(mask[row].sum())
        toks = tokenizer.convert_ids_to_tokens(ids[row, :n].tolist())
        pairs = [(t, round(float(x), 4)) for t, x in zip(toks, w[row, :n])]
        out.append(
            {"item": int(item), "text": texts[item], "weights": pairs, "top": sorted(pairs, key=lambda p: -p[1])[:top]}
        )
    return out
