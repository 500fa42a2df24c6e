"""Read the TMDB 5000 movies table and the poster manifest.

The structured features need TMDB's raw columns (budget, revenue, JSON lists of genres / keywords /
companies, vote_count ...). `rec_core.data.load_dataset("tmdb_5000")` is used when its items frame
carries them; otherwise the official CSV is read from the mirror (same file the registry pulls).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

TMDB_FILE = "tmdb_5000/tmdb_5000_movies.csv"
POSTER_MANIFEST = "movie_posters/posters_manifest.csv"
ML_LINKS = "ml-latest-small/links.csv"

# Columns the rater needs from the raw table.
RAW_COLUMNS = [
    "id", "title", "budget", "revenue", "runtime", "release_date", "genres", "keywords",
    "production_companies", "production_countries", "spoken_languages", "original_language",
    "overview", "tagline", "homepage", "popularity", "vote_count", "vote_average",
]


class TmdbDataError(ValueError):
    """The TMDB table is missing or lacks a column the rater needs (the message names it)."""


def read_tmdb_csv(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise TmdbDataError(f"TMDB 5000 table not found: {path} (run `genrec data pull tmdb_5000`)")
    df = pd.read_csv(path)
    missing = [c for c in RAW_COLUMNS if c not in df.columns]
    if missing:
        raise TmdbDataError(f"{path} lacks column(s) {missing}")
    df = df[RAW_COLUMNS].drop_duplicates("id").reset_index(drop=True)
    df["id"] = df["id"].astype("int64")
    return df


def load_tmdb_movies(data_dir: Path | None, mirror: Path | None) -> pd.DataFrame:
    """The raw TMDB movies with `item_id` (= TMDB id). Prefers the project data layer when it keeps the
    raw columns; falls back to the mirror's CSV."""
    try:  # the data layer may not be merged yet, or may normalise away the columns we need
        from rec_core.data import load_dataset

        ds = load_dataset("tmdb_5000", data_dir=data_dir, mirror=mirror)
        items = ds.items
        if all(c in items.columns for c in RAW_COLUMNS if c != "id"):
            df = items.copy()
            df["id"] = df["item_id"].astype("int64")
            return df.assign(item_id=df["id"])
    except ImportError:
        pass
    if mirror is None:
        raise TmdbDataError("no data mirror configured and the data layer did not provide tmdb_5000 (set mirror=...)")
    df = read_tmdb_csv(Path(mirror) / TMDB_FILE)
    return df.assign(item_id=df["id"])


def parse_json_names(value) -> list[str]:
    """TMDB stores lists as JSON `[{"id": .., "name": ..}]`; broken or empty cells give []."""
    if not isinstance(value, str) or not value.strip():
        return []
    try:
        items = json.loads(value)
    except json.JSONDecodeError:
        return []
    return [str(x["name"]) for x in items if isinstance(x, dict) and "name" in x]


def load_poster_index(mirror: Path) -> tuple[pd.DataFrame, dict]:
    """Posters keyed by MovieLens movieId, joined to TMDB ids through ml-latest-small links.

    Returns (frame item_id=tmdbId, movie_id, image_path) and counts for the report."""
    mirror = Path(mirror)
    manifest_path = mirror / POSTER_MANIFEST
    links_path = mirror / ML_LINKS
    for p in (manifest_path, links_path):
        if not p.exists():
            raise TmdbDataError(f"poster index needs {p}, which does not exist")
    man = pd.read_csv(manifest_path)
    links = pd.read_csv(links_path).dropna(subset=["tmdbId"])
    links["tmdbId"] = links["tmdbId"].astype("int64")
    df = man[["file", "movieId"]].merge(links[["movieId", "tmdbId"]], on="movieId", how="left")
    unlinked = int(df["tmdbId"].isna().sum())
    df = df.dropna(subset=["tmdbId"])
    out = pd.DataFrame(
        {
            "item_id": df["tmdbId"].astype("int64").to_numpy(),
            "movie_id": df["movieId"].astype("int64").to_numpy(),
            "image_path": [str(mirror / "movie_posters" / f) for f in df["file"]],
        }
    ).drop_duplicates("item_id")
    return out.reset_index(drop=True), {"posters_in_manifest": int(len(man)), "posters_unlinked": unlinked}


def safe_log1p(x: pd.Series) -> np.ndarray:
    return np.log1p(np.clip(pd.to_numeric(x, errors="coerce").to_numpy(dtype=float), 0, None))
