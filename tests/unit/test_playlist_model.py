"""PlaylistT5 learns a text -> list mapping (in-process, no Ray) and exports a model the CLI can load."""

import random

import numpy as np
import pandas as pd
import pytest
import torch

from rec_core.playlist.baselines import popularity_list
from rec_core.playlist.generator import Playlister, export_model, load_tokenizer
from rec_core.playlist.metrics import list_metrics
from rec_core.playlist.model import ModelConfig, PairCollator, build_model
from rec_core.semantic_ids.codes import ItemTokens, SemanticCodes
from rec_core.semantic_ids.rqkmeans import residual_kmeans_codes

POOLS = {
    "happy comedy": list(range(100, 108)),
    "scary horror night": list(range(200, 208)),
    "space adventure": list(range(300, 308)),
    "sad drama": list(range(400, 408)),
}
TINY = ModelConfig(
    d_model=32,
    d_ff=64,
    num_layers=1,
    num_decoder_layers=1,
    num_heads=2,
    d_kv=16,
    dropout=0.0,
    max_text_tokens=8,
    text_embed_init="minilm",
    freeze_text_embed=True,
)


def synthetic_pairs(n: int, seed: int):
    """Each text's lists are 5 random items of its own 8-item pool, in random order: learnable, not memorisable."""
    rng = random.Random(seed)
    texts = sorted(POOLS)
    return [(t, rng.sample(POOLS[t], 5)) for t in (rng.choice(texts) for _ in range(n))]


def train_tiny(steps: int = 150, seed: int = 0):
    torch.manual_seed(seed)
    items = sorted(i for p in POOLS.values() for i in p)
    emb = np.random.default_rng(seed).normal(size=(len(items), 8))
    codes = residual_kmeans_codes(np.array(items), emb, levels=2, codebook_size=4, seed=seed, niter=25)
    vocab = ItemTokens.compact(codes.item_ids, codes.sids)
    tok = load_tokenizer("minilm")
    model = build_model(TINY, tok, vocab)
    collate = PairCollator(tok, vocab, TINY.max_text_tokens)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    pairs = synthetic_pairs(steps * 16, seed)
    losses = []
    model.train()
    for s in range(steps):
        b = collate(pairs[s * 16 : (s + 1) * 16])
        loss = model(b["input_ids"], b["attention_mask"], b["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return model.eval(), vocab, tok, losses, pairs


@pytest.fixture(scope="module")
def trained():
    return train_tiny()


def tiny_export(tmp_dir, trained) -> str:
    model, vocab, tok, _, _ = trained
    codes = SemanticCodes(vocab.item_ids, vocab.sids, vocab.vocab.codebook_sizes)
    titles = pd.DataFrame({"item_id": vocab.item_ids, "title": [f"Movie {i}" for i in vocab.item_ids]})
    meta = {
        "model": TINY.model_dump(),
        "text_vocab_size": len(tok),
        "sid_vocab_size": vocab.size,
        "tokenizer": "minilm",
        "max_items": 5,
        "default_length": 5,
        "text_embed_shape": list(model.text_embed.weight.shape),
    }
    return str(export_model(tmp_dir / "model", model.state_dict(), meta, codes, titles))


def test_loss_falls_and_lists_beat_popularity(trained, tmp_path):
    model, vocab, tok, losses, pairs = trained
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    pl = Playlister.load(tiny_export(tmp_path, trained))
    test = synthetic_pairs(40, seed=99)
    texts = sorted(POOLS)
    for mode in ("beam", "sample"):
        got = {r.text: r.items for r in pl.generate(texts, length=5, mode=mode, num_beams=4, temperature=0.7, seed=0)}
        m = list_metrics([got[t] for t, _ in test], [y for _, y in test], ks=(5,))
        pop = popularity_list([y for _, y in pairs], 5)
        p = list_metrics([pop for _ in test], [y for _, y in test], ks=(5,))
        # perfect pool knowledge gives recall@5 = 25/40 on average; popularity mixes pools
        assert m["recall@5"] > p["recall@5"] + 0.2, (mode, m, p)
        for items in got.values():
            assert len(items) == 5 and len(set(items)) == 5


def test_export_roundtrip_same_lists(trained, tmp_path):
    model, vocab, tok, _, _ = trained
    pl = Playlister.load(tiny_export(tmp_path, trained))
    a = pl.generate(["happy comedy"], length=4, mode="beam", num_beams=3)[0]
    pl2 = Playlister(model, tok, vocab, pl.titles, TINY.max_text_tokens, 5)
    b = pl2.generate(["happy comedy"], length=4, mode="beam", num_beams=3)[0]
    assert a.items == b.items and a.titles == [f"Movie {i}" for i in a.items]
