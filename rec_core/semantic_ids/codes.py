"""THE semantic-ID codes contract: the table, its reader and writer, the collision level, the token vocabulary.

Table (written by `genrec run semantic_ids`, read by TIGER, the playlist decoder and the benchmarks):
`codes.parquet` with `item_id int64, sid list<int64>` (every level, including the collision-handling level),
unique per item, and `sid_meta.json` `{"levels": L, "codebook_sizes": [...]}` beside it.

Vocabulary: a generative model reads and writes semantic IDs as tokens, one token per (level, code). `SIDVocab`
is the one layout: specials first (T5 conventions: pad=0 doubles as the decoder start, eos=1, and unk=2 for
TIGER), then each level's codes, then optional hashed user tokens (TIGER). `ItemTokens` maps items to and from
their token sequences under a vocabulary (item lists, e.g. playlists).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
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
            raise CodesError(
                f"codes have {self.sids.shape[1]} levels but codebook_sizes lists {len(self.codebook_sizes)}"
            )
        if len(np.unique(self.item_ids)) != len(self.item_ids):
            raise CodesError("item_id is not unique in the codes table")
        if (self.sids < 0).any() or (self.sids >= np.asarray(self.codebook_sizes)[None, :]).any():
            raise CodesError("a code lies outside its level's codebook size")
        n_unique = len(np.unique(self.sids, axis=0))
        if n_unique != len(self.sids):
            raise CodesError(
                f"{len(self.sids) - n_unique} items share a semantic ID with another item; "
                "the table needs a collision-handling level"
            )

    @property
    def levels(self) -> int:
        return self.sids.shape[1]

    def aligned(self, index_item_ids: np.ndarray) -> np.ndarray:
        """Codes for a model's contiguous item index (index i -> original id index_item_ids[i])."""
        pos = pd.Series(np.arange(len(self.item_ids)), index=self.item_ids)
        idx = pos.reindex(np.asarray(index_item_ids, dtype=np.int64))
        missing = int(idx.isna().sum())
        if missing:
            raise CodesError(
                f"{missing} of {len(index_item_ids)} dataset items have no semantic ID in the codes table "
                f"(e.g. item_id {np.asarray(index_item_ids)[idx.isna().to_numpy()][:3].tolist()})"
            )
        return self.sids[idx.to_numpy(dtype=np.int64)]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"item_id": self.item_ids, "sid": [list(map(int, r)) for r in self.sids]})

    def subset(self, item_ids) -> "SemanticCodes":
        """The rows of `item_ids`, in that order (CodesError names the ids the table lacks)."""
        ids = np.asarray(item_ids, dtype=np.int64)
        return SemanticCodes(ids, self.aligned(ids), self.codebook_sizes)

    def save(self, out_dir: Path) -> Path:
        return write_codes(out_dir, self.item_ids, self.sids, self.codebook_sizes)


