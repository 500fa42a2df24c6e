"""TMDB 5000 movies and the poster index, through the project data layer (`rec_core.data`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

# Columns the rater needs from the raw table.
RAW_COLUMNS = [
    "id",
    "title",
    "budget",
    "revenue",
    "runtime",
    "release_date",
    "genres",
    "keywords",
    "production_companies",
    "production_countries",
    "spoken_languages",
    "original_language",
    "overview",
    "tagline",
    "homepage",
    "popularity",
    "vote_count",
    "vote_average",
]


class TmdbDataError(ValueError):
    """The TMDB table is missing or lacks a column the rater needs (the message names it)."""


def load_tmdb_movies(data_dir: Path, mirror: Path | None) -> pd.DataFrame:
    """TMDB 5000 movies (`item_id` = TMDB id) through the project data layer, with `image_path` where a
    poster exists. Raises TmdbDataError naming what is missing."""
    from rec_core.data import load_dataset

    try:
        items = load_dataset("tmdb_5000", data_dir=data_dir, mirror=mirror).items
    except Exception as e:  # DataError and friends: re-raise with the rater's context
        raise TmdbDataError(f"cannot load tmdb_5000 (data_dir={data_dir}, mirror={mirror}): {e}") from e
    missing = [c for c in RAW_COLUMNS if c != "id" and c not in items.columns]
    if missing:
        raise TmdbDataError(f"tmdb_5000 items lack column(s) {missing}")
    return items.assign(item_id=items["item_id"].astype("int64"))


def parse_json_names(value) -> list[str]:
    """TMDB stores lists as JSON `[{"id": .., "name": ..}]` (the data layer already parses them into
    lists of names); broken or empty cells give []."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v) for v in value]
    if not isinstance(value, str) or not value.strip():
        return []
    try:
        items = json.loads(value)
    except json.JSONDecodeError:
        return []
    return [str(x["name"]) for x in items if isinstance(x, dict) and "name" in x]


def load_poster_index(data_dir: Path, mirror: Path | None) -> tuple[pd.DataFrame, dict]:
    """Posters keyed by MovieLens movieId, joined to TMDB ids through ml-latest-small's links (tmdbId).

    Returns (frame item_id=tmdbId, movie_id, image_path) and counts for the report."""
    from rec_core.data import load_dataset

    try:
        posters = load_dataset("movie_posters", data_dir=data_dir, mirror=mirror).items
        links = load_dataset("ml-latest-small", data_dir=data_dir, mirror=mirror).items
    except Exception as e:
        raise TmdbDataError(f"cannot load movie_posters / ml-latest-small for the poster join: {e}") from e
    links = links[["item_id", "tmdb_id"]].dropna(subset=["tmdb_id"])
    df = posters[["item_id", "image_path"]].merge(links, on="item_id", how="left")
    unlinked = int(df["tmdb_id"].isna().sum())
    df = df.dropna(subset=["tmdb_id"])
    out = pd.DataFrame(
        {
            "item_id": df["tmdb_id"].astype("int64").to_numpy(),
            "movie_id": df["item_id"].astype("int64").to_numpy(),
            "image_path": df["image_path"].to_numpy(),
        }
    ).drop_duplicates("item_id")
    return out.reset_index(drop=True), {"posters_in_dataset": int(len(posters)), "posters_unlinked": unlinked}


def safe_log1p(x: pd.Series) -> np.ndarray:
    return np.log1p(np.clip(pd.to_numeric(x, errors="coerce").to_numpy(dtype=float), 0, None))
