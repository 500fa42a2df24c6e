import numpy as np

from rec_core.rater.keywords import AESTHETIC_VOCAB, keyword_matrix, parse_keywords


def test_messy_reply_maps_onto_vocabulary():
    reply = "1. Dark\n2. moody; Neon-lit city, high contrast and a lone silhouette. Spaceship!"
    kws, unmatched = parse_keywords(reply)
    assert {"dark", "moody", "high contrast", "silhouette"} <= set(kws)
    assert all(k in AESTHETIC_VOCAB for k in kws)
    assert "spaceship!" in unmatched or "spaceship" in unmatched


def test_empty_and_garbage_replies_give_no_keywords():
    assert parse_keywords("")[0] == []
    assert parse_keywords("v.Wkdm|x0")[0] == []


def test_keyword_matrix_multi_hot_and_idf():
    m = keyword_matrix([["dark", "moody"], ["dark"], []], tfidf=False)
    assert m.shape == (3, len(AESTHETIC_VOCAB))
    assert m.sum() == 3 and m[2].sum() == 0
    t = keyword_matrix([["dark", "moody"], ["dark"], []], tfidf=True)
    i_dark, i_moody = AESTHETIC_VOCAB.index("dark"), AESTHETIC_VOCAB.index("moody")
    assert t[0, i_moody] > t[0, i_dark] > 0  # the rarer keyword weighs more
    assert np.all(t[2] == 0)
