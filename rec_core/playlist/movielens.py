"""ml-latest-small as the three frames the corpus needs, through the data layer (pulled from the mirror on first use):
interactions (user_id, item_id, timestamp, rating), items (item_id, title, genres, tags, ...), and the tag
applications table (user_id, item_id, tag, timestamp)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATASET = "ml-latest-small"


def load_movielens(data_dir: Path, mirror: Path | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    from rec_core.data import load_dataset

    ds = load_dataset(DATASET, data_dir=data_dir, mirror=mirror)
    return ds.interactions, ds.items, ds.table("tags")
