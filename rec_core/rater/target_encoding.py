"""Out-of-fold target encoding of TMDB's list columns (keywords, production companies, genres).

A keyword's or a studio's mean rating among the training movies is the strongest pre-release signal the data
mirror holds (TMDB's credits table, with cast and crew, is not in it). Each movie gets the mean, max and min over
its list of the encoded values (minus the training mean); a movie with an empty list gets NaN.

The target must never reach its own features, so every (repetition, fold) of the CV gets its own columns, fitted
on that fold's training rows only:
- training rows get scikit-learn `TargetEncoder`'s cross-fitted values (the encoder for a row is fitted on the
  other inner folds; a movie holds each category once, so its own rating never encodes it);
- held-out rows get the encoder fitted on all training rows.
The columns are stored as `<feature>@r<rep>f<fold>`; `fold_view` shows a task its own set under the plain names.
`TargetEncoder` takes one category per row, so a movie's list is exploded into (movie, category) rows first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LIST_COLUMNS = ("keywords", "production_companies", "genres")
STATS = ("mean", "max", "min")
TAG = "@r"  # <feature>@r<rep>f<fold>


def feature_names(columns) -> list[str]:
    return [f"te_{col}_{s}" for col in columns for s in STATS]


def _explode(lists: list[list[str]], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position in `rows`, category) for every distinct category of every row."""
    pairs = [(j, c) for j, i in enumerate(rows) for c in dict.fromkeys(lists[i])]
    pos = np.array([p for p, _ in pairs], dtype=np.int64)
    cats = np.array([[c] for _, c in pairs], dtype=object).reshape(-1, 1)
    return pos, cats


def _aggregate(pos: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    out = np.full((n, len(STATS)), np.nan)
    if len(pos):
        agg = pd.DataFrame({"p": pos, "v": values}).groupby("p")["v"].agg(list(STATS))
        out[agg.index.to_numpy()] = agg.to_numpy()
    return out


def encode_fold(
    lists: list[list[str]], y: np.ndarray, train: np.ndarray, test: np.ndarray, smooth: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows × STATS, test rows × STATS) for one fold; `train`/`test` index `lists` and `y`."""
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import TargetEncoder

    y = np.asarray(y, dtype=float)
    p_tr, c_tr = _explode(lists, train)
    p_te, c_te = _explode(lists, test)
    if len(p_tr) < 5:  # too few categories to cross-fit: nothing to learn from
        return np.full((len(train), len(STATS)), np.nan), np.full((len(test), len(STATS)), np.nan)
    enc = TargetEncoder(target_type="continuous", smooth=smooth, cv=KFold(5, shuffle=True, random_state=seed))
    e_tr = enc.fit_transform(c_tr, y[train][p_tr])[:, 0]
    e_te = enc.transform(c_te)[:, 0] if len(p_te) else np.zeros(0)
    prior = float(enc.target_mean_)
    return _aggregate(p_tr, e_tr - prior, len(train)), _aggregate(p_te, e_te - prior, len(test))


def fold_columns(
    lists_by_column: dict[str, list[list[str]]], y: np.ndarray, folds: np.ndarray, smooth: float, seed: int
) -> pd.DataFrame:
    """Every (repetition, fold)'s encoded features, one row per movie: `folds` is (reps, movies) of fold ids."""
    cols: dict[str, np.ndarray] = {}
    n = folds.shape[1]
    for rep in range(folds.shape[0]):
        for fold in np.unique(folds[rep]):
            train, test = np.flatnonzero(folds[rep] != fold), np.flatnonzero(folds[rep] == fold)
            for col, lists in lists_by_column.items():
                f_tr, f_te = encode_fold(lists, y, train, test, smooth, seed * 1000 + rep * 10 + int(fold))
                for j, name in enumerate(feature_names([col])):
                    v = np.full(n, np.nan)
                    v[train], v[test] = f_tr[:, j], f_te[:, j]
                    cols[f"{name}{TAG}{rep}f{int(fold)}"] = v
    return pd.DataFrame(cols)


def fold_view(frame: pd.DataFrame, rep: int, fold: int) -> pd.DataFrame:
    """`frame` as task (rep, fold) sees it: its own encoded columns under their plain names, the other folds'
    dropped. A frame without encoded columns comes back as it is."""
    tagged = [c for c in frame.columns if TAG in c]
    if not tagged:
        return frame
    suffix = f"{TAG}{rep}f{fold}"
    mine = {c: c[: -len(suffix)] for c in tagged if c.endswith(suffix)}
    return frame.drop(columns=[c for c in tagged if c not in mine]).rename(columns=mine)
