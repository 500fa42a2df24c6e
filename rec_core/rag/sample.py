"""A small hand-written movie catalogue and labelled sentences: for tests, docs and trying the chat
without pulling any dataset. Overviews are short descriptions written for this project."""

from __future__ import annotations

import pandas as pd

_MOVIES = [
    (
        1,
        "The Matrix",
        1999,
        "Action, Sci-Fi",
        "A hacker learns that reality is a simulation run by machines and joins the rebels fighting them.",
    ),
    (
        2,
        "Alien",
        1979,
        "Horror, Sci-Fi",
        "The crew of a space freighter is hunted by a deadly alien creature aboard their ship.",
    ),
    (
        3,
        "Aliens",
        1986,
        "Action, Sci-Fi",
        "Ripley returns to the alien planet with space marines to fight a swarm of alien creatures.",
    ),
    (
        4,
        "Blade Runner",
        1982,
        "Sci-Fi, Thriller",
        "In a dark future city a detective hunts rogue androids who want more life.",
    ),
    (
        5,
        "Terminator 2: Judgment Day",
        1991,
        "Action, Sci-Fi",
        "A cyborg from the future protects a boy from a liquid-metal killer machine.",
    ),
    (
        6,
        "Star Wars",
        1977,
        "Adventure, Sci-Fi",
        "A farm boy joins rebels, a smuggler and a princess to fight the galactic empire in space.",
    ),
    (
        7,
        "Interstellar",
        2014,
        "Drama, Sci-Fi",
        "Astronauts travel through a wormhole in space to find a new home planet for humanity.",
    ),
    (
        8,
        "Toy Story",
        1995,
        "Animation, Children, Comedy",
        "A cowboy doll feels threatened when a new space ranger toy arrives in a boy's bedroom.",
    ),
    (
        9,
        "Finding Nemo",
        2003,
        "Animation, Children, Comedy",
        "A clownfish father crosses the ocean to find his lost son, with a forgetful friend.",
    ),
    (
        10,
        "Shrek",
        2001,
        "Animation, Children, Comedy",
        "A grumpy ogre sets out with a talking donkey to rescue a princess in a fairy-tale kingdom.",
    ),
    (
        11,
        "Frozen",
        2013,
        "Animation, Children, Musical",
        "A princess sets off on a snowy journey with a reindeer and a snowman to find her sister the ice queen.",
    ),
    (
        12,
        "Titanic",
        1997,
        "Drama, Romance",
        "A poor artist and a rich young woman fall in love aboard the doomed ocean liner.",
    ),
    (
        13,
        "The Notebook",
        2004,
        "Drama, Romance",
        "A summer love story between a poor young man and a rich girl, remembered decades later.",
    ),
    (
        14,
        "Pretty Woman",
        1990,
        "Comedy, Romance",
        "A wealthy businessman hires a charming woman for a week and they fall in love.",
    ),
    (
        15,
        "Notting Hill",
        1999,
        "Comedy, Romance",
        "A London bookshop owner falls in love with a famous Hollywood actress.",
    ),
    (
        16,
        "The Shining",
        1980,
        "Horror",
        "A writer becomes caretaker of an isolated snowbound hotel and descends into murderous madness.",
    ),
    (
        17,
        "Halloween",
        1978,
        "Horror",
        "A masked killer escapes an asylum and stalks teenage babysitters on Halloween night.",
    ),
    (18, "The Exorcist", 1973, "Horror", "Two priests try to save a young girl possessed by a demon."),
    (
        19,
        "The Godfather",
        1972,
        "Crime, Drama",
        "The aging patriarch of a mafia family hands control of his crime empire to his reluctant son.",
    ),
    (
        20,
        "Goodfellas",
        1990,
        "Crime, Drama",
        "The rise and fall of a mob associate in the New York mafia over three decades.",
    ),
    (
        21,
        "Pulp Fiction",
        1994,
        "Crime, Thriller",
        "Intertwined stories of hitmen, a boxer and gangsters in Los Angeles.",
    ),
    (22, "Heat", 1995, "Action, Crime", "A detective pursues a crew of professional bank robbers through Los Angeles."),
    (
        23,
        "Superbad",
        2007,
        "Comedy",
        "Two awkward high-school friends try to get alcohol for a party before graduation.",
    ),
    (
        24,
        "The Hangover",
        2009,
        "Comedy",
        "Three friends wake up after a bachelor party in Las Vegas with no memory and a missing groom.",
    ),
    (
        25,
        "Groundhog Day",
        1993,
        "Comedy, Fantasy, Romance",
        "A cynical weatherman relives the same day over and over in a small town.",
    ),
    (
        26,
        "The Lord of the Rings: The Fellowship of the Ring",
        2001,
        "Adventure, Fantasy",
        "A hobbit and his companions set out on a quest to destroy a powerful ring in a world of elves and orcs.",
    ),
    (
        27,
        "Harry Potter and the Sorcerer's Stone",
        2001,
        "Adventure, Children, Fantasy",
        "An orphan boy learns he is a wizard and starts his first year at a school of magic.",
    ),
    (
        28,
        "Jurassic Park",
        1993,
        "Adventure, Sci-Fi",
        "Cloned dinosaurs escape in an island theme park and hunt the visitors.",
    ),
    (29, "Casablanca", 1942, "Drama, Romance", "In wartime Morocco a nightclub owner meets the woman he loved again."),
    (
        30,
        "Up",
        2009,
        "Animation, Adventure, Children",
        "An old man ties balloons to his house and flies to South America with a boy scout.",
    ),
]

_POSITIVE = [
    "I loved it",
    "what a great film",
    "absolutely wonderful",
    "brilliant acting and a great story",
    "I really enjoyed it",
    "one of my favourite movies",
    "amazing and beautiful",
    "excellent, I would watch it again",
    "so much fun",
    "a masterpiece",
]
_NEGATIVE = [
    "I hated it",
    "what a terrible film",
    "absolutely awful",
    "boring and badly acted",
    "I really disliked it",
    "one of the worst movies",
    "dull and ugly",
    "horrible, I walked out",
    "a waste of time",
    "a disaster",
]


def sample_movies() -> pd.DataFrame:
    df = pd.DataFrame(_MOVIES, columns=["item_id", "title", "year", "genres", "overview"])
    df["tags"] = ""
    df["source"] = "sample"
    df["popularity"] = 0.5
    df["tmdb_id"] = pd.array([None] * len(df), dtype="Int64")
    df["year"] = df["year"].astype("Int64")
    return df


def sample_sentences() -> pd.DataFrame:
    return pd.DataFrame({"text": _POSITIVE + _NEGATIVE, "label": [1] * len(_POSITIVE) + [0] * len(_NEGATIVE)})
