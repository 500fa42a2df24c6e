"""BLEU / ROUGE-L and I2I scoring."""

import numpy as np

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
