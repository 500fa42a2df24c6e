"""Source-format parsers: raw files (verified) -> the normalised schema (rec_core.data.schema).

Each parser takes `files`, a mapping from the registry's local file name to its verified path, and returns
a `Parsed`. Parsers never guess: a malformed line raises DataFormatError naming the file, line and field.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from rec_core.data.errors import DataFormatError
from rec_core.data.readers import iter_csv, iter_delimited, read_json, read_text, to_float, to_int
from rec_core.data.schema import Parsed, empty_interactions, empty_items, interactions_frame, items_frame

Files = Mapping[str, Path]

_SID_TOKEN = re.compile(r"^<([a-z])_(\d+)>$")
_YEAR = re.compile(r"\((\d{4})\)\s*$")


# ---------------------------------------------------------------- shared helpers
def parse_sid(tokens, path: Path, key: str) -> list[int]:
    """["<a_12>", "<b_3>", ...] -> [12, 3, ...]; levels must be a, b, c, ... in order."""
    if not isinstance(tokens, list) or not tokens:
        raise DataFormatError(path, f"expected a non-empty list of SID tokens, found {tokens!r}", field=key)
    out = []
    for level, tok in enumerate(tokens):
        m = _SID_TOKEN.match(tok) if isinstance(tok, str) else None
        if not m or m.group(1) != chr(ord("a") + level):
            raise DataFormatError(path, f"bad SID token {tok!r} at level {level}", field=key)
        out.append(int(m.group(2)))
    return out


def released_sid_table(path: Path) -> pd.DataFrame:
    index = read_json(path)
    if not isinstance(index, dict):
        raise DataFormatError(path, "expected a JSON object {item_id: [sid tokens]}")
    rows = [(to_int(k, path, None, k), parse_sid(v, path, k)) for k, v in index.items()]
    rows.sort()
    return pd.DataFrame({"item_id": np.array([r[0] for r in rows], dtype=np.int64), "sid": [r[1] for r in rows]})


def _id_map_tsv(path: Path, key_name: str) -> pd.DataFrame:
    """`ORIGINAL_ID<TAB>idx` lines -> frame (idx, original)."""
    ids, orig = [], []
    for line, (o, i) in iter_delimited(path, "\t", 2):
        ids.append(to_int(i, path, line, "idx"))
        orig.append(o)
    return pd.DataFrame({key_name: np.array(ids, dtype=np.int64), "original_id": orig})


def _year(title: str):
    m = _YEAR.search(title)
    return int(m.group(1)) if m else None


def _int_or_none(value: str, path: Path, line: int, field: str):
    return None if value.strip() == "" else to_int(value, path, line, field)


# ---------------------------------------------------------------- Amazon P5 (beauty, sports, toys)
def parse_p5(files: Files) -> Parsed:
    seq_path, maps_path, names_path = (
        files["sequential_data.txt"],
        files["datamaps.json"],
        files["idgenrec_item_textual_ids.txt"],
    )
    maps = read_json(maps_path)
    for key in ("id2item", "id2user"):
        if not isinstance(maps, dict) or not isinstance(maps.get(key), dict):
            raise DataFormatError(maps_path, "missing object", field=key)
    id2item = {to_int(k, maps_path, None, "id2item"): v for k, v in maps["id2item"].items()}

    users, items, pos = [], [], []
    for line, raw in enumerate(read_text(seq_path).split("\n"), start=1):
        if not raw.strip():
            continue
        tokens = raw.split()
        if len(tokens) < 2:
            raise DataFormatError(seq_path, "expected 'user item item ...', found fewer than 2 ids", line=line)
        uid = to_int(tokens[0], seq_path, line, "user")
        for p, tok in enumerate(tokens[1:]):
            iid = to_int(tok, seq_path, line, f"item {p + 1}")
            if iid not in id2item:
                raise DataFormatError(
                    seq_path, f"item {iid} is not in datamaps.json id2item", line=line, field=f"item {p + 1}"
                )
            users.append(uid)
            items.append(iid)
            pos.append(p)

    asin_to_name: dict[str, str] = {}
    for line, raw in enumerate(read_text(names_path).split("\n"), start=1):
        if not raw:
            continue
        asin, _, name = raw.partition(" ")
        if not asin:
            raise DataFormatError(names_path, "line starts with a space: no ASIN", line=line)
        asin_to_name[asin] = name.strip()

    ids = sorted(id2item)
    item_df = pd.DataFrame(
        {
            "item_id": ids,
            "title": [asin_to_name.get(id2item[i]) for i in ids],
            "asin": [id2item[i] for i in ids],
        }
    )
    user_df = pd.DataFrame(
        {
            "user_id": [to_int(k, maps_path, None, "id2user") for k in maps["id2user"]],
            "reviewer_id": list(maps["id2user"].values()),
        }
    )
    return Parsed(
        interactions_frame(users, items, pos),
        items_frame(item_df),
        {"users": user_df},
        notes={
            "timestamp": "position in the user's chronological sequence (the source has no times)",
            "title": "IDGenRec phase-0 textual item IDs: short generated names (2-6 words), NOT product titles",
        },
    )


# ---------------------------------------------------------------- LC-Rec Instruments
def parse_lcrec(files: Files, prefix: str = "Instruments") -> Parsed:
    inter_path = files[f"{prefix}.inter.json"]
    item_map = _id_map_tsv(files[f"{prefix}.item2id"], "item_id")
    user_map = _id_map_tsv(files[f"{prefix}.user2id"], "user_id")
    known = set(item_map["item_id"].tolist())
    inter = read_json(inter_path)
    if not isinstance(inter, dict):
        raise DataFormatError(inter_path, "expected a JSON object {user_idx: [item_idx, ...]}")
    users, items, pos = [], [], []
    for u, seq in inter.items():
        uid = to_int(u, inter_path, None, "user key")
        if not isinstance(seq, list) or not all(isinstance(x, int) for x in seq):
            raise DataFormatError(inter_path, "expected a list of integer item ids", field=u)
        bad = [x for x in seq if x not in known]
        if bad:
            raise DataFormatError(inter_path, f"item {bad[0]} is not in {prefix}.item2id", field=u)
        users.extend([uid] * len(seq))
        items.extend(seq)
        pos.extend(range(len(seq)))
    item_df = pd.DataFrame({"item_id": item_map["item_id"], "asin": item_map["original_id"]})
    notes = {"timestamp": "position in the user's chronological sequence (the source has no times)"}
    meta_path = files.get(f"{prefix}.item.json")
    if meta_path is None:
        item_df["title"] = None
        notes["title"] = f"no item text ({prefix}.item.json was not available); title is empty"
    else:
        text = read_item_meta(meta_path)
        got = set(text["item_id"].tolist())
        if got != known:  # a copy in another id order or of another split must not be joined silently
            odd = sorted(got - known)[:1] or sorted(known - got)[:1]
            raise DataFormatError(
                meta_path,
                f"its item ids are not those of {prefix}.item2id "
                f"({len(got - known)} unknown, {len(known - got)} missing, e.g. {odd[0]})",
            )
        item_df = item_df.merge(text, on="item_id", how="left")
    sids = released_sid_table(files[f"{prefix}.index.json"])
    return Parsed(
        interactions_frame(users, items, pos),
        items_frame(item_df.sort_values("item_id")),
        {"released_sids": sids, "users": user_map.rename(columns={"original_id": "reviewer_id"})},
        notes=notes,
    )


# ---------------------------------------------------------------- MiniOneRec Industrial_and_Scientific
def _clean_description(text: str) -> str:
    # MiniOneRec stores descriptions as a Python list literal in a string: "['first', 'second']".
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        try:
            parts = ast.literal_eval(t)
            if isinstance(parts, list):
                return " ".join(str(p) for p in parts).strip()
        except (ValueError, SyntaxError):
            pass
    return t


def _eval_rows(path: Path) -> pd.DataFrame:
    users, hist, target = [], [], []
    for line, row in iter_csv(path, ["user_id", "history_item_title", "item_title", "history_item_id", "item_id"]):
        try:
            h = ast.literal_eval(row["history_item_id"])
        except (ValueError, SyntaxError):
            h = None
        if not isinstance(h, list) or not all(isinstance(x, int) for x in h):
            raise DataFormatError(
                path,
                f"expected a list of item ids, found {row['history_item_id'][:60]!r}",
                line=line,
                field="history_item_id",
            )
        users.append(row["user_id"])
        hist.append(h)
        target.append(to_int(row["item_id"], path, line, "item_id"))
    return pd.DataFrame({"user": users, "history": hist, "target": np.array(target, dtype=np.int64)})


def read_item_meta(item_path: Path) -> pd.DataFrame:
    """LC-Rec / MiniOneRec `<Name>.item.json`: {item_idx: {title, description, brand, categories}}."""
    meta = read_json(item_path)
    if not isinstance(meta, dict):
        raise DataFormatError(item_path, "expected a JSON object {item_idx: {title, description, brand, categories}}")
    rows = []
    for k, v in meta.items():
        if not isinstance(v, dict) or "title" not in v:
            raise DataFormatError(item_path, "expected an object with a title", field=k)
        rows.append(
            {
                "item_id": to_int(k, item_path, None, k),
                "title": v.get("title") or "",
                "description": _clean_description(v.get("description") or ""),
                "brand": v.get("brand") or "",
                "categories": v.get("categories") or "",
            }
        )
    return pd.DataFrame(rows).sort_values("item_id")


def parse_minionerec(files: Files) -> Parsed:
    items = read_item_meta(files["index/Industrial_and_Scientific.item.json"])
    sids = released_sid_table(files["index/Industrial_and_Scientific.index.json"])
    stem = "Industrial_and_Scientific_5_2016-10-2018-11.csv"
    return Parsed(
        empty_interactions(),
        items_frame(items),
        {
            "released_sids": sids,
            "valid_rows": _eval_rows(files[f"valid/{stem}"]),
            "test_rows": _eval_rows(files[f"test/{stem}"]),
        },
        notes={"interactions": "the training CSV is not mirrored: only valid/test rows (history <= 10 items + target)"},
    )


# ---------------------------------------------------------------- MovieLens
def _split_genres(text: str) -> list[str]:
    return [] if text in ("", "(no genres listed)") else text.split("|")


def parse_ml_latest_small(files: Files) -> Parsed:
    rp = files["ratings.csv"]
    u, i, r, t = [], [], [], []
    for line, row in iter_csv(rp, ["userId", "movieId", "rating", "timestamp"]):
        u.append(to_int(row["userId"], rp, line, "userId"))
        i.append(to_int(row["movieId"], rp, line, "movieId"))
        r.append(to_float(row["rating"], rp, line, "rating"))
        t.append(to_int(row["timestamp"], rp, line, "timestamp"))

    mp = files["movies.csv"]
    movies = []
    for line, row in iter_csv(mp, ["movieId", "title", "genres"]):
        title = row["title"].strip()
        movies.append(
            {
                "item_id": to_int(row["movieId"], mp, line, "movieId"),
                "title": title,
                "year": _year(title),
                "genres": _split_genres(row["genres"]),
            }
        )
    items = pd.DataFrame(movies)

    lp = files["links.csv"]
    links = {}
    for line, row in iter_csv(lp, ["movieId", "imdbId", "tmdbId"]):
        links[to_int(row["movieId"], lp, line, "movieId")] = (
            row["imdbId"] or None,
            _int_or_none(row["tmdbId"], lp, line, "tmdbId"),
        )

    tp = files["tags.csv"]
    tag_rows = []
    for line, row in iter_csv(tp, ["userId", "movieId", "tag", "timestamp"]):
        tag_rows.append(
            (
                to_int(row["userId"], tp, line, "userId"),
                to_int(row["movieId"], tp, line, "movieId"),
                row["tag"].strip(),
                to_int(row["timestamp"], tp, line, "timestamp"),
            )
        )
    tags = pd.DataFrame(tag_rows, columns=["user_id", "item_id", "tag", "timestamp"])
    # One list per movie: distinct tags (case-insensitive), most frequent first, ties by first use.
    agg: dict[int, list[str]] = {}
    for item_id, grp in tags.groupby("item_id", sort=False):
        counts: dict[str, tuple[int, int, str]] = {}
        for order, tag in enumerate(grp["tag"]):
            key = tag.lower()
            c, first, shown = counts.get(key, (0, order, tag))
            counts[key] = (c + 1, first, shown)
        agg[int(item_id)] = [
            shown for _, (c, first, shown) in sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
        ]
    items["tags"] = [agg.get(int(m), []) for m in items["item_id"]]
    items["imdb_id"] = [links.get(int(m), (None, None))[0] for m in items["item_id"]]
    items["tmdb_id"] = pd.array([links.get(int(m), (None, None))[1] for m in items["item_id"]], dtype="Int64")
    items["year"] = pd.array(items["year"], dtype="Int64")
    return Parsed(interactions_frame(u, i, t, r), items_frame(items), {"tags": tags})


def _ratings_sep(path: Path, sep: str, encoding: str = "utf-8"):
    u, i, r, t = [], [], [], []
    for line, (a, b, c, d) in iter_delimited(path, sep, 4, encoding=encoding):
        u.append(to_int(a, path, line, "user"))
        i.append(to_int(b, path, line, "item"))
        r.append(to_float(c, path, line, "rating"))
        t.append(to_int(d, path, line, "timestamp"))
    return interactions_frame(u, i, t, r)


def parse_ml_100k(files: Files) -> Parsed:
    gp = files["u.genre"]
    genre_names = {}
    for line, (name, idx) in iter_delimited(gp, "|", 2, encoding="latin-1"):
        genre_names[to_int(idx, gp, line, "genre id")] = name
    ip = files["u.item"]
    rows = []
    for line, f in iter_delimited(ip, "|", 24, encoding="latin-1"):
        flags = f[5:]
        if any(x not in ("0", "1") for x in flags):
            raise DataFormatError(ip, f"genre flags must be 0/1, found {flags}", line=line, field="genres")
        title = f[1].strip()
        rows.append(
            {
                "item_id": to_int(f[0], ip, line, "movie id"),
                "title": title,
                "year": _year(title),
                "release_date": f[2] or None,
                "imdb_url": f[4] or None,
                "genres": [genre_names.get(k, str(k)) for k, x in enumerate(flags) if x == "1"],
            }
        )
    items = pd.DataFrame(rows)
    items["year"] = pd.array(items["year"], dtype="Int64")
    up = files["u.user"]
    users = []
    for line, (a, age, g, occ, z) in iter_delimited(up, "|", 5, encoding="latin-1"):
        users.append(
            {
                "user_id": to_int(a, up, line, "user id"),
                "age": to_int(age, up, line, "age"),
                "gender": g,
                "occupation": occ,
                "zip_code": z,
            }
        )
    return Parsed(_ratings_sep(files["u.data"], "\t"), items_frame(items), {"users": pd.DataFrame(users)})


def _split_lines_sep(path: Path, sep: str, n: int, encoding: str):
    # '::'-separated ML-1M files: split on the separator; titles never contain '::'.
    for line, parts in iter_delimited(path, sep, n, encoding=encoding):
        yield line, parts


def parse_ml_1m(files: Files) -> Parsed:
    mp = files["movies.dat"]
    rows = []
    for line, (mid, title, genres) in _split_lines_sep(mp, "::", 3, "latin-1"):
        rows.append(
            {
                "item_id": to_int(mid, mp, line, "MovieID"),
                "title": title.strip(),
                "year": _year(title),
                "genres": _split_genres(genres),
            }
        )
    items = pd.DataFrame(rows)
    items["year"] = pd.array(items["year"], dtype="Int64")
    up = files["users.dat"]
    users = []
    for line, (uid, g, age, occ, z) in _split_lines_sep(up, "::", 5, "latin-1"):
        users.append(
            {
                "user_id": to_int(uid, up, line, "UserID"),
                "gender": g,
                "age": to_int(age, up, line, "Age"),
                "occupation": to_int(occ, up, line, "Occupation"),
                "zip_code": z,
            }
        )
    return Parsed(
        _ratings_sep(files["ratings.dat"], "::", "latin-1"), items_frame(items), {"users": pd.DataFrame(users)}
    )


# ---------------------------------------------------------------- TMDB 5000
def _json_names(value: str, path: Path, line: int, field: str) -> list[str]:
    import json

    if value.strip() == "":
        return []
    try:
        data = json.loads(value)
    except json.JSONDecodeError as e:
        raise DataFormatError(path, f"invalid JSON list ({e.msg})", line=line, field=field) from None
    if not isinstance(data, list) or not all(isinstance(d, dict) and "name" in d for d in data):
        raise DataFormatError(path, "expected a JSON list of objects with 'name'", line=line, field=field)
    return [d["name"] for d in data]


TMDB_COLUMNS = [
    "budget", "genres", "homepage", "id", "keywords", "original_language", "original_title", "overview", "popularity",
    "production_companies", "production_countries", "release_date", "revenue", "runtime", "spoken_languages", "status",
    "tagline", "title", "vote_average", "vote_count",
]  # fmt: skip


def parse_tmdb(files: Files) -> Parsed:
    p = files["tmdb_5000_movies.csv"]
    rows = []
    for line, r in iter_csv(p, TMDB_COLUMNS):
        date = r["release_date"].strip() or None
        rows.append(
            {
                "item_id": to_int(r["id"], p, line, "id"),
                "title": r["title"],
                "original_title": r["original_title"],
                "overview": r["overview"].strip(),
                "tagline": r["tagline"].strip(),
                "genres": _json_names(r["genres"], p, line, "genres"),
                "keywords": _json_names(r["keywords"], p, line, "keywords"),
                "production_companies": _json_names(r["production_companies"], p, line, "production_companies"),
                "production_countries": _json_names(r["production_countries"], p, line, "production_countries"),
                "spoken_languages": _json_names(r["spoken_languages"], p, line, "spoken_languages"),
                "original_language": r["original_language"],
                "release_date": date,
                "year": int(date[:4]) if date else None,
                "budget": to_int(r["budget"], p, line, "budget"),
                "revenue": to_int(r["revenue"], p, line, "revenue"),
                "runtime": to_float(r["runtime"], p, line, "runtime", allow_empty=True),
                "popularity": to_float(r["popularity"], p, line, "popularity"),
                "vote_average": to_float(r["vote_average"], p, line, "vote_average"),
                "vote_count": to_int(r["vote_count"], p, line, "vote_count"),
                "status": r["status"],
                "homepage": r["homepage"] or None,
            }
        )
    items = pd.DataFrame(rows)
    items["year"] = pd.array(items["year"], dtype="Int64")
    if items["item_id"].duplicated().any():
        dup = int(items.loc[items["item_id"].duplicated(), "item_id"].iloc[0])
        raise DataFormatError(p, f"duplicate movie id {dup}", field="id")
    return Parsed(empty_interactions(), items_frame(items), notes={"budget/revenue": "0 means unknown in TMDB"})


# ---------------------------------------------------------------- IMDb top 1000
def _gross(value: str, path: Path, line: int) -> float:
    return to_float(value.replace(",", ""), path, line, "Gross", allow_empty=True)


def parse_imdb_top_1000(files: Files) -> Parsed:
    p = files["imdb_top_1000.csv"]
    rows = []
    for n, (line, r) in enumerate(iter_csv(p, ["Poster_Link", "Series_Title", "Released_Year"])):
        year = r["Released_Year"].strip()
        runtime = r["Runtime"].replace("min", "").strip()
        rows.append(
            {
                "item_id": n,  # the source has no id column: row order
                "title": r["Series_Title"],
                # Some copies of this Kaggle file have a non-year ("PG") here: keep such a year unknown.
                "year": int(year) if year.isdigit() else None,
                "certificate": r["Certificate"] or None,
                "runtime": to_float(runtime, p, line, "Runtime", allow_empty=True),
                "genres": [g.strip() for g in r["Genre"].split(",") if g.strip()],
                "imdb_rating": to_float(r["IMDB_Rating"], p, line, "IMDB_Rating"),
                "overview": r["Overview"],
                "meta_score": to_float(r["Meta_score"], p, line, "Meta_score", allow_empty=True),
                "director": r["Director"],
                "stars": [r[f"Star{k}"] for k in range(1, 5) if r[f"Star{k}"]],
                "num_votes": to_int(r["No_of_Votes"], p, line, "No_of_Votes"),
                "gross": _gross(r["Gross"], p, line),
                "poster_url": r["Poster_Link"],
            }
        )
    items = pd.DataFrame(rows)
    items["year"] = pd.array(items["year"], dtype="Int64")
    return Parsed(
        empty_interactions(),
        items_frame(items),
        notes={"image_path": "posters are remote 67x98 thumbnails (poster_url), not downloaded"},
    )


# ---------------------------------------------------------------- movie posters
_JPEG_MAGIC = b"\xff\xd8\xff"


def parse_posters(files: Files) -> Parsed:
    from rec_core.data.poster_manifest import POSTERS

    rows = []
    for movie_id, tmdb_id, imdb_id, title, _nbytes, _sha in POSTERS:
        rel = f"posters/{movie_id}.jpg"
        with open(files[rel], "rb") as fh:
            if fh.read(3) != _JPEG_MAGIC:
                raise DataFormatError(files[rel], "not a JPEG file (bad magic bytes)")
        rows.append(
            {"item_id": movie_id, "title": title, "tmdb_id": tmdb_id, "imdb_id": imdb_id, "poster_file": f"raw/{rel}"}
        )
    items = pd.DataFrame(rows)
    return Parsed(
        empty_interactions(),
        items_frame(items),
        notes={"image_path": "absolute path resolved at load time from poster_file"},
    )


# ---------------------------------------------------------------- UCI sentiment labelled sentences
UCI_SOURCES = {"amazon_cells_labelled.txt": "amazon", "imdb_labelled.txt": "imdb", "yelp_labelled.txt": "yelp"}


def parse_uci_sentiment(files: Files) -> Parsed:
    # The files are `sentence<TAB>label` with unbalanced quotes in sentences: read line by line, never as
    # quoted CSV (pandas' default quoting silently merges rows; csv.QUOTE_NONE semantics here).
    text, label, source = [], [], []
    for fname, src in UCI_SOURCES.items():
        p = files[fname]
        for line, parts in iter_delimited(p, "\t", 2):
            lab = parts[1].strip()
            if lab not in ("0", "1"):
                raise DataFormatError(p, f"label must be 0 or 1, found {lab!r}", line=line, field="label")
            text.append(parts[0].strip())
            label.append(int(lab))
            source.append(src)
    sentences = pd.DataFrame({"text": text, "label": np.array(label, dtype=np.int64), "source": source})
    return Parsed(empty_interactions(), empty_items(), {"sentences": sentences})
