import json

import numpy as np
import pandas as pd
import pytest

from rec_core.rater.structured import LeakagePolicy, filter_reliable, structured_features
from rec_core.rater.tmdb import parse_json_names


def _movies(n=6):
    genres = [
        json.dumps([{"id": 18, "name": "Drama"}]),
        json.dumps([{"id": 35, "name": "Comedy"}, {"id": 18, "name": "Drama"}]),
    ]
    return pd.DataFrame(
        {
            "item_id": np.arange(n) + 100,
            "title": [f"Movie {i}" for i in range(n)],
            "budget": [0, 1_000_000, 5_000_000, 0, 2_000, 10],
            "revenue": [0, 3_000_000, 1, 0, 5, 6],
            "runtime": [0, 100, 120, 90, np.nan, 80],
            "release_date": ["2001-05-04", "1999-12-31", None, "bad", "2010-01-01", "2012-02-02"],
            "genres": [genres[i % 2] for i in range(n)],
            "keywords": ["[]", "not json", None, "[]", "[]", "[]"],
            "production_companies": ["[]"] * n,
            "production_countries": [json.dumps([{"name": "United States of America"}])] * n,
            "spoken_languages": ["[]"] * n,
            "original_language": ["en", "fr", "en", "en", "ja", "en"],
            "overview": ["a b c", None, "x", "y y", "z", "w"],
            "tagline": [None, "t", None, None, "t", None],
            "homepage": [None] * n,
            "popularity": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "vote_count": [10, 100, 50, 49, 1000, 0],
            "vote_average": [5.0, 6.0, 7.0, 8.0, 6.5, 0.0],
        }
    )


def test_pre_release_policy_has_no_post_release_signal():
    f = structured_features(_movies())
    assert not any(c in f.columns for c in ("log_vote_count", "log_popularity", "log_revenue"))


def test_public_anchor_policy_adds_vote_count_and_popularity():
    f = structured_features(_movies(), LeakagePolicy.public_anchor)
    assert {"log_vote_count", "log_popularity", "log_revenue"} <= set(f.columns)
    np.testing.assert_allclose(f["log_vote_count"], np.log1p([10, 100, 50, 49, 1000, 0]))


def test_unknowns_become_nan_and_lists_are_parsed():
    f = structured_features(_movies())
    assert np.isnan(f.loc[0, "log_budget"]) and np.isnan(f.loc[0, "runtime"])  # TMDB zeros mean unknown
    assert np.isnan(f.loc[2, "release_year"]) and np.isnan(f.loc[3, "release_year"])
    assert f["genre_drama"].tolist() == [1.0] * 6
    assert f["genre_comedy"].tolist() == [0.0, 1.0] * 3
    assert f.loc[1, "n_keywords"] == 0  # malformed JSON cell -> empty list, not a crash
    assert f["us_production"].eq(1.0).all()


def test_filter_reliable_uses_threshold():
    kept = filter_reliable(_movies(), 50)
    assert sorted(kept["vote_count"]) == [50, 100, 1000]


@pytest.mark.parametrize("cell,expect", [("[]", []), (None, []), ("{broken", []), ('[{"name": "A"}, {"x": 1}]', ["A"])])
def test_parse_json_names(cell, expect):
    assert parse_json_names(cell) == expect
