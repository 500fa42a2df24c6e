"""The playlist training recipe: genre pairs (never a held-out text) and shuffled targets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.playlist.corpus import CorpusConfig, session_title
from rec_core.playlist.training import ShuffledTargets, genre_pairs

GENRES = {
    1: ["Comedy"],
    2: ["Comedy", "Romance"],
    3: ["Horror"],
    4: ["Comedy", "Romance"],
    5: ["Horror", "Thriller"],
    6: ["Comedy"],
    7: ["Romance"],
}
TRAIN = [("a", [1, 2, 4]), ("b", [2, 4, 6]), ("c", [4, 1]), ("d", [3, 5, 7]), ("e", [6, 7])]


def test_genre_pairs_rank_by_training_popularity_and_skip_held_out_texts():
    pairs = dict(genre_pairs(TRAIN, GENRES, held_out_texts={"comedy"}, length=3, min_items=2))
    # popularity in training lists: 4 (3 lists) > 1, 2, 6, 7 (2 lists; ties by id) > 3, 5
    assert "comedy" not in pairs  # a held-out text is never made
    assert pairs["comedy romance"] == [4, 2]  # both genres required, most popular first
    assert pairs["romance"] == [4, 2, 7]  # cut to `length`
    assert "horror" in pairs and "horror thriller" not in pairs  # 1 movie < min_items
    assert "comedy horror" not in pairs  # no movie has both


def test_genre_pair_texts_are_written_like_session_titles():
    # The same genre set gives the same text as a session titled by it, so the model sees one vocabulary.
    title = session_title([2, 4], GENRES, {}, {"Comedy": 3, "Romance": 3}, CorpusConfig(genre_share=0.5))
    assert title in dict(genre_pairs(TRAIN, GENRES, set(), length=3, min_items=1))


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.lists(st.integers(0, 50), min_size=1, max_size=10, unique=True), min_size=1, max_size=8),
    st.integers(0, 99),
)
def test_shuffled_targets_keep_each_list_as_a_set(lists, seed):
    seen = []
    wrap = ShuffledTargets(lambda rows: seen.extend(rows) or {"n": len(rows)}, seed)
    assert wrap([(f"t{i}", lst) for i, lst in enumerate(lists)]) == {"n": len(lists)}
    for (_text, got), lst in zip(seen, lists):
        assert sorted(got) == sorted(lst)
    # Same seed, same orders (a resumed run repeats them); the input lists are not mutated.
    again = []
    ShuffledTargets(lambda rows: again.extend(rows), seed)([(f"t{i}", lst) for i, lst in enumerate(lists)])
    assert again == seen


def test_shuffled_targets_change_the_order():
    wrap = ShuffledTargets(lambda rows: rows, seed=0)
    orders = {tuple(wrap([("t", list(range(8)))])[0][1]) for _ in range(20)}
    assert len(orders) > 10
