import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.playlist.corpus import CorpusConfig, build_corpus, session_title, split_by_text


def frames():
    items = pd.DataFrame(
        {
            "item_id": [1, 2, 3, 4, 5, 6],
            "title": [f"M{i}" for i in range(1, 7)],
            "genres": [["Comedy"], ["Comedy", "Romance"], ["Horror"], ["Comedy"], ["Horror", "Thriller"], ["Drama"]],
            "tags": [["funny"], ["funny", "cute"], [], ["funny"], ["gore"], []],
        }
    )
    inter = pd.DataFrame(
        {
            "user_id": [1] * 6 + [2] * 3,
            "item_id": [1, 2, 4, 3, 5, 6, 1, 2, 6],
            "timestamp": [10, 20, 30, 10_000, 10_010, 10_020, 5, 6, 7],
            "rating": [5.0, 4.0, 4.5, 4.0, 4.0, 1.0, 4.0, 4.0, 4.0],
        }
    )
    tags = pd.DataFrame(
        {
            "user_id": [1, 1, 2, 2, 1],
            "item_id": [4, 1, 2, 4, 3],
            "tag": ["Funny ", "funny", "FUNNY", "funny", "gore"],
            "timestamp": [1, 2, 3, 4, 5],
        }
    )
    return inter, items, tags


def test_tag_lists_and_sessions():
    inter, items, tags = frames()
    cfg = CorpusConfig(min_items=2, max_items=3, session_gap_s=3600, genre_share=0.6, test_frac=0.3, valid_frac=0.0)
    c = build_corpus(inter, items, tags, cfg)
    rows = {}
    for r in c.pairs.itertuples():
        rows.setdefault((r.source, r.text), []).append(list(r.items))
    # tag 'funny' (case/space-normalised): movies in order of first tagging, deduplicated
    assert rows[("tag", "funny")] == [[4, 1, 2]]
    # 'gore' has one movie -> dropped as too short
    assert ("tag", "gore") not in rows
    assert c.dropped["tag/too_short"] == 1
    # user 1: liked 1,2,4 (session A), then 3,5 after a gap (session B); 6 is not liked
    # user 2: liked 1,2,6 in one session, also titled by its shared genre and shared tag
    assert rows[("session", "comedy funny")] == [[1, 2, 4], [1, 2, 6]]
    assert rows[("session", "horror")] == [[3, 5]]
    # a text lives in exactly one split
    assert c.pairs.groupby("text")["split"].nunique().max() == 1
    assert c.dropped["session/not_liked_ratings"] == 1


def test_session_title_words():
    genres = {1: ["Drama", "War"], 2: ["Drama"], 3: ["War", "Action"]}
    tags = {1: ["sad"], 2: ["Sad"], 3: []}
    cfg = CorpusConfig(genre_share=0.5)
    assert session_title([1, 2, 3], genres, tags, {"Drama": 10, "War": 2, "Action": 5}, cfg) == "drama war sad"
    assert session_title([3], {3: []}, {}, {}, cfg) is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abc ", min_size=1, max_size=4), min_size=1, max_size=40), st.integers(0, 100))
def test_split_holds_out_whole_texts(texts, seed):
    where = split_by_text(texts, CorpusConfig(test_frac=0.2, valid_frac=0.1), seed)
    assert set(where) == set(texts)
    assert "test" in where.values()
    assert set(where.values()) <= {"train", "valid", "test"}
