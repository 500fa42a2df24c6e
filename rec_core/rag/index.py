"""faiss vector index over normalised embeddings (inner product = cosine), chosen by catalogue size.

flat  - exact search; the default below `ivf_min` vectors (a few ms for 10k x 384 on one core).
ivf   - IVF-Flat (nlist ~ 4 sqrt(n), nprobe configurable), for mid-size catalogues; supports remove.
hnsw  - HNSW graph for large catalogues; faiss HNSW cannot remove vectors, so changing an existing
        movie rebuilds the index from the store, while adding new movies is incremental.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from rec_core.config import StrictModel
from rec_core.optional import import_faiss

faiss = import_faiss()

IndexKind = Literal["flat", "ivf", "hnsw"]


class IndexConfig(StrictModel):
    kind: Literal["auto", "flat", "ivf", "hnsw"] = Field(
        "auto", description="auto: by size (flat < ivf_min <= ivf < hnsw_min <= hnsw)"
    )
    ivf_min: int = Field(50_000, ge=1)
    hnsw_min: int = Field(1_000_000, ge=1)
    nprobe: int = Field(16, ge=1)
    hnsw_m: int = Field(32, ge=4)
    hnsw_ef_search: int = Field(64, ge=1)


def choose_kind(n: int, cfg: IndexConfig) -> IndexKind:
    if cfg.kind != "auto":
        return cfg.kind
    if n >= cfg.hnsw_min:
        return "hnsw"
    if n >= cfg.ivf_min:
        return "ivf"
    return "flat"


def normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


@dataclass
class UpdateResult:
    added: int
    replaced: int
    rebuilt: bool


class VectorIndex:
    def __init__(self, index: faiss.Index, kind: IndexKind, cfg: IndexConfig):
        self.index, self.kind, self.cfg = index, kind, cfg

    # ---- building -------------------------------------------------------------------------
    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, cfg: IndexConfig | None = None) -> VectorIndex:
        cfg = cfg or IndexConfig()
        vectors = normalise(vectors)
        ids = np.asarray(ids, dtype=np.int64)
        n, d = vectors.shape
        kind = choose_kind(n, cfg)
        if kind == "flat":
            base = faiss.IndexFlatIP(d)
        elif kind == "ivf":
            nlist = max(1, min(int(4 * math.sqrt(n)), n // 39 or 1))  # faiss wants >= 39 points per centroid
            quant = faiss.IndexFlatIP(d)
            base = faiss.IndexIVFFlat(quant, d, nlist, faiss.METRIC_INNER_PRODUCT)
            base.train(vectors)
            base.nprobe = min(cfg.nprobe, nlist)
        else:
            base = faiss.IndexHNSWFlat(d, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            base.hnsw.efSearch = cfg.hnsw_ef_search
        index = faiss.IndexIDMap2(base)
        if n:
            index.add_with_ids(vectors, ids)
        return cls(index, kind, cfg)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def update(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        all_ids: np.ndarray | None = None,
        all_vectors: np.ndarray | None = None,
    ) -> UpdateResult:
        """Upsert vectors. New ids are added in place; existing ids are replaced (remove + add) where the
        index type allows, else the index is rebuilt from `all_ids/all_vectors` (the store's full table).
        Crossing a size threshold (flat -> ivf -> hnsw) also rebuilds."""
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return UpdateResult(0, 0, False)
        present = np.isin(ids, self.ids())
        n_after = self.ntotal + int((~present).sum())
        must_rebuild = choose_kind(n_after, self.cfg) != self.kind or (self.kind == "hnsw" and present.any())
        if must_rebuild:
            if all_ids is None or all_vectors is None:
                raise ValueError(
                    f"updating this {self.kind} index needs a rebuild: pass all_ids/all_vectors from the store"
                )
            fresh = VectorIndex.build(all_ids, all_vectors, self.cfg)
            self.index, self.kind = fresh.index, fresh.kind
            return UpdateResult(int((~present).sum()), int(present.sum()), True)
        if present.any():
            self.index.remove_ids(ids[present])
        self.index.add_with_ids(normalise(vectors), ids)
        return UpdateResult(int((~present).sum()), int(present.sum()), False)

    # ---- querying -------------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [q, k] cosine, ids [q, k]); missing slots have id -1 and score -inf."""
        k = max(1, min(int(k), max(self.ntotal, 1)))
        scores, ids = self.index.search(normalise(queries), k)
        scores = np.where(ids < 0, -np.inf, scores)
        return scores, ids

    # ---- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        faiss.write_index(self.index, str(tmp))
        tmp.replace(path)
        path.with_suffix(".json").write_text(
            json.dumps({"kind": self.kind, "config": self.cfg.model_dump(), "ntotal": self.ntotal})
        )

    @classmethod
    def load(cls, path: str | Path) -> VectorIndex:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"faiss index not found: {path} (build it with `genrec run rag_index`)")
        meta = json.loads(path.with_suffix(".json").read_text())
        index = faiss.read_index(str(path))
        cfg = IndexConfig(**meta["config"])
        vi = cls(index, meta["kind"], cfg)
        base = faiss.downcast_index(index.index)
        if meta["kind"] == "ivf":
            base.nprobe = cfg.nprobe
        elif meta["kind"] == "hnsw":
            base.hnsw.efSearch = cfg.hnsw_ef_search
        return vi
