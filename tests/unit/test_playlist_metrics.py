import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.playlist.baselines import TextRetrieval, WordPopularity, popularity_list
from rec_core.playlist.metrics import list_metrics, list_ndcg_at_k, list_recall_at_k, metrics_by_source


def test_recall_divides_by_true_list_size():
    assert list_recall_at_k([1, 2, 3, 4], [2, 4, 9, 8], 2) == pytest.approx(1 / 4)
    assert list_recall_at_k([1, 2, 3, 4], [2, 4, 9, 8], 4) == pytest.approx(2 / 4)


def test_ndcg_hand_computed():
    # hits at positions 1 and 3 (0-based); |T| = 3, K = 4 -> IDCG over 3 positions
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert list_ndcg_at_k([7, 1, 8, 2], [1, 2, 3], 4) == pytest.approx(dcg / idcg)
    assert list_ndcg_at_k([1, 2, 3], [3, 2, 1], 3) == pytest.approx(1.0)  # order inside T is not graded
    assert list_ndcg_at_k([5, 6], [1], 2) == 0.0


def test_repeats_count_once():
    assert list_recall_at_k([1, 1, 1], [1, 2], 3) == pytest.approx(0.5)
    assert list_ndcg_at_k([1, 1], [1, 2], 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_list_metrics_and_popularity():
    m = list_metrics([[1, 2], [3, 4]], [[1], [5]], ks=(1, 2))
    assert m["recall@1"] == pytest.approx(0.5) and m["ndcg@2"] == pytest.approx(0.5)
    assert popularity_list([[3, 1], [1, 2], [1, 3]], 2) == [1, 3]


def test_keyword_popularity_conditions_on_words():
    wp = WordPopularity(["comedy romance", "comedy", "horror"], [[1, 2], [1, 3], [9, 8]])
    assert wp.lists(["dark comedy"], 2) == [[1, 2]]
    assert wp.lists(["horror night"], 1) == [[8]]
    assert wp.lists(["unknown"], 1) == [[1]]  # falls back to overall popularity


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["comedy", "comedy drama", "drama", "dark comedy", "pixar", "drama pixar"]),
            st.lists(st.integers(1, 12), min_size=1, max_size=5),
        ),
        min_size=1,
        max_size=12,
    ),
    st.integers(0, 11),
)
def test_keyword_popularity_leaving_a_text_out_is_fitting_without_its_lists(pairs, pick):
    """A training text scored with its own lists left out = the text held out from training, as at test time."""
    texts, lists = zip(*pairs)
    text = texts[pick % len(texts)]
    kept = [(t, x) for t, x in pairs if t != text]
    without = WordPopularity([t for t, _ in kept], [x for _, x in kept])
    full = WordPopularity(texts, lists)
    assert full.counts(text, leave_own_text_out=True) == without.counts(text)
    assert full.lists([text], 4, leave_own_text_out=True) == without.lists([text], 4)


def test_metrics_by_source_scores_each_pair_with_its_texts_list():
    import pandas as pd

    pairs = pd.DataFrame({"text": ["a", "a", "b"], "items": [[1, 2], [3], [4]], "source": ["tag", "tag", "session"]})
    out = metrics_by_source({"a": [1, 3], "b": [5, 6]}, pairs, ks=(2,))
    assert set(out) == {"all", "session", "tag"}
    assert out["tag"]["recall@2"] == pytest.approx((0.5 + 1.0) / 2) and out["session"]["recall@2"] == 0.0
    assert out["all"]["recall@2"] == pytest.approx(1.5 / 3)


def test_text_retrieval_ranks_by_cosine_with_the_given_encode():
    import numpy as np

    item_emb = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32)  # not normalised: retrieval does it

    def encode(texts):
        return np.array([[0.0, 1.0] if t == "up" else [1.0, 0.1] for t in texts], np.float32)

    assert TextRetrieval(encode, [10, 20, 30], item_emb).lists(["up", "right"], 2) == [[20, 30], [10, 30]]
