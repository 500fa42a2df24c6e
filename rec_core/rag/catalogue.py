"""One movie catalogue from MovieLens (ml-latest-small) and TMDB 5000.

Item ids: a MovieLens movie keeps its `movieId`; a TMDB movie that MovieLens does not have gets
`TMDB_ID_OFFSET + tmdb id`, so ids never collide and MovieLens behaviour (ratings) maps onto the
catalogue without a lookup table. A movie in both sources takes its overview and keywords from TMDB
and its genres, tags and rating counts from MovieLens.
"""
from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

TMDB_ID_OFFSET = 10_000_000
CATALOGUE_COLUMNS = ["item_id", "title", "year", "genres", "overview", "tags", "source", "popularity", "tmdb_id"]
_YEAR_RE = re.compile(r"\s*\((\d{4})(?:[-–]\d{0,4})?\)\s*$")


def split_title_year(raw: str) -> tuple[str, int | None]:
    """'Toy Story (1995)' -> ('Toy Story', 1995). Titles without a year come back unchanged."""
    raw = str(raw).strip()
    m = _YEAR_RE.search(raw)
    if not m:
        return raw, None
    return raw[: m.start()].strip(), int(m.group(1))


def display_title(title: str) -> str:
    """MovieLens writes 'Matrix, The'; people write 'The Matrix'."""
    m = re.match(r"^(.*?), (The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El)( \(.*\))?$", title)
    if m:
        sep = "" if m.group(2).endswith("'") else " "
        return f"{m.group(2)}{sep}{m.group(1)}{m.group(3) or ''}"
    return title


def _json_names(cell) -> list[str]:
    if not isinstance(cell, str) or not cell.strip():
        return []
    try:
        return [d["name"] for d in json.loads(cell) if isinstance(d, dict) and "name" in d]
    except (json.JSONDecodeError, TypeError):
        return []


