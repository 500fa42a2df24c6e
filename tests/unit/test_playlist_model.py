"""PlaylistT5 learns a text -> list mapping (in-process, no Ray) and exports a model the CLI can load."""

import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rec_core.playlist.baselines import popularity_list
from rec_core.playlist.generator import Playlister, export_model, load_tokenizer
from rec_core.playlist.metrics import list_metrics
from rec_core.playlist.model import ModelConfig, PairCollator, build_constraint, build_model
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


def tiny_export(tmp_dir, trained, with_lists: bool = True, cfg: ModelConfig = TINY, length: int = 5, lists=None):
    """`trained` = (model, vocab, tokenizer, losses, pairs); the export's training lists are `lists`, else the
    pairs (with_lists), else none."""
    model, vocab, tok, _, pairs = trained
    codes = SemanticCodes(vocab.item_ids, vocab.sids, vocab.vocab.codebook_sizes)
    titles = pd.DataFrame({"item_id": vocab.item_ids, "title": [f"Movie {i}" for i in vocab.item_ids]})
    meta = {
        "model": cfg.model_dump(),
        "text_vocab_size": len(tok),
        "sid_vocab_size": vocab.size,
        "tokenizer": "minilm",
        "max_items": length,
        "default_length": length,
        "text_embed_shape": list(model.text_embed.weight.shape),
    }
    if lists is None and with_lists:
        lists = pd.DataFrame({"text": [t for t, _ in pairs], "items": [list(x) for _, x in pairs]})
    return str(export_model(tmp_dir / "model", model.state_dict(), meta, codes, titles, candidate_lists=lists))


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


def test_candidates_in_the_input_are_read_and_copied(tmp_path):
    """A model with `candidates` > 0 must use them: the text says nothing ("my list") and each target list is its
    candidates in another order, so only a model that reads the candidates beats chance; a text-only model
    cannot. Also: the export carries the retriever's lists, and the loaded Playlister finds the same candidates."""
    from rec_core.playlist.baselines import WordPopularity

    torch.manual_seed(0)
    rng = random.Random(0)
    items = list(range(100, 124))
    emb = np.random.default_rng(0).normal(size=(len(items), 8))
    codes = residual_kmeans_codes(np.array(items), emb, levels=2, codebook_size=5, seed=0, niter=25)
    vocab = ItemTokens.compact(codes.item_ids, codes.sids)
    tok = load_tokenizer("minilm")
    cfg = TINY.model_copy(update={"candidates": 4})
    model = build_model(cfg, tok, vocab)
    collate = PairCollator(tok, vocab, cfg.max_text_tokens, candidates=4)

    def rows(n):
        out = []
        for _ in range(n):
            chosen = rng.sample(items, 4)
            out.append(("my list", rng.sample(chosen, 4), chosen))
        return out

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(200):
        b = collate(rows(16))
        loss = model(b["input_ids"], b["attention_mask"], b["labels"], b["cand_ids"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-10:]) < 0.6 * np.mean(losses[:10])
    model.eval()
    with pytest.raises(ValueError, match="retrieved candidates"):
        model(b["input_ids"], b["attention_mask"], b["labels"])  # a candidate model fed text only: a clear error
    test = rows(40)

    def recall_with(cand_lists):
        enc = collate.encode_inputs([t for t, _, _ in test], cand_lists)
        assert enc["cand_ids"].shape == (len(test), 4 * vocab.levels)
        out = model.generate_lists(
            enc["input_ids"], enc["attention_mask"], build_constraint(vocab, 4), num_beams=4, cand_ids=enc["cand_ids"]
        )
        got = [vocab.decode_list(seq[1:])[0] for seq in out.tolist()]
        return list_metrics(got, [y for _, y, _ in test], ks=(4,))["recall@4"]

    right = recall_with([c for _, _, c in test])
    wrong = recall_with([c for _, _, c in test[1:] + test[:1]])  # each text given another row's candidates
    # chance: 4 of 24 items, ~0.17; what the model knows comes from the candidates alone
    assert right > 0.3 and right > 2 * wrong, (right, wrong)

    # export + load: the Playlister rebuilds the candidates from the stored training lists
    lists = pd.DataFrame({"text": ["my list", "other"], "items": [[101, 102, 103, 104], [110, 111, 112]]})
    d = Path(tiny_export(tmp_path, (model, vocab, tok, None, None), cfg=cfg, length=4, lists=lists))
    pl = Playlister.load(d)
    wp = WordPopularity(lists["text"], lists["items"])
    assert pl.retriever.lists(["my list"], 4) == wp.lists(["my list"], 4) == [[101, 102, 103, 104]]
    enc = collate.encode_inputs(["my list"], [[101, 102, 103, 104]])
    direct = model.generate_lists(
        enc["input_ids"], enc["attention_mask"], build_constraint(vocab, 4), num_beams=4, cand_ids=enc["cand_ids"]
    )
    assert pl.generate(["my list"], length=4, num_beams=4)[0].items == vocab.decode_list(direct[0, 1:].tolist())[0]
    (d / "candidates.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="retrieved candidates"):
        Playlister.load(d)
