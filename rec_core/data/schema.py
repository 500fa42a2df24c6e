"""The one normalised schema every dataset is parsed into, and helpers that enforce it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

INTERACTION_COLUMNS = ["user_id", "item_id", "timestamp", "rating"]


@dataclass
class Parsed:
    """What a parser returns: the two standard tables plus dataset-specific extra tables."""

    interactions: pd.DataFrame
    items: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def interactions_frame(user_id, item_id, timestamp, rating=None) -> pd.DataFrame:
    """Build an interactions frame with the exact dtypes of the contract (rating NaN when absent)."""
    user_id = np.asarray(user_id, dtype=np.int64)
    n = len(user_id)
    return pd.DataFrame(
        {
            "user_id": user_id,
            "item_id": np.asarray(item_id, dtype=np.int64),
            "timestamp": np.asarray(timestamp, dtype=np.int64),
            "rating": np.full(n, np.nan) if rating is None else np.asarray(rating, dtype=np.float64),
        }
    )


def empty_interactions() -> pd.DataFrame:
    return interactions_frame([], [], [])


def items_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Put item_id and title first, cast item_id to int64, add image_path (None) when missing."""
    df = df.copy()
    df["item_id"] = df["item_id"].astype(np.int64)
    if "title" not in df:
        df["title"] = None
    if "image_path" not in df:
        df["image_path"] = None
    df["image_path"] = df["image_path"].astype(object)
    rest = [c for c in df.columns if c not in ("item_id", "title")]
    return df[["item_id", "title", *rest]].reset_index(drop=True)


def empty_items() -> pd.DataFrame:
    return items_frame(pd.DataFrame({"item_id": pd.Series([], dtype=np.int64), "title": pd.Series([], dtype=object)}))
