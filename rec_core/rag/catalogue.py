"""One movie catalogue from MovieLens (ml-latest-small) and TMDB 5000.

Item ids: a MovieLens movie keeps its `movieId`; a TMDB movie that MovieLens does not have gets
`TMDB_ID_OFFSET + tmdb id`, so ids never collide and MovieLens behaviour (ratings) maps onto the
catalogue without a lookup table. A movie in both sources takes its overview and keywords from TMDB
and its genres, tags and rating counts from MovieLens.
"""

from __future__ import annotations

import hashlib
import re

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


def _names(cell) -> list[str]:
    """A list-like cell (list / numpy array of strings) -> clean unique strings."""
    if cell is None or isinstance(cell, float):
        return []
    if isinstance(cell, str):
        return [cell.strip()] if cell.strip() else []
    return list(dict.fromkeys(str(v).strip() for v in cell if str(v).strip()))


def _int_or_none(v):
    return None if v is None or pd.isna(v) else int(v)


def build_catalogue(
    ml_items: pd.DataFrame | None,
    tmdb_items: pd.DataFrame | None,
    ml_interactions: pd.DataFrame | None = None,
    max_tags: int = 15,
) -> pd.DataFrame:
    """Normalised frames of `rec_core.data.load_dataset` -> catalogue with CATALOGUE_COLUMNS.

    ml_items: item_id, title ('Toy Story (1995)'), year, genres (list), tags (list), tmdb_id;
    ml_interactions: user_id, item_id (counted for popularity); tmdb_items: item_id (= TMDB id), title,
    year, overview, genres (list), keywords (list), vote_count.
    """
    rows: dict[int, dict] = {}
    tmdb_to_ml: dict[int, int] = {}
    if ml_items is not None:
        pop = ml_interactions.groupby("item_id").size().to_dict() if ml_interactions is not None else {}
        for r in ml_items.to_dict("records"):
            title, year = split_title_year(r["title"])
            year = year if year is not None else _int_or_none(r.get("year"))
            tags = list(dict.fromkeys(t.lower() for t in _names(r.get("tags"))))[:max_tags]
            iid = int(r["item_id"])
            rows[iid] = dict(
                item_id=iid,
                title=display_title(title),
                year=year,
                genres=", ".join(_names(r.get("genres"))),
                overview="",
                tags=", ".join(tags),
                source="movielens",
                popularity=float(pop.get(iid, 0)),  # ratings count
                tmdb_id=_int_or_none(r.get("tmdb_id")),
            )
            if rows[iid]["tmdb_id"] is not None:
                tmdb_to_ml[rows[iid]["tmdb_id"]] = iid
    if tmdb_items is not None:
        for r in tmdb_items.to_dict("records"):
            tid = int(r["item_id"])
            overview = r.get("overview") if isinstance(r.get("overview"), str) else ""
            keywords = ", ".join(_names(r.get("keywords"))[:max_tags])
            genres = ", ".join(_names(r.get("genres")))
            if tid in tmdb_to_ml:
                row = rows[tmdb_to_ml[tid]]
                row["overview"] = overview
                row["tags"] = ", ".join(x for x in (row["tags"], keywords) if x)
                row["source"] = "both"
                row["genres"] = row["genres"] or genres
            else:
                iid = TMDB_ID_OFFSET + tid
                rows[iid] = dict(
                    item_id=iid,
                    title=str(r["title"]),
                    year=_int_or_none(r.get("year")),
                    genres=genres,
                    overview=overview,
                    tags=keywords,
                    source="tmdb",
                    popularity=float(r.get("vote_count") or 0),
                    tmdb_id=tid,
                )
    df = pd.DataFrame(list(rows.values()), columns=CATALOGUE_COLUMNS)
    # MovieLens rating counts (<= a few hundred) and TMDB vote counts (thousands) are different scales:
    # popularity is the percentile within its own scale, 0..1
    from_ml = df["source"] != "tmdb"
    for mask in (from_ml, ~from_ml):
        if mask.any():
            df.loc[mask, "popularity"] = df.loc[mask, "popularity"].rank(pct=True, method="average")
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
# Loading through the data layer (pulls from the mirror on first use)


def load_catalogue_sources(data_dir, mirror, sources=("movielens", "tmdb")) -> dict[str, pd.DataFrame | None]:
    from rec_core.data import load_dataset

    out: dict[str, pd.DataFrame | None] = {"ml_items": None, "ml_interactions": None, "tmdb_items": None}
    if "movielens" in sources:
        ml = load_dataset("ml-latest-small", data_dir, mirror)
        out["ml_items"], out["ml_interactions"] = ml.items, ml.interactions
    if "tmdb" in sources:
        out["tmdb_items"] = load_dataset("tmdb_5000", data_dir, mirror).items
    return out


def load_catalogue(data_dir, mirror, sources=("movielens", "tmdb")) -> pd.DataFrame:
    src = load_catalogue_sources(data_dir, mirror, sources)
    return build_catalogue(src["ml_items"], src["tmdb_items"], src["ml_interactions"])


def load_sentences(data_dir, mirror) -> pd.DataFrame:
    """UCI sentiment labelled sentences: text, label (0/1), source (imdb / amazon / yelp)."""
    from rec_core.data import load_dataset

    return load_dataset("uci_sentiment", data_dir, mirror).tables["sentences"]