def build_catalogue(
    ml_movies: pd.DataFrame | None,
    tmdb_movies: pd.DataFrame | None,
    ml_tags: pd.DataFrame | None = None,
    ml_links: pd.DataFrame | None = None,
    ml_ratings: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Raw source frames (official column names) -> catalogue frame with CATALOGUE_COLUMNS.

    ml_movies: movieId,title,genres ('A|B'); ml_tags: userId,movieId,tag; ml_links: movieId,tmdbId;
    ml_ratings: userId,movieId,rating (only counted, for popularity); tmdb_movies: id,title,overview,genres(JSON),
    keywords(JSON),release_date,vote_count.
    """
    rows: dict[int, dict] = {}
    tmdb_to_ml: dict[int, int] = {}
    if ml_movies is not None:
        tags = {}
        if ml_tags is not None and len(ml_tags):
            t = ml_tags.dropna(subset=["tag"]).copy()
            t["tag"] = t["tag"].astype(str).str.strip().str.lower()
            # most frequent tags first, each once
            tags = (
                t.groupby(["movieId", "tag"]).size().reset_index(name="n").sort_values(["movieId", "n"], ascending=[True, False])
                .groupby("movieId")["tag"].apply(lambda s: ", ".join(list(s)[:15])).to_dict()
            )
        pop = ml_ratings.groupby("movieId").size().to_dict() if ml_ratings is not None else {}
        for r in ml_movies.itertuples(index=False):
            title, year = split_title_year(r.title)
            genres = "" if str(r.genres) == "(no genres listed)" else ", ".join(str(r.genres).split("|"))
            rows[int(r.movieId)] = dict(
                item_id=int(r.movieId), title=display_title(title), year=year, genres=genres, overview="",
                tags=tags.get(r.movieId, ""), source="movielens", popularity=float(pop.get(r.movieId, 0)), tmdb_id=None,
            )
        if ml_links is not None:
            for r in ml_links.dropna(subset=["tmdbId"]).itertuples(index=False):
                if int(r.movieId) in rows:
                    tmdb_to_ml[int(r.tmdbId)] = int(r.movieId)
                    rows[int(r.movieId)]["tmdb_id"] = int(r.tmdbId)
    if tmdb_movies is not None:
        for r in tmdb_movies.itertuples(index=False):
            tid = int(r.id)
            overview = r.overview if isinstance(r.overview, str) else ""
            keywords = ", ".join(_json_names(getattr(r, "keywords", "")))
            genres = ", ".join(_json_names(r.genres))
            year = int(str(r.release_date)[:4]) if isinstance(r.release_date, str) and r.release_date[:4].isdigit() else None
            if tid in tmdb_to_ml:
                row = rows[tmdb_to_ml[tid]]
                row["overview"] = overview
                row["tags"] = ", ".join(x for x in (row["tags"], keywords) if x)
                row["source"] = "both"
                row["genres"] = row["genres"] or genres
            else:
                iid = TMDB_ID_OFFSET + tid
                rows[iid] = dict(
                    item_id=iid, title=str(r.title), year=year, genres=genres, overview=overview, tags=keywords,
                    source="tmdb", popularity=float(getattr(r, "vote_count", 0) or 0), tmdb_id=tid,
                )
    df = pd.DataFrame(list(rows.values()), columns=CATALOGUE_COLUMNS)
    df["year"] = df["year"].astype("Int64")
    df["tmdb_id"] = df["tmdb_id"].astype("Int64")
    return df.sort_values("item_id").reset_index(drop=True)


def movie_text(row) -> str:
    """The text that is embedded for a movie: title, year, genres, tags, overview."""
    get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
    year = get("year")
    head = f"{get('title')}" + (f" ({int(year)})" if year is not None and not pd.isna(year) else "")
    parts = [head]
    for label, key in (("Genres", "genres"), ("Tags", "tags"), ("Plot", "overview")):
        v = get(key)
        if isinstance(v, str) and v.strip():
            parts.append(f"{label}: {v.strip()}")
    return ". ".join(parts)


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def with_text(catalogue: pd.DataFrame) -> pd.DataFrame:
    out = catalogue.copy()
    out["text"] = [movie_text(r) for r in out.to_dict("records")]
    out["text_hash"] = [text_hash(t) for t in out["text"]]
    return out


# --------------------------------------------------------------------------------------------
# Reading the official files. TEMPORARY until `rec_core.data.load_dataset` lands on main: this
# reads the raw CSVs from the mirror folder; `load_movie_sources` will then call load_dataset.

def read_raw_sources(mirror: Path) -> dict[str, pd.DataFrame]:
    mirror = Path(mirror)
    ml = mirror / "ml-latest-small"
    tm = mirror / "tmdb_5000" / "tmdb_5000_movies.csv"
    out = {}
    for name, path in (("ml_movies", ml / "movies.csv"), ("ml_tags", ml / "tags.csv"), ("ml_links", ml / "links.csv"),
                       ("ml_ratings", ml / "ratings.csv"), ("tmdb_movies", tm)):
        if not path.exists():
            raise FileNotFoundError(f"movie source file missing: {path} (pull it with `genrec data pull`)")
        out[name] = pd.read_csv(path)
    return out


def read_uci_sentiment(mirror: Path) -> pd.DataFrame:
    """UCI sentiment labelled sentences -> text, label (0/1), source. QUOTE_NONE: the files hold bare quotes."""
    folder = Path(mirror) / "uci_sentiment_labelled_sentences"
    frames = []
    for src in ("imdb", "amazon_cells", "yelp"):
        path = folder / f"{src}_labelled.txt"
        if not path.exists():
            raise FileNotFoundError(f"sentiment file missing: {path}")
        df = pd.read_csv(path, sep="\t", header=None, names=["text", "label"], quoting=csv.QUOTE_NONE, dtype={"text": str})
        bad = df["label"].isna() | ~df["label"].isin([0, 1])
        df = df[~bad].copy()
        df["label"] = df["label"].astype(np.int64)
        df["text"] = df["text"].str.strip()
        df["source"] = src.split("_")[0]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
