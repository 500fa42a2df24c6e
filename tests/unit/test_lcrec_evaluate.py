"""BLEU / ROUGE-L and I2I scoring."""

import numpy as np
import pytest

from rec_core.lcrec.evaluate import co_interaction_neighbours, i2i_recall, sid_item_vectors, text_scores


def test_text_scores_bounds():
    same = text_scores(["red blue green sky", "a cat sat on the mat"], ["red blue green sky", "a cat sat on the mat"])
    assert same["bleu"] > 99.9 and same["rouge_l"] == 1.0
    other = text_scores(["zzz qqq", "www"], ["red blue green sky", "a cat sat on the mat"])
    assert other["bleu"] < 1 and other["rouge_l"] == 0.0


def test_co_interaction_neighbours_and_i2i():
    seqs = [[0, 1, 2], [0, 1], [3, 4], [3, 4, 5], [2, 5]]
    nb = co_interaction_neighbours(seqs, 6, top=1)
    assert nb[0].tolist() == [1] and nb[3].tolist() == [4]
    # vectors that put co-interacted items together score 1; swapped ones score lower
    v = np.array([[1, 0], [1, 0.01], [0.7, 0.7], [0, 1], [0.01, 1], [0.6, 0.8]])
    assert i2i_recall(v, nb, [0, 1, 3, 4], k=1) == 1.0
    assert i2i_recall(v[[0, 3, 2, 1, 4, 5]], nb, [0, 1, 3, 4], k=1) == 0.0
    tokens = np.array([[0, 2], [1, 3]])
    emb = np.arange(8, dtype=np.float32).reshape(4, 2)
    assert np.allclose(sid_item_vectors(emb, tokens), [[2, 3], [4, 5]])


def _keyword_items():
    from rec_core.lcrec.prompts import ItemText

    kws = [["a"]] * 4 + [["b"]] * 4 + [["a", "b"]] * 2  # 6 of 10 items carry "a", 6 carry "b", 2 carry both
    return ItemText([f"<s{i}>" for i in range(10)], keywords=[list(k) for k in kws])


class _Trie:
    def __len__(self):
        return 10


def test_search_precision_is_one_for_an_oracle_zero_for_the_wrong_items_and_chance_for_random(monkeypatch):
    import rec_core.lcrec.evaluate as ev

    items = _keyword_items()
    kw = [set(k) for k in items.keywords]
    monkeypatch.setattr(ev, "TrieLogitsProcessor", lambda trie: None)  # the stub decoder below needs no trie

    def answer(rule):
        def fake(model, tok, prompts, trie, k, proc, device="cpu"):
            return [rule(p) for p in prompts]

        return fake

    def query_of(prompt):  # the keywords the search prompt names ("Find an item that matches: a, b.")
        return set(prompt.split("matches: ")[1].split(".")[0].split(", "))

    monkeypatch.setattr(ev, "beam_search_sids", answer(lambda p: [j for j in range(10) if query_of(p) <= kw[j]][:2]))
    oracle = ev.search_precision(None, None, _Trie(), items, list(range(10)), k=2)
    assert oracle["precision"] == 1.0 and oracle["queries"] == 10
    assert oracle["chance"] == pytest.approx((8 * 0.6 + 2 * 0.2) / 10)
    monkeypatch.setattr(
        ev, "beam_search_sids", answer(lambda p: [j for j in range(10) if not query_of(p) <= kw[j]][:2])
    )
    assert ev.search_precision(None, None, _Trie(), items, list(range(8)), k=2)["precision"] == 0.0
    rng = np.random.default_rng(0)
    monkeypatch.setattr(ev, "beam_search_sids", answer(lambda p: rng.permutation(10)[:2].tolist()))
    rand = ev.search_precision(None, None, _Trie(), items, list(range(10)) * 200, k=2)
    assert rand["precision"] == pytest.approx(rand["chance"], abs=0.03)  # a model that ignores the query: chance


def test_keyword_f1():
    from rec_core.lcrec.evaluate import keyword_f1

    assert keyword_f1("Comedy, Drama, War", "drama, comedy, war") == 1.0
    assert keyword_f1("Comedy", "Comedy, Drama") == pytest.approx(2 / 3)
    assert keyword_f1("", "Comedy") == 0.0 and keyword_f1("Horror", "Comedy") == 0.0


def test_preference_scores_perfect_answers_and_the_constant_baseline(monkeypatch):
    import rec_core.lcrec.evaluate as ev

    items = _keyword_items()
    histories = [[0, 1, 2], [4, 5, 8], [8, 9, 0]]
    targets = [ev.preference_target(h, items) for h in histories]
    monkeypatch.setattr(ev, "generate_texts", lambda m, t, prompts, n, device="cpu": list(targets))
    perfect = ev.preference_scores(None, None, items, histories)
    assert perfect["f1"] == 1.0 and perfect["users"] == 3 and 0 < perfect["f1_baseline"] < 1
    monkeypatch.setattr(ev, "generate_texts", lambda m, t, prompts, n, device="cpu": ["nothing"] * len(prompts))
    assert ev.preference_scores(None, None, items, histories)["f1"] == 0.0
