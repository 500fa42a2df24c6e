"""ml-latest-small as the three frames the corpus needs: interactions, items (with genres, tags), tag applications.

Uses the data layer (`rec_core.data.load_dataset`) when it is installed; otherwise reads the four CSVs of the
mirror folder directly with the same column names, so this package works before the data layer lands.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

DATASET = "ml-latest-small"


def load_movielens(data_dir: Path | None, mirror: Path | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    try:
        from rec_core.data import load_dataset
    except ImportError:
        load_dataset = None
    if load_dataset is not None:
        ds = load_dataset(DATASET, data_dir=data_dir, mirror=mirror)
        return ds.interactions, ds.items, ds.table("tags")
    return _read_csvs(_folder(mirror))


def _folder(mirror: Path | None) -> Path:
    if mirror is None:
        raise FileNotFoundError(f"{DATASET}: no mirror folder configured (set `mirror` or GENREC_MIRROR)")
    folder = Path(mirror) / DATASET
    for f in ("ratings.csv", "movies.csv", "tags.csv"):
        if not (folder / f).exists():
            raise FileNotFoundError(f"{DATASET}: missing {folder / f}")
    return folder


def _read_csvs(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    r = pd.read_csv(folder / "ratings.csv")
    interactions = pd.DataFrame({"user_id": r["userId"].astype("int64"), "item_id": r["movieId"].astype("int64"),
                                 "timestamp": r["timestamp"].astype("int64"), "rating": r["rating"].astype("float64")})
    m = pd.read_csv(folder / "movies.csv")
    t = pd.read_csv(folder / "tags.csv", keep_default_na=False)
    tags = pd.DataFrame({"user_id": t["userId"].astype("int64"), "item_id": t["movieId"].astype("int64"),
                         "tag": t["tag"].astype(str).str.strip(), "timestamp": t["timestamp"].astype("int64")})
    per_item = tags.groupby("item_id")["tag"].agg(lambda s: list(dict.fromkeys(s)))
    items = pd.DataFrame({"item_id": m["movieId"].astype("int64"), "title": m["title"].astype(str).str.strip(),
                          "genres": m["genres"].map(lambda g: [] if g == "(no genres listed)" else g.split("|"))})
    items["tags"] = [per_item.get(i, []) for i in items["item_id"]]
    return interactions, items, tags
