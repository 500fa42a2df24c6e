"""SASRec (Kang & McAuley 2018): a causal self-attention encoder over the item sequence, scoring items
by dot product with their embeddings. Two losses, because published reproductions show the choice
moves Beauty Recall@10 a lot: `bce` (the original: one sampled negative per position) and `ce`
(softmax cross-entropy over all items)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from rec_core.config import StrictModel


class SASRecConfig(StrictModel):
    max_len: int = Field(20, ge=1, description="history length (the TIGER protocol keeps the last 20)")
    d_model: int = Field(64, ge=8)
    num_heads: int = Field(2, ge=1)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.2, ge=0, lt=1)
    loss: Literal["ce", "bce"] = "ce"


class SASRec(nn.Module):
    """Item index i is embedded at row i + 1; row 0 is padding (left-padded sequences)."""

    def __init__(self, num_items: int, cfg: SASRecConfig):
        super().__init__()
        self.num_items, self.cfg = num_items, cfg
        self.item_emb = nn.Embedding(num_items + 1, cfg.d_model, padding_idx=0)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model,
            cfg.num_heads,
            dim_feedforward=cfg.d_model * 4,
            dropout=cfg.dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(cfg.d_model)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """seq: (B, T) of item index + 1 (0 = pad) -> hidden (B, T, d)."""
        T = seq.shape[1]
        pos = torch.arange(T, device=seq.device)
        x = self.item_emb(seq) * self.cfg.d_model**0.5 + self.pos_emb(pos)[None]
        x = self.drop(x) * (seq > 0).unsqueeze(-1)
        causal = torch.triu(torch.ones(T, T, dtype=torch.bool, device=seq.device), 1)
        h = self.encoder(x, mask=causal, src_key_padding_mask=None)
        return self.norm(h)

    def loss(self, batch: dict[str, torch.Tensor], hidden: torch.Tensor | None = None) -> torch.Tensor:
        """`hidden`: the encoder output when the forward ran through a DDP/DeepSpeed wrapper."""
        h = self(batch["seq"]) if hidden is None else hidden
        valid = batch["pos"] > 0
        h, pos = h[valid], batch["pos"][valid]
        if self.cfg.loss == "ce":
            logits = h @ self.item_emb.weight[1:].T
            return F.cross_entropy(logits, pos - 1)
        neg = batch["neg"][valid]
        pos_logit = (h * self.item_emb(pos)).sum(-1)
        neg_logit = (h * self.item_emb(neg)).sum(-1)
        return F.binary_cross_entropy_with_logits(
            pos_logit, torch.ones_like(pos_logit)
        ) + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))

    @torch.no_grad()
    def score(self, histories: Sequence[Sequence[int]], device="cpu") -> np.ndarray:
        was = self.training
        self.eval()
        seq = left_pad([np.asarray(h, dtype=np.int64) + 1 for h in histories], self.cfg.max_len).to(device)
        h = self(seq)[:, -1]
        out = (h @ self.item_emb.weight[1:].T).float().cpu().numpy()
        self.train(was)
        return out


def left_pad(rows: Sequence[np.ndarray], width: int) -> torch.Tensor:
    out = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        r = np.asarray(r)[-width:]
        if len(r):
            out[i, width - len(r) :] = torch.from_numpy(np.asarray(r, dtype=np.int64))
    return out


class SASRecSequences(torch.utils.data.Dataset):
    """One sample per user: input = train[:-1], positives = train[1:] (the last max_len positions), as in SASRec.
    BCE negatives are drawn uniformly from items the user never had in training (resampled every epoch)."""

    def __init__(self, train: Mapping[int, Sequence[int]], num_items: int, max_len: int = 20, seed: int = 0):
        self.seqs = [np.asarray(s, dtype=np.int64) for s in train.values() if len(s) >= 2]
        self.num_items, self.max_len = num_items, max_len
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return len(self.seqs)

    def __getitem__(self, i):
        s = self.seqs[i][-(self.max_len + 1) :]
        seen = set(s.tolist())
        neg = self.rng.integers(self.num_items, size=len(s) - 1)
        for j in range(len(neg)):
            while int(neg[j]) in seen and len(seen) < self.num_items:
                neg[j] = self.rng.integers(self.num_items)
        return s[:-1] + 1, s[1:] + 1, neg + 1

    def collate(self, rows):
        seq, pos, neg = zip(*rows)
        return {
            "seq": left_pad(seq, self.max_len),
            "pos": left_pad(pos, self.max_len),
            "neg": left_pad(neg, self.max_len),
        }
