"""Single-process index build: the same files `rag_index` writes, without Ray.

Used for small catalogues and tests, and as the plain reference the Ray Data path is timed against.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from rec_core.rag.catalogue import with_text
from rec_core.rag.index import IndexConfig, VectorIndex
from rec_core.rag.recommender import INDEX_FILE, META_FILE, SENTIMENT_FILE, STORE_FILE
from rec_core.rag.sentiment import FrozenLogRegSentiment, fit_logreg
from rec_core.rag.store import MovieStore


def build_index_local(
    catalogue: pd.DataFrame,
    out_dir: Path,
    encode,
    encoder_name: str = "minilm",
    index_cfg: IndexConfig | None = None,
    sentences: pd.DataFrame | None = None,
    max_length: int = 256,
) -> Path:
    """catalogue (CATALOGUE_COLUMNS) -> out_dir with movies.sqlite, movies.faiss, index_meta.json and, when
    `sentences` (text, label) are given, the frozen-embedding sentiment scorer."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cat = catalogue if "text" in catalogue.columns else with_text(catalogue)
    with MovieStore(out / STORE_FILE) as store:
        store.upsert_movies(cat)
        stale = store.stale_items(encoder_name)
        if len(stale):
            store.upsert_embeddings(
                stale["item_id"].to_numpy(), encode(stale["text"].tolist()), encoder_name, stale["text_hash"].tolist()
            )
        ids, vecs = store.embeddings()
        index = VectorIndex.build(ids, vecs, index_cfg)
        index.save(out / INDEX_FILE)
        n = store.count()
    (out / META_FILE).write_text(
        json.dumps(
            {
                "encoder": encoder_name,
                "max_length": max_length,
                "dim": int(vecs.shape[1]),
                "items": n,
                "index_kind": index.kind,
            }
        )
    )
    if sentences is not None:
        clf = fit_logreg(encode(sentences["text"].tolist()), sentences["label"].to_numpy())
        FrozenLogRegSentiment(None, clf.coef_[0], clf.intercept_[0]).save(out / SENTIMENT_FILE)
    return out