def write_codes(out_dir: Path, item_ids, sids, codebook_sizes) -> Path:
    """The one writer of the table: `codes.parquet` + `sid_meta.json` in `out_dir`. It checks shapes, not
    uniqueness: a run with collision handling off writes its raw codes, which `load_codes` then refuses."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sids = np.asarray(sids, dtype=np.int64)
    if sids.ndim != 2 or len(sids) != len(item_ids) or sids.shape[1] != len(codebook_sizes):
        raise CodesError(
            f"cannot write codes: sids {sids.shape} for {len(item_ids)} items and {len(codebook_sizes)} levels"
        )
    table = pa.table(
        {
            "item_id": pa.array(np.asarray(item_ids, dtype=np.int64), pa.int64()),
            "sid": pa.array([list(map(int, r)) for r in sids], pa.list_(pa.int64())),
        }
    )
    pq.write_table(table, out_dir / "codes.parquet")
    meta = {"levels": int(sids.shape[1]), "codebook_sizes": [int(c) for c in codebook_sizes]}
    (out_dir / "sid_meta.json").write_text(json.dumps(meta) + "\n")
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
    sids = (
        np.stack(df["sid"].map(lambda s: np.asarray(s, dtype=np.int64)).to_list())
        if len(df)
        else np.zeros((0, 0), np.int64)
    )
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


def add_collision_level(codes: np.ndarray) -> np.ndarray:
    """TIGER's extra level: [n, L] -> [n, L+1]; the new column numbers the items that share a code tuple
    0, 1, 2, ... in row order (unique items get 0), so the extra level's size is the largest collision group."""
    codes = np.asarray(codes, dtype=np.int64)
    _, inverse = np.unique(codes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    sorted_groups = inverse[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    rank_sorted = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    extra = np.empty(len(codes), np.int64)
    extra[order] = rank_sorted
    return np.concatenate([codes, extra[:, None]], 1)


def released_codes(item_ids: np.ndarray, sids: np.ndarray) -> tuple[SemanticCodes, int]:
    """A released SID table as codes. Released tables can still map a few items to one ID (LC-Rec's Instruments
    index: 25 of 9,922); a generative model must tell them apart, so TIGER's collision level is appended then,
    and only then. Returns the codes and how many items shared an ID."""
    sids = np.asarray(sids, dtype=np.int64)
    shared = len(sids) - len(np.unique(sids, axis=0))
    if shared:
        sids = add_collision_level(sids)
    return SemanticCodes(np.asarray(item_ids), sids, tuple(int(c) + 1 for c in sids.max(axis=0))), shared


# ---------------------------------------------------------------------------------------------
# Token vocabulary

PAD, EOS, UNK = 0, 1, 2


@dataclass(frozen=True)
class SIDVocab:
    """Token layout: `num_specials` specials (3: pad, eos, unk for TIGER; 2: pad, eos for item lists), then the
    codes of each level in turn (level l code c -> level_offsets[l] + c), then `num_user_tokens` user tokens."""

    codebook_sizes: tuple[int, ...]
    num_user_tokens: int = 2000
    num_specials: int = 3
    level_offsets: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        if not self.codebook_sizes or any(int(c) < 1 for c in self.codebook_sizes):
            raise ValueError(f"codebook_sizes must be positive, got {self.codebook_sizes}")
        if self.num_user_tokens < 0:
            raise ValueError("num_user_tokens must be >= 0")
        if self.num_specials < 2:
            raise ValueError("num_specials must be >= 2 (pad and eos)")
        offsets, cur = [], self.num_specials
        for c in self.codebook_sizes:
            offsets.append(cur)
            cur += int(c)
        object.__setattr__(self, "codebook_sizes", tuple(int(c) for c in self.codebook_sizes))
        object.__setattr__(self, "level_offsets", tuple(offsets))

    @property
    def levels(self) -> int:
        return len(self.codebook_sizes)

    @property
    def user_offset(self) -> int:
        return self.level_offsets[-1] + self.codebook_sizes[-1]

    @property
    def size(self) -> int:
        return self.user_offset + self.num_user_tokens

    def encode_sid(self, sid: Sequence[int]) -> list[int]:
        if len(sid) != self.levels:
            raise ValueError(f"semantic ID {list(sid)} has {len(sid)} levels, vocabulary has {self.levels}")
        out = []
        for lvl, c in enumerate(sid):
            if not 0 <= int(c) < self.codebook_sizes[lvl]:
                raise ValueError(f"code {c} at level {lvl} is outside codebook of size {self.codebook_sizes[lvl]}")
            out.append(self.level_offsets[lvl] + int(c))
        return out

    def decode_sid(self, tokens: Sequence[int]) -> tuple[int, ...] | None:
        """Token ids (eos/pad stripped) -> codes, or None when they do not form a well-levelled ID."""
        toks = [int(t) for t in tokens if int(t) not in (PAD, EOS)]
        if len(toks) != self.levels:
            return None
        codes = []
        for lvl, t in enumerate(toks):
            c = t - self.level_offsets[lvl]
            if not 0 <= c < self.codebook_sizes[lvl]:
                return None
            codes.append(c)
        return tuple(codes)

    def item_tokens(self, sids: np.ndarray) -> np.ndarray:
        """(n_items, L) codes -> (n_items, L) token ids."""
        sids = np.asarray(sids, dtype=np.int64)
        if sids.ndim != 2 or sids.shape[1] != self.levels:
            raise ValueError(f"item codes have shape {sids.shape}, vocabulary has {self.levels} levels")
        return sids + np.asarray(self.level_offsets, dtype=np.int64)[None, :]

    def user_token(self, user_id) -> int:
        """Stable hash (not Python's salted hash()) so a checkpoint maps users the same way in every process."""
        if not self.num_user_tokens:
            raise ValueError("this vocabulary has no user tokens")
        h = int.from_bytes(hashlib.blake2b(str(user_id).encode(), digest_size=8).digest(), "little")
        return self.user_offset + h % self.num_user_tokens

    def level_token_ids(self, level: int) -> np.ndarray:
        return np.arange(self.level_offsets[level], self.level_offsets[level] + self.codebook_sizes[level])

    def to_dict(self) -> dict:
        return {
            "codebook_sizes": list(self.codebook_sizes),
            "num_user_tokens": self.num_user_tokens,
            "num_specials": self.num_specials,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SIDVocab":
        return cls(tuple(d["codebook_sizes"]), int(d.get("num_user_tokens", 2000)), int(d.get("num_specials", 3)))


class ItemTokens:
    """Items <-> their token sequences under `vocab`, for models that emit lists of items."""

    def __init__(self, vocab: SIDVocab, item_ids: Sequence[int], sids: Sequence[Sequence[int]]):
        self.vocab = vocab
        self.item_ids = [int(i) for i in item_ids]
        self.sids = [tuple(int(c) for c in s) for s in sids]
        if len(set(self.sids)) != len(self.sids):
            raise CodesError("semantic IDs are not unique per item (add a collision level)")
        self.tokens_of_item = {i: tuple(vocab.encode_sid(s)) for i, s in zip(self.item_ids, self.sids)}
        self.item_of_tokens = {t: i for i, t in self.tokens_of_item.items()}

    @classmethod
    def compact(cls, item_ids: Sequence[int], sids: Sequence[Sequence[int]], num_specials: int = 2) -> "ItemTokens":
        """Under a vocabulary just wide enough for these codes (each level's largest code + 1), no user tokens."""
        lengths = {len(s) for s in sids}
        if len(lengths) != 1:
            raise CodesError(f"every semantic ID must have the same number of levels, found {sorted(lengths)}")
        arr = np.asarray(sids, dtype=np.int64)
        if (arr < 0).any():
            raise CodesError("negative code in the codes table")
        sizes = tuple(int(c) + 1 for c in arr.max(axis=0))
        return cls(SIDVocab(sizes, num_user_tokens=0, num_specials=num_specials), item_ids, arr.tolist())

    @property
    def levels(self) -> int:
        return self.vocab.levels

    @property
    def size(self) -> int:
        """Tokens in the vocabulary (the decoder's output width)."""
        return self.vocab.size

    def encode_list(self, items: Sequence[int], eos: bool = True) -> list[int]:
        toks = [t for i in items for t in self.tokens_of_item[i]]
        return toks + [EOS] if eos else toks

    def decode_list(self, tokens) -> tuple[list[int], int]:
        """Decoder tokens -> (items, count of invalid item chunks). Stops at EOS; PAD is skipped."""
        toks = [int(t) for t in tokens if int(t) != PAD]
        if EOS in toks:
            toks = toks[: toks.index(EOS)]
        items, bad = [], 0
        for k in range(0, len(toks) - len(toks) % self.levels, self.levels):
            item = self.item_of_tokens.get(tuple(toks[k : k + self.levels]))
            if item is None:
                bad += 1
            else:
                items.append(item)
        return items, bad
