"""Semantic-ID codes for the playlist decoder, and the decoder's token layout.

The codes table follows the project contract (`codes.parquet`: item_id int64, sid list<int>, unique per item,
the last level resolving collisions). `residual_kmeans_codes` builds one from item embeddings when no table from
the semantic_ids job is given, with that stage's quantizer (rec_core.quantizers: residual k-means, then TIGER's
collision level numbering the items that share a prefix 0, 1, 2, ...).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PAD, EOS = 0, 1  # T5 starts the decoder with PAD
FIRST_SID_TOKEN = 2


def residual_kmeans_codes(item_ids: np.ndarray, emb: np.ndarray, levels: int, codebook_size: int, seed: int = 0) -> pd.DataFrame:
    """Codes table from the semantic-ID stage's own quantizer (faiss residual k-means) + TIGER's collision level."""
    from rec_core.quantizers.collisions import tiger_extra_token
    from rec_core.quantizers.rqkmeans import ResidualKMeans

    x = np.asarray(emb, dtype=np.float32)
    k = min(codebook_size, len(x))
    codes = ResidualKMeans(levels=levels, codebook_size=k, seed=seed, use_gpu=False).fit(x).encode(x)
    sids = tiger_extra_token(codes)
    return pd.DataFrame({"item_id": np.asarray(item_ids, dtype=np.int64), "sid": [list(map(int, s)) for s in sids]})


def write_codes(codes: pd.DataFrame, out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    codes.to_parquet(out_dir / "codes.parquet", index=False)
    sizes = (np.stack(codes["sid"].to_numpy()).max(axis=0) + 1).tolist()
    (out_dir / "sid_meta.json").write_text(json.dumps({"levels": len(sizes), "codebook_sizes": sizes}))
    return out_dir / "codes.parquet"


def read_codes(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"codes table not found: {path}")
    codes = pd.read_parquet(path)
    missing = {"item_id", "sid"} - set(codes.columns)
    if missing:
        raise ValueError(f"{path}: codes table lacks column(s) {sorted(missing)}")
    codes["sid"] = codes["sid"].map(lambda s: [int(x) for x in s])
    return codes


@dataclass
class SidVocab:
    """Maps item <-> semantic ID <-> decoder tokens. Level l code c is token FIRST_SID_TOKEN + offset[l] + c."""

    item_ids: list[int]
    sids: list[tuple[int, ...]]

    def __post_init__(self):
        lengths = {len(s) for s in self.sids}
        if len(lengths) != 1:
            raise ValueError(f"codes table: every sid must have the same number of levels, found {sorted(lengths)}")
        if len(set(self.sids)) != len(self.sids):
            raise ValueError("codes table: semantic IDs are not unique per item (add a collision level)")
        self.levels = lengths.pop()
        arr = np.array(self.sids, dtype=np.int64)
        if (arr < 0).any():
            raise ValueError("codes table: negative code")
        self.sizes = (arr.max(axis=0) + 1).tolist()
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(int).tolist()
        self.vocab_size = FIRST_SID_TOKEN + int(sum(self.sizes))
        self.tokens_of_item = {i: self.to_tokens(s) for i, s in zip(self.item_ids, self.sids)}
        self.item_of_tokens = {t: i for i, t in self.tokens_of_item.items()}

    @classmethod
    def from_codes(cls, codes: pd.DataFrame) -> "SidVocab":
        return cls([int(i) for i in codes["item_id"]], [tuple(int(x) for x in s) for s in codes["sid"]])

    def to_tokens(self, sid) -> tuple[int, ...]:
        return tuple(FIRST_SID_TOKEN + o + int(c) for o, c in zip(self.offsets, sid))

    def encode_list(self, items: list[int], eos: bool = True) -> list[int]:
        toks = [t for i in items for t in self.tokens_of_item[i]]
        return toks + [EOS] if eos else toks

    def decode(self, tokens) -> tuple[list[int], int]:
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
