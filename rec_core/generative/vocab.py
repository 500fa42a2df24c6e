"""A locally built vocabulary for TIGER: specials, per-level semantic-ID tokens, hashed user tokens.

No hub tokenizer: the "text" is a sequence of integer codes, so tokenisation is an offset per level.
Token layout (T5 conventions: pad=0 doubles as the decoder start, eos=1):

    0 <pad>  1 </s>  2 <unk>
    3 ...                       level 0 codes   (codebook_sizes[0] tokens)
    ...                         level l codes   (codebook_sizes[l] tokens)
    ...                         user tokens     (num_user_tokens, users hashed into them, as in TIGER)
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

PAD, EOS, UNK = 0, 1, 2
NUM_SPECIALS = 3


@dataclass(frozen=True)
class SIDVocab:
    codebook_sizes: tuple[int, ...]
    num_user_tokens: int = 2000
    level_offsets: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        if not self.codebook_sizes or any(int(c) < 1 for c in self.codebook_sizes):
            raise ValueError(f"codebook_sizes must be positive, got {self.codebook_sizes}")
        if self.num_user_tokens < 1:
            raise ValueError("num_user_tokens must be >= 1")
        offsets, cur = [], NUM_SPECIALS
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

    def user_token(self, user_id) -> int:
        """Stable hash (not Python's salted hash()) so a checkpoint maps users the same way in every process."""
        h = int.from_bytes(hashlib.blake2b(str(user_id).encode(), digest_size=8).digest(), "little")
        return self.user_offset + h % self.num_user_tokens

    def level_token_ids(self, level: int) -> np.ndarray:
        return np.arange(self.level_offsets[level], self.level_offsets[level] + self.codebook_sizes[level])

    def to_dict(self) -> dict:
        return {"codebook_sizes": list(self.codebook_sizes), "num_user_tokens": self.num_user_tokens}

    @classmethod
    def from_dict(cls, d: dict) -> "SIDVocab":
        return cls(tuple(d["codebook_sizes"]), int(d.get("num_user_tokens", 2000)))
