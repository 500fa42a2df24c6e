import numpy as np
import pandas as pd

from rec_core.baselines import MostPopular
from rec_core.evaluation import ScoreRanker, evaluate_ranker
from rec_core.metrics import ranking_report


class FixedRanker:
    def __init__(self, lists):
        self.lists = lists

    def recommend(self, users, histories, k):
        return [self.lists[u][:k] for u in users]


def frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "history", "target"])


def test_list_and_score_rankers_give_identical_metrics_for_the_same_ranking():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(30, 50))
    targets = rng.integers(50, size=30)
    f = frame([(u, [int(rng.integers(50))], int(targets[u])) for u in range(30)])
    by_scores = evaluate_ranker(ScoreRanker(lambda users, h: scores[np.asarray(users)]), f)
    lists = {u: np.argsort(-scores[u]).tolist() for u in range(30)}
    by_lists = evaluate_ranker(FixedRanker(lists), f)
    assert by_scores.metrics == by_lists.metrics
    # Full-ranking ranks agree with the score-based rank computation in rec_core.metrics.
    from rec_core.metrics import ranks_from_scores

    full = ranks_from_scores(scores, targets)
    expect = ranking_report(np.where(full < 10, full, -1))
    assert by_scores.metrics == expect


def test_hand_computed_values():
    f = frame([(0, [], 3), (1, [], 9), (2, [], 7)])
    lists = {0: [3, 1, 2], 1: [0, 1, 2, 3, 4, 5, 9], 2: [1]}
    m = evaluate_ranker(FixedRanker(lists), f).metrics
    assert np.isclose(m["recall@5"], 1 / 3)
    assert np.isclose(m["recall@10"], 2 / 3)
    assert np.isclose(m["ndcg@10"], (1.0 + 1 / np.log2(8)) / 3)


def test_exclude_history_drops_history_items_for_every_model():
    f = frame([(0, [5, 6], 3)])
    r = FixedRanker({0: [5, 6, 3] + list(range(10, 40))})
    assert evaluate_ranker(r, f).ranks.tolist() == [2]
    assert evaluate_ranker(r, f, exclude_history=True).ranks.tolist() == [0]


def test_most_popular_through_the_harness():
    pop = MostPopular(5).fit({0: [1, 1, 2], 1: [1, 3]})
    f = frame([(0, [1], 1), (1, [3], 2), (2, [], 4)])
    res = evaluate_ranker(ScoreRanker(pop.scores), f, ks=(1, 5))
    assert res.ranks.tolist() == [0, 1, 4]


def test_constant_scores_rank_at_chance_not_first():
    """Ties must not go in the target's favour: a collapsed model (equal scores for all items) scores at chance."""
    from rec_core.metrics import ranks_from_scores, recall_at_k

    n_rows, n_items = 4000, 100
    ties: list[int] = []
    ranks = ranks_from_scores(np.zeros((n_rows, n_items)), np.arange(n_rows) % n_items, tie_counts=ties)
    assert set(ties) == {n_items - 1}
    assert abs(recall_at_k(ranks, 10) - 0.10) < 0.02  # chance: 10 of 100 places
    assert 0 <= ranks.min() and ranks.max() <= n_items - 1 and abs(ranks.mean() - (n_items - 1) / 2) < 2
    # A masked item is never a tie; the same seed gives the same ranks.
    masked = ranks_from_scores(np.zeros((2, 5)), np.array([0, 0]), exclude=[[1, 2, 3, 4], []])
    assert (
        masked[0] == 0 and (masked == ranks_from_scores(np.zeros((2, 5)), np.array([0, 0]), [[1, 2, 3, 4], []])).all()
    )


def test_strict_ranks_are_unchanged_without_ties():
    from rec_core.metrics import ranks_from_scores

    scores = np.array([[0.1, 0.9, 0.5, 0.3], [0.4, 0.2, 0.8, 0.6]])
    assert ranks_from_scores(scores, np.array([2, 0])).tolist() == [1, 2]
