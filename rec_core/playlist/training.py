"""Pieces of the training loop that need no Ray: the per-epoch validation decode."""
from __future__ import annotations

from collections import defaultdict

import torch

from rec_core.playlist.metrics import list_metrics
from rec_core.playlist.model import PairCollator, PlaylistT5, build_constraint


def group_by_text(pairs) -> dict[str, list[list[int]]]:
    out: dict[str, list[list[int]]] = defaultdict(list)
    for text, items in pairs:
        out[text].append(list(items))
    return out


@torch.no_grad()
def valid_metrics(model: PlaylistT5, collate: PairCollator, vocab, valid_pairs, length: int, batch: int = 32) -> dict[str, float]:
    """Greedy constrained lists for the valid texts -> valid/recall@10, valid/ndcg@10 (cheap enough per epoch)."""
    if not valid_pairs:
        return {}
    by_text = group_by_text(valid_pairs)
    texts = sorted(by_text)
    constraint = build_constraint(vocab, length)
    dev = next(model.parameters()).device
    preds: dict[str, list[int]] = {}
    for s in range(0, len(texts), batch):
        chunk = texts[s : s + batch]
        ids, mask = collate.encode_texts(chunk)
        out = model.generate_lists(ids.to(dev), mask.to(dev), constraint, mode="greedy")
        for t, seq in zip(chunk, out.tolist()):
            preds[t] = vocab.decode(seq[1:])[0]
    p, y = zip(*[(preds[t], items) for t in texts for items in by_text[t]])
    m = list_metrics(p, y, ks=(10,))
    return {f"valid/{k}": v for k, v in m.items()}
