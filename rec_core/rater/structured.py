"""Structured (non-GenAI) features from TMDB 5000, under an explicit leakage policy.

Post-release signals (vote_count, popularity, revenue) are known only after audiences have rated the
movie, so they are off by default. `LeakagePolicy.public_anchor` turns vote_count and popularity on
(the setting of the public RMSE ~ 0.65 anchor) so the comparison with that number is like for like.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
import pandas as pd

from rec_core.rater.tmdb import parse_json_names, safe_log1p

POST_RELEASE = ("vote_count", "popularity", "revenue")


class LeakagePolicy(str, Enum):
    pre_release = "pre_release"  # no post-release signal (default)
    with_revenue = "with_revenue"  # + revenue (box office is post-release but often used)
    public_anchor = "public_anchor"  # + vote_count, popularity, revenue: like the public anchor


def allowed_post_release(policy: LeakagePolicy) -> tuple[str, ...]:
    return {
        LeakagePolicy.pre_release: (),
        LeakagePolicy.with_revenue: ("revenue",),
        LeakagePolicy.public_anchor: ("vote_count", "popularity", "revenue"),
    }[LeakagePolicy(policy)]


def filter_reliable(movies: pd.DataFrame, min_votes: int) -> pd.DataFrame:
    """Keep movies whose vote_average rests on at least `min_votes` votes (the target's reliability)."""
    vc = pd.to_numeric(movies["vote_count"], errors="coerce").fillna(0)
    return movies[vc >= min_votes].reset_index(drop=True)


def structured_features(
    movies: pd.DataFrame,
    policy: LeakagePolicy = LeakagePolicy.pre_release,
    top_languages: int = 8,
    top_genres: int = 20,
) -> pd.DataFrame:
    """One row per movie (index aligned with `movies`), column `item_id` + numeric features.

    Missing values stay NaN (XGBoost learns a default direction); zero budgets/runtimes in TMDB mean
    "unknown", so they become NaN too."""
    m = movies
    out = pd.DataFrame({"item_id": m["item_id"].astype("int64").to_numpy()})
    budget = pd.to_numeric(m["budget"], errors="coerce").replace(0, np.nan)
    out["log_budget"] = np.log1p(budget.to_numpy(dtype=float))
    out["runtime"] = pd.to_numeric(m["runtime"], errors="coerce").replace(0, np.nan).to_numpy(dtype=float)
    date = pd.to_datetime(m["release_date"], errors="coerce")
    out["release_year"] = date.dt.year.to_numpy(dtype=float)
    out["release_month"] = date.dt.month.to_numpy(dtype=float)
    out["release_dow"] = date.dt.dayofweek.to_numpy(dtype=float)

    genres = m["genres"].map(parse_json_names)
    keywords = m["keywords"].map(parse_json_names)
    companies = m["production_companies"].map(parse_json_names)
    countries = m["production_countries"].map(parse_json_names)
    spoken = m["spoken_languages"].map(parse_json_names)
    out["n_genres"] = genres.map(len).to_numpy(dtype=float)
    out["n_keywords"] = keywords.map(len).to_numpy(dtype=float)
    out["n_companies"] = companies.map(len).to_numpy(dtype=float)
    out["n_countries"] = countries.map(len).to_numpy(dtype=float)
    out["n_spoken_languages"] = spoken.map(len).to_numpy(dtype=float)
    out["us_production"] = countries.map(lambda c: float("United States of America" in c)).to_numpy()
    out["has_homepage"] = _present(m["homepage"])
    out["has_tagline"] = _present(m["tagline"])
    overview = m["overview"].fillna("").astype(str)
    out["overview_words"] = overview.str.split().map(len).to_numpy(dtype=float)
    out["title_length"] = m["title"].fillna("").astype(str).str.len().to_numpy(dtype=float)

    # Genre multi-hot over the most frequent genres (TMDB has 20).
    counts = pd.Series([g for gs in genres for g in gs]).value_counts()
    for g in counts.index[:top_genres]:
        out[f"genre_{_slug(g)}"] = genres.map(lambda gs, g=g: float(g in gs)).to_numpy()
    # Original language: one-hot of the most common, the rest pooled.
    lang = m["original_language"].fillna("unknown").astype(str)
    for code in lang.value_counts().index[:top_languages]:
        out[f"lang_{code}"] = (lang == code).to_numpy(dtype=float)

    allowed = allowed_post_release(policy)
    if "revenue" in allowed:
        rev = pd.to_numeric(m["revenue"], errors="coerce").replace(0, np.nan)
        out["log_revenue"] = np.log1p(rev.to_numpy(dtype=float))
        out["log_revenue_over_budget"] = out["log_revenue"] - out["log_budget"]
    if "vote_count" in allowed:
        out["log_vote_count"] = safe_log1p(m["vote_count"])
    if "popularity" in allowed:
        out["log_popularity"] = safe_log1p(m["popularity"])
    return out


def _present(col: pd.Series) -> np.ndarray:
    """1.0 where a text cell is non-empty (the data layer stores a missing tagline as "")."""
    return col.fillna("").astype(str).str.strip().ne("").to_numpy(dtype=float)


def _slug(name: str) -> str:
    return "".join(ch.lower() if ch.isalnum() else "_" for ch in name).strip("_")
