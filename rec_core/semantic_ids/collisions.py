"""Make semantic IDs unique per item.

- "tiger": TIGER's extra disambiguation token. Items sharing a code tuple get 0, 1, 2, ... as an extra
  level (unique items get 0); the extra level's size is the largest collision group.
- "sinkhorn": LC-Rec's uniform semantic mapping. The last level of the colliding items is re-assigned with
  Sinkhorn-Knopp over their (centred) distances to the last codebook, which spreads them evenly over the
  codes; repeated while collisions shrink. LC-Rec stops there, and its released Instruments IDs still
  collide (9,897 distinct for 9,922 items), so we finish with an exact step: inside each remaining
  colliding prefix, the items that must move take the nearest free last-level codes (Hungarian assignment).
  Only a prefix with more items than codes is impossible to fix this way; then the TIGER token is appended
  and the info says so.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from rec_core.semantic_ids.codes import add_collision_level
from rec_core.semantic_ids.rqkmeans import squared_distances


def colliding_rows(codes: np.ndarray) -> np.ndarray:
    """Indices of items whose full tuple is shared with another item."""
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    return np.flatnonzero(counts[inverse.reshape(-1)] > 1)


def sinkhorn_log(cost: np.ndarray, epsilon: float = 0.003, iters: int = 50) -> np.ndarray:
    """Sinkhorn-Knopp in the log domain (LC-Rec's version overflows exp(-d/eps) for small eps).
    Returns log of the transport plan with uniform marginals over rows (items) and columns (codes)."""
    n, k = cost.shape
    log_q = -cost.astype(np.float64) / epsilon
    for _ in range(iters):
        log_q -= _logsumexp(log_q, axis=1) + np.log(n)  # each item carries mass 1/n
        log_q -= _logsumexp(log_q, axis=0) + np.log(k)  # each code receives mass 1/k
    return log_q


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))


def _centred(d: np.ndarray) -> np.ndarray:
    """LC-Rec's `center_distance_for_constraint`: map distances to [-1, 1] so epsilon is scale-free."""
    lo, hi = d.min(), d.max()
    return (d - (hi + lo) / 2) / max((hi - lo) / 2, 1e-12)


def resolve_collisions(
    codes: np.ndarray,
    method: str,
    *,
    last_inputs: np.ndarray | None = None,
    last_codebook: np.ndarray | None = None,
    rounds: int = 20,
    epsilon: float = 0.003,
    sk_iters: int = 50,
) -> tuple[np.ndarray, dict]:
    """-> (unique codes, info). `last_inputs` are the vectors the last level quantised (the residuals)
    and `last_codebook` its codes [K, d]; both are needed for "sinkhorn"."""
    codes = np.asarray(codes, dtype=np.int64).copy()
    n = len(codes)
    info: dict = {"method": method, "colliding_items_before": int(len(colliding_rows(codes)))}
    if method == "none":
        return codes, info
    if method == "tiger":
        out = add_collision_level(codes)
        info["extra_level_size"] = int(out[:, -1].max() + 1) if n else 1
        return out, info
    if method != "sinkhorn":
        raise ValueError(f"unknown collision method {method!r}: expected tiger, sinkhorn or none")
    if last_inputs is None or last_codebook is None:
        raise ValueError("collision method 'sinkhorn' needs the last level's inputs and codebook")
    dist = squared_distances(np.asarray(last_inputs, np.float64), np.asarray(last_codebook, np.float64))
    prev = None
    used_rounds = 0
    for _ in range(rounds):
        rows = colliding_rows(codes)
        if len(rows) == 0 or (prev is not None and len(rows) >= len(prev)):
            break
        prev = rows
        used_rounds += 1
        codes[rows, -1] = sinkhorn_log(_centred(dist[rows]), epsilon, sk_iters).argmax(1)
    info["sinkhorn_rounds"] = used_rounds
    info["colliding_items_after_sinkhorn"] = int(len(colliding_rows(codes)))
    # LC-Rec's released IDs are what its Sinkhorn rounds leave: this is the rate to set beside them
    info["collision_rate_after_sinkhorn"] = float(1 - len(np.unique(codes, axis=0)) / n) if n else 0.0
    moved, impossible = _assign_free_codes(codes, dist)
    info["moved_by_assignment"] = moved
    if impossible:
        codes = add_collision_level(codes)
        info["extra_level_size"] = int(codes[:, -1].max() + 1)
    info["extra_token_fallback"] = bool(impossible)
    return codes, info


def _assign_free_codes(codes: np.ndarray, dist: np.ndarray) -> tuple[int, bool]:
    """In place: inside each prefix that still collides, keep the closest item per last code and move the
    others to the nearest unused last codes. Returns (items moved, whether some prefix had > K items)."""
    from scipy.optimize import linear_sum_assignment

    rows = colliding_rows(codes)
    if len(rows) == 0:
        return 0, False
    k = dist.shape[1]
    by_prefix: dict[tuple, list[int]] = defaultdict(list)
    for i, prefix in enumerate(map(tuple, codes[:, :-1])):
        by_prefix[prefix].append(i)
    moved, impossible = 0, False
    for prefix in {tuple(codes[r, :-1]) for r in rows}:
        members = np.array(by_prefix[prefix])
        if len(members) > k:
            impossible = True
            continue
        keep: dict[int, int] = {}
        for i in members:
            c = int(codes[i, -1])
            if c not in keep or dist[i, c] < dist[keep[c], c]:
                keep[c] = i
        movers = np.array([i for i in members if keep.get(int(codes[i, -1])) != i])
        free = np.array([c for c in range(k) if c not in keep])
        r, c = linear_sum_assignment(dist[np.ix_(movers, free)])
        codes[movers[r], -1] = free[c]
        moved += len(movers)
    return moved, impossible
