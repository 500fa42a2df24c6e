"""Residual k-means (RQ-KMeans, as in OneRec / MiniOneRec): k-means on the input, then k-means on what is
left after subtracting each item's centroid, L times. faiss does the clustering (on GPU when faiss has GPU
support and a GPU is visible)."""

from __future__ import annotations

import numpy as np

from rec_core.optional import import_faiss
from rec_core.semantic_ids.codes import SemanticCodes, add_collision_level


class ResidualKMeans:
    def __init__(
        self, levels: int = 3, codebook_size: int = 256, niter: int = 25, seed: int = 0, use_gpu: bool | None = None
    ):
        self.levels, self.codebook_size, self.niter, self.seed = levels, codebook_size, niter, seed
        self.use_gpu = use_gpu
        self.centroids: list[np.ndarray] = []

    def fit(self, x: np.ndarray) -> "ResidualKMeans":
        faiss = import_faiss()

        x = np.ascontiguousarray(x, dtype=np.float32)
        if len(x) < self.codebook_size:
            raise ValueError(f"residual k-means needs at least codebook_size={self.codebook_size} items, got {len(x)}")
        gpu = self.use_gpu if self.use_gpu is not None else faiss.get_num_gpus() > 0
        resid = x.copy()
        self.centroids = []
        for level in range(self.levels):
            km = faiss.Kmeans(
                x.shape[1],
                self.codebook_size,
                niter=self.niter,
                seed=self.seed + level,
                gpu=bool(gpu),
                verbose=False,
                max_points_per_centroid=100_000,
            )
            km.train(resid)
            cents = km.centroids.astype(np.float32)
            _, assign = km.index.search(resid, 1)
            resid -= cents[assign[:, 0]]
            self.centroids.append(cents)
        return self

    def codebooks(self) -> list[np.ndarray]:
        return self.centroids

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.encode_with_residuals(x)[0]

    def encode_with_residuals(self, x: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """-> (codes [n, L], the residual each level quantised)."""
        if not self.centroids:
            raise RuntimeError("ResidualKMeans.encode before fit")
        resid = np.ascontiguousarray(x, dtype=np.float32).copy()
        codes, inputs = [], []
        for cents in self.centroids:
            inputs.append(resid.copy())
            c = nearest(resid, cents)
            codes.append(c)
            resid -= cents[c]
        return np.stack(codes, 1).astype(np.int64), inputs

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return sum(c[codes[:, i]] for i, c in enumerate(self.centroids)).astype(np.float32)


def nearest(x: np.ndarray, cents: np.ndarray) -> np.ndarray:
    faiss = import_faiss()

    index = faiss.IndexFlatL2(cents.shape[1])
    index.add(np.ascontiguousarray(cents, dtype=np.float32))
    _, idx = index.search(np.ascontiguousarray(x, dtype=np.float32), 1)
    return idx[:, 0].astype(np.int64)


def squared_distances(x: np.ndarray, cents: np.ndarray) -> np.ndarray:
    """[n, K] squared L2 distances."""
    return (x * x).sum(1, keepdims=True) - 2 * x @ cents.T + (cents * cents).sum(1)[None, :]


def residual_kmeans_codes(
    item_ids: np.ndarray,
    embeddings: np.ndarray,
    levels: int = 3,
    codebook_size: int = 256,
    seed: int = 0,
    niter: int = 20,
) -> SemanticCodes:
    """Item embeddings -> residual k-means codes + TIGER's collision level, as a codes table: the stand-in for a
    `semantic_ids` run that TIGER (codes_source=kmeans, synthetic data) and the playlist decoder use. Codebooks
    shrink to the item count on tiny catalogues."""
    x = np.asarray(embeddings, dtype=np.float32)
    k = int(min(codebook_size, max(1, len(x))))
    codes = ResidualKMeans(levels=levels, codebook_size=k, niter=niter, seed=seed, use_gpu=False).fit(x).encode(x)
    sids = add_collision_level(codes)
    return SemanticCodes(np.asarray(item_ids), sids, tuple([k] * levels + [int(sids[:, -1].max()) + 1]))
