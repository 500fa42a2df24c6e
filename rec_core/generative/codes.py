"""The semantic-ID codes table TIGER consumes, and a residual k-means fallback to make one.

Contract (produced by `genrec run semantic_ids`): `codes.parquet` with `item_id int64, sid list<int>`
(every level, including the collision-handling level), unique per item, and `sid_meta.json`
`{"levels": L, "codebook_sizes": [...]}`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


class CodesError(ValueError):
    """A codes table that cannot be used; the message names the file and what is wrong."""


@dataclass
class SemanticCodes:
    item_ids: np.ndarray  # (N,) original item ids
    sids: np.ndarray  # (N, L) int64 codes
    codebook_sizes: tuple[int, ...]

    def __post_init__(self):
        self.item_ids = np.asarray(self.item_ids, dtype=np.int64)
        self.sids = np.asarray(self.sids, dtype=np.int64)
        if self.sids.ndim != 2 or len(self.sids) != len(self.item_ids):
            raise CodesError(f"sids must be (items, levels), got {self.sids.shape} for {len(self.item_ids)} items")
        if self.sids.shape[1] != len(self.codebook_sizes):
            raise CodesError(f"codes have {self.sids.shape[1]} levels but codebook_sizes lists {len(self.codebook_sizes)}")
        if len(np.unique(self.item_ids)) != len(self.item_ids):
            raise CodesError("item_id is not unique in the codes table")
        if (self.sids < 0).any() or (self.sids >= np.asarray(self.codebook_sizes)[None, :]).any():
            raise CodesError("a code lies outside its level's codebook size")
        n_unique = len(np.unique(self.sids, axis=0))
        if n_unique != len(self.sids):
            raise CodesError(f"{len(self.sids) - n_unique} items share a semantic ID with another item; "
                             "the table needs a collision-handling level")

    @property
    def levels(self) -> int:
        return self.sids.shape[1]

    def aligned(self, index_item_ids: np.ndarray) -> np.ndarray:
        """Codes for a model's contiguous item index (index i -> original id index_item_ids[i])."""
        pos = pd.Series(np.arange(len(self.item_ids)), index=self.item_ids)
        idx = pos.reindex(np.asarray(index_item_ids, dtype=np.int64))
        missing = int(idx.isna().sum())
        if missing:
            raise CodesError(f"{missing} of {len(index_item_ids)} dataset items have no semantic ID in the codes table "
                             f"(e.g. item_id {np.asarray(index_item_ids)[idx.isna().to_numpy()][:3].tolist()})")
        return self.sids[idx.to_numpy(dtype=np.int64)]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"item_id": self.item_ids, "sid": [list(map(int, r)) for r in self.sids]})

    def save(self, out_dir: Path) -> Path:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.to_frame().to_parquet(out_dir / "codes.parquet", index=False)
        (out_dir / "sid_meta.json").write_text(json.dumps({"levels": self.levels, "codebook_sizes": list(self.codebook_sizes)}))
        return out_dir / "codes.parquet"


def load_codes(path: Path) -> SemanticCodes:
    """Read `codes.parquet` (or a directory holding it) and the `sid_meta.json` beside it."""
    path = Path(path)
    if path.is_dir():
        path = path / "codes.parquet"
    if not path.exists():
        raise CodesError(f"codes table not found: {path}")
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a corrupt file
        raise CodesError(f"cannot read codes table {path}: {e}") from e
    for col in ("item_id", "sid"):
        if col not in df.columns:
            raise CodesError(f"codes table {path} has no column {col!r} (columns: {list(df.columns)})")
    lens = df["sid"].map(len)
    if lens.nunique() != 1:
        raise CodesError(f"codes table {path}: semantic IDs have differing lengths {sorted(lens.unique().tolist())}")
    sids = np.stack(df["sid"].map(lambda s: np.asarray(s, dtype=np.int64)).to_list()) if len(df) else np.zeros((0, 0), np.int64)
    meta_path = path.parent / "sid_meta.json"
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
            sizes = tuple(int(c) for c in meta["codebook_sizes"])
        except (ValueError, KeyError, TypeError) as e:
            raise CodesError(f"{meta_path} is malformed (needs codebook_sizes): {e}") from e
    else:  # infer: the largest code seen per level + 1
        sizes = tuple(int(c) + 1 for c in sids.max(axis=0))
    try:
        return SemanticCodes(df["item_id"].to_numpy(), sids, sizes)
    except CodesError as e:
        raise CodesError(f"codes table {path}: {e}") from None


def add_collision_level(sids: np.ndarray) -> tuple[np.ndarray, int]:
    """Append TIGER's extra level: 0,1,2,... among items that share the same prefix codes."""
    df = pd.DataFrame(sids)
    extra = df.groupby(list(df.columns), sort=False).cumcount().to_numpy()
    return np.concatenate([sids, extra[:, None]], axis=1), int(extra.max()) + 1


def released_codes(item_ids: np.ndarray, sids: np.ndarray) -> tuple[SemanticCodes, int]:
    """A released SID table as codes. Released tables can still map a few items to one ID (LC-Rec's Instruments
    index: 25 of 9,922); a generative model must tell them apart, so TIGER's collision level is appended then,
    and only then. Returns the codes and how many items shared an ID."""
    sids = np.asarray(sids, dtype=np.int64)
    shared = len(sids) - len(np.unique(sids, axis=0))
    if shared:
        sids, _ = add_collision_level(sids)
    return SemanticCodes(np.asarray(item_ids), sids, tuple(int(c) + 1 for c in sids.max(axis=0))), shared


def residual_kmeans_codes(item_ids: np.ndarray, embeddings: np.ndarray, levels: int = 3, codebook_size: int = 256,
                          seed: int = 0, niter: int = 20) -> SemanticCodes:
    """Residual k-means (faiss) over item embeddings + a collision level: a simple stand-in for RQ-VAE
    when no `semantic_ids` run is given. Codebooks shrink to the item count on tiny catalogues."""
    import faiss

    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    k = int(min(codebook_size, max(1, len(x))))
    resid, codes = x.copy(), []
    for lvl in range(levels):
        km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed + lvl, verbose=False, min_points_per_centroid=1)
        km.train(resid)
        _, assign = km.index.search(resid, 1)
        assign = assign[:, 0].astype(np.int64)
        codes.append(assign)
        resid = resid - km.centroids[assign]
    sids, last = add_collision_level(np.stack(codes, axis=1))
    return SemanticCodes(np.asarray(item_ids), sids, tuple([k] * levels + [last]))
