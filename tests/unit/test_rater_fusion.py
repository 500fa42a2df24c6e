import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from rec_core.rater.fusion import join_groups, reduce_embeddings


@settings(max_examples=20, deadline=None)
@given(n=st.integers(3, 40), d=st.integers(2, 16), k=st.integers(1, 10))
def test_reduce_embeddings_shapes(n, d, k):
    emb = np.random.default_rng(n * d).normal(size=(n, d)).astype(np.float32)
    out = reduce_embeddings(np.arange(n), emb, k)
    kk = min(k, n, d)
    assert list(out.columns) == ["item_id"] + [f"emb_pc{i}" for i in range(kk)]
    assert len(out) == n and np.isfinite(out.drop(columns="item_id").to_numpy()).all()


def test_join_groups_leaves_missing_as_nan_and_excludes_folds():
    base = pd.DataFrame({"item_id": [1, 2, 3], "x": [0.1, 0.2, 0.3], "y": [5.0, 6.0, 7.0], "fold_r0": [0, 1, 0]})
    posters = pd.DataFrame({"item_id": [2, 2, 9], "img_brightness": [0.5, 0.6, 0.7]})  # duplicate + unknown id
    table, cols = join_groups(base, {"poster": posters})
    assert cols == {"structured": ["x"], "poster": ["img_brightness"]}
    assert len(table) == 3 and table["img_brightness"].isna().tolist() == [True, False, True]
    assert table.loc[table.item_id == 2, "img_brightness"].item() == 0.5
