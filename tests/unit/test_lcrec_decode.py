"""Constrained decoding: real items only, distinct beams, immune to the model's generation_config; and a tiny
model that learns item2index far above chance."""

import numpy as np
import torch

from rec_core.evaluation import evaluate_ranker
from rec_core.lcrec.decode import LCRecRanker, beam_search_sids
from rec_core.lcrec.evaluate import item2index_accuracy
from rec_core.lcrec.model import TinyLlamaConfig, trainable_parameters
from rec_core.lcrec.prompts import TaskRatios, encode_example, training_examples
from rec_core.lcrec.train import Collate, EncodedExamples, lcrec_loss
from rec_core.semantic_ids.trie import SIDTrie, TrieLogitsProcessor
from tests.unit.lcrec_fixtures import N_ITEMS, build, item_text, tiny_cfg


def _frame():
    import pandas as pd

    return pd.DataFrame({"user_id": [0, 1, 2], "history": [[0, 1], [5], [7, 8, 9]], "target": [2, 6, 10]})


def test_twenty_beams_all_valid_and_distinct():
    model, tok, _, item_tokens = build()
    ranker = LCRecRanker(model, tok, item_tokens, item_text())
    assert ranker.num_beams == 20
    res = evaluate_ranker(ranker, _frame(), ks=(5, 10))
    lists = ranker.recommend([0], [[0, 1]], 10)
    assert ranker.stats.invalid == 0 and ranker.stats.duplicates == 0 and ranker.stats.sequences == 4 * N_ITEMS
    # 12 items, 20 beams asked: capped at 12, every item comes out exactly once
    assert sorted(lists[0]) == list(range(N_ITEMS))
    assert set(res.metrics) >= {"recall@10", "ndcg@10", "recall@5", "ndcg@5"}


def test_generation_config_sampling_fields_do_not_change_the_beams():
    model, tok, _, item_tokens = build()
    trie = SIDTrie(item_tokens)
    prompts = [LCRecRanker(model, tok, item_tokens, item_text()).items.sids[0], "thing beta"]
    before = beam_search_sids(model, tok, prompts, trie, num_beams=8)
    gc = model.get_base_model().generation_config
    gc.do_sample, gc.temperature, gc.top_k, gc.top_p = True, 1.7, 2, 0.5
    gc.num_beams, gc.repetition_penalty, gc.no_repeat_ngram_size, gc.length_penalty = 1, 3.0, 1, -5.0
    torch.manual_seed(123)
    after = beam_search_sids(model, tok, prompts, trie, num_beams=8)
    assert after == before
    assert model.get_base_model().generation_config.temperature == 1.7  # the model's own config is left as it was


def test_prefilled_prompt_cache_gives_the_beams_of_a_plain_generate():
    """The prompt is run once and its cache repeated per beam: same sequences and scores as generate's own
    expansion, with prompts of different lengths (left padding) in one batch."""
    from transformers import LogitsProcessorList

    from rec_core.lcrec.decode import CausalTrieProcessor, beam_config, prefilled_cache
    from rec_core.lcrec.padding import left_pad
    from rec_core.lcrec.prompts import prompt_ids

    model, tok, _, item_tokens = build()
    model.eval()
    torch.manual_seed(0)
    with torch.no_grad():  # a small random init gives near-constant logits that hide a position mistake
        for p in model.parameters():
            p.normal_(0, 0.3)
    trie = SIDTrie(item_tokens)
    rows = [prompt_ids(tok, p) for p in ["thing beta", item_text().sids[0] + " thing gamma thing alpha", "alpha"]]
    ids, mask = left_pad(rows, tok.pad_token_id)
    assert (mask == 0).any()  # the batch really is padded
    gc = beam_config(6, trie.levels, tok.pad_token_id, tok.eos_token_id)
    gc.output_scores, gc.return_dict_in_generate = True, True
    outs = []
    for cache in (None, prefilled_cache(model, ids, mask, 6)):
        proc = LogitsProcessorList([CausalTrieProcessor(TrieLogitsProcessor(trie), ids.shape[1])])
        with torch.no_grad():
            outs.append(
                model.generate(
                    input_ids=ids, attention_mask=mask, cache=cache, generation_config=gc, logits_processor=proc
                )
            )
    plain, cached = outs
    assert torch.equal(plain.sequences, cached.sequences)
    assert torch.allclose(plain.sequences_scores, cached.sequences_scores, atol=1e-5)


def _train_item2index(model, tok, steps=80, lr=0.02):
    ex = training_examples({}, item_text(), TaskRatios(seqrec=0, item2index=1, index2item=0, fusion=0, enrich=0))
    ds = EncodedExamples.from_pairs([encode_example(tok, p, t, 64) for _, p, t in ex])
    batch = Collate(tok.pad_token_id)([ds[i] for i in range(len(ds))])
    opt = torch.optim.AdamW([p for _, p in trainable_parameters(model)], lr=lr)
    losses = []
    for _ in range(steps):
        loss = lcrec_loss(model, batch, "cpu")
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def test_tiny_model_learns_item2index_far_above_chance():
    """LoRA + the new rows only (the random base stays frozen): title -> ID is learnt far above chance."""
    torch.set_num_threads(1)
    tiny = TinyLlamaConfig(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=False,
    )
    model, tok, _, item_tokens = build(tiny_cfg(tiny=tiny, lora_r=16, lora_alpha=32))
    trie = SIDTrie(item_tokens)
    items = item_text()
    acc0 = item2index_accuracy(model, tok, trie, items, list(range(N_ITEMS)))
    losses = _train_item2index(model, tok, steps=400, lr=3e-3)
    acc = item2index_accuracy(model, tok, trie, items, list(range(N_ITEMS)))
    assert losses[-1] < 0.3 * losses[0]
    assert acc["chance"] == 1 / N_ITEMS
    assert acc["accuracy"] >= 0.5 and acc["accuracy"] > acc0["accuracy"] + 0.3, (acc0, acc)
    assert np.isfinite(losses).all()
