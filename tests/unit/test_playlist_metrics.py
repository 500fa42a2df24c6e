import math

import pytest

from rec_core.playlist.baselines import WordPopularity, popularity_list
from rec_core.playlist.metrics import list_metrics, list_ndcg_at_k, list_recall_at_k


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
