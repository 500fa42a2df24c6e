"""Join the feature groups into one table, and reduce overview embeddings to a few components."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA


def reduce_embeddings(item_ids: np.ndarray, emb: np.ndarray, n_components: int, seed: int = 0) -> pd.DataFrame:
    """PCA of the (unit-normalised) embeddings -> `emb_pc{i}` columns. Fitted without the target, so
    it leaks no rating information (it is unsupervised over all movies' overviews)."""
    emb = np.asarray(emb, dtype=np.float32)
    n_components = min(n_components, emb.shape[0], emb.shape[1])
    emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    z = PCA(n_components=n_components, random_state=seed).fit_transform(emb)
    out = pd.DataFrame(z, columns=[f"emb_pc{i}" for i in range(n_components)])
    out.insert(0, "item_id", np.asarray(item_ids, dtype=np.int64))
    return out


def join_groups(base: pd.DataFrame, groups: dict[str, pd.DataFrame]) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Left-join each group on item_id (movies without a row get NaN). Returns the table and the
    feature columns of each group (base features under 'structured'; item_id, y and the fold_r*
    assignment columns are not features)."""
    table = base.copy()
    cols = {"structured": [c for c in base.columns if c not in ("item_id", "y") and not c.startswith("fold_r")]}
    for name, g in groups.items():
        g = g.drop_duplicates("item_id")
        gcols = [c for c in g.columns if c != "item_id"]
        table = table.merge(g, on="item_id", how="left")
        cols[name] = gcols
    return table, cols
