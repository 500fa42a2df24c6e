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
