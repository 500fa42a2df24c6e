"""LLM-enhanced item towers for NCF.

- MetaConcatItemTower ("basic"): [ID embedding ; projected pooled LM state] -> linear fuse.
- CrossAttentionItemTower ("enhanced"): the ID embedding is the query of a multi-head attention over the
  item's metadata token states; [ID ; attended metadata] -> linear fuse; plus an InfoNCE loss that pulls the
  ID view and the metadata view of the same item together against the other items of the batch.
Both fuse layers start as the identity on the ID part, so training begins from a plain NeuMF.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rec_core.ncf.config import LMConfig, ModelKind, NCFModelConfig
from rec_core.ncf.lm import MetadataEncoder
from rec_core.ncf.models import NCF


def _fuse_layer(id_dim: int, extra_dim: int) -> nn.Linear:
    fuse = nn.Linear(id_dim + extra_dim, id_dim)
    with torch.no_grad():
        fuse.weight.zero_()
        fuse.weight[:, :id_dim] = torch.eye(id_dim)
        nn.init.normal_(fuse.weight[:, id_dim:], std=0.01)
        fuse.bias.zero_()
    return fuse


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: row i of `a` should match row i of `b` among all rows of `b` (and vice versa)."""
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class TokenCrossAttention(nn.Module):
    """Multi-head attention of one query per row over that row's token states, the same function as
    `nn.MultiheadAttention(d_attn, heads, kdim=d_lm, vdim=d_lm)` with a single query, computed without
    projecting every token: keys enter only through q_h . (W_k,h s + b_k,h) = (W_k,h^T q_h) . s + q_h . b_k,h,
    and values through W_v,h (sum_l a_hl s_l) + b_v,h (the weights sum to 1). That is O(L * d_lm) per head
    instead of O(L * d_lm * d_attn) -- the difference between minutes and hours per epoch on CPU."""

    def __init__(self, d_attn: int, d_lm: int, heads: int):
        super().__init__()
        if d_attn % heads:
            raise ValueError(f"attention width {d_attn} is not divisible by {heads} heads")
        self.heads, self.d_head = heads, d_attn // heads
        self.q_proj, self.k_proj, self.v_proj = (
            nn.Linear(d_attn, d_attn),
            nn.Linear(d_lm, d_attn),
            nn.Linear(d_lm, d_attn),
        )
        self.out_proj = nn.Linear(d_attn, d_attn)

    def forward(self, query: torch.Tensor, states: torch.Tensor, mask: torch.Tensor):
        """query (B, d_attn), states (B, L, d_lm), mask (B, L) True = real token ->
        (output (B, d_attn), weights (B, heads, L) summing to 1 over real tokens)."""
        b, h, dh = query.shape[0], self.heads, self.d_head
        q = self.q_proj(query).view(b, h, dh) / dh**0.5
        wk = self.k_proj.weight.view(h, dh, -1)
        q_lm = torch.einsum("bhd,hde->bhe", q, wk)  # query pulled back into LM space
        scores = torch.einsum("bhe,ble->bhl", q_lm, states) + (q * self.k_proj.bias.view(h, dh)).sum(-1, keepdim=True)
        weights = scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
        pooled = torch.einsum("bhl,ble->bhe", weights, states)  # attention-weighted token states
        values = torch.einsum("bhe,hde->bhd", pooled, self.v_proj.weight.view(h, dh, -1)) + self.v_proj.bias.view(h, dh)
        return self.out_proj(values.reshape(b, h * dh)), weights


class MetaConcatItemTower(nn.Module):
    def __init__(self, num_items: int, dim: int, meta: MetadataEncoder, cfg: NCFModelConfig):
        super().__init__()
        self.emb = nn.Embedding(num_items, dim)
        nn.init.normal_(self.emb.weight, std=0.01)
        self.meta = meta
        self.proj = nn.Sequential(nn.LayerNorm(meta.dim), nn.Linear(meta.dim, cfg.meta_dim))
        self.fuse = _fuse_layer(dim, cfg.meta_dim)

    def forward(self, items: torch.Tensor):
        # Work once per distinct item of the batch (a batch of 1024 pairs holds far fewer items).
        uniq, inv = torch.unique(items, return_inverse=True)
        _, _, pooled = self.meta(uniq)
        return self.fuse(torch.cat([self.emb(uniq), self.proj(pooled)], dim=-1))[inv], None


class CrossAttentionItemTower(nn.Module):
    def __init__(self, num_items: int, dim: int, meta: MetadataEncoder, cfg: NCFModelConfig):
        super().__init__()
        self.emb = nn.Embedding(num_items, dim)
        nn.init.normal_(self.emb.weight, std=0.01)
        self.meta = meta
        self.query = nn.Linear(dim, cfg.meta_dim)
        # No LayerNorm on the token states: every LM here ends in a final norm already.
        self.attn = TokenCrossAttention(cfg.meta_dim, meta.dim, cfg.attn_heads)
        self.fuse = _fuse_layer(dim, cfg.meta_dim)
        # Contrastive heads: ID view and (pooled) metadata view into one space. Only built when used:
        # DDP fails on parameters that never get a gradient.
        self.contrastive_weight, self.temperature = cfg.contrastive_weight, cfg.temperature
        if self.contrastive_weight > 0:
            self.id_view = nn.Linear(dim, cfg.meta_dim)
            self.meta_view = nn.Sequential(nn.LayerNorm(meta.dim), nn.Linear(meta.dim, cfg.meta_dim))

    def attend(self, items: torch.Tensor):
        """-> (ID embeddings, attended metadata (B, meta_dim), weights (B, heads, L), pooled states)."""
        states, mask, pooled = self.meta(items)
        q_id = self.emb(items)
        out, w = self.attn(self.query(q_id), states, mask)
        return q_id, out, w, pooled

    def forward(self, items: torch.Tensor):
        # Attend once per distinct item of the batch; this also gives InfoNCE one row per item
        # (duplicates would be false negatives of each other).
        uniq, inv = torch.unique(items, return_inverse=True)
        q_id, z, _, pooled = self.attend(uniq)
        vec = self.fuse(torch.cat([q_id, z], dim=-1))[inv]
        aux = None
        if self.training and self.contrastive_weight > 0 and uniq.numel() > 1:
            aux = self.contrastive_weight * info_nce(self.id_view(q_id), self.meta_view(pooled), self.temperature)
        return vec, aux

    @torch.no_grad()
    def attention_weights(self, items: torch.Tensor, average_heads: bool = True) -> torch.Tensor:
        """Weights of each item's ID query over its metadata tokens: (B, L) or (B, heads, L); rows sum to 1,
        padding gets 0. Pair with `meta.tokenizer` / the token ids to show which words the model looked at."""
        _, _, w, _ = self.attend(items)
        return w.mean(1) if average_heads else w


def build_model(
    kind: ModelKind,
    num_users: int,
    num_items: int,
    cfg: NCFModelConfig,
    lm_cfg: LMConfig | None = None,
    texts: list[str] | None = None,
    cache: dict | None = None,
    seed: int = 0,
) -> NCF:
    """Any of the five variants. LLM variants need `texts` (one per item index) and, in cache mode,
    optionally a precomputed `cache` (rec_core.ncf.lm.build_or_load_cache)."""
    if kind in ("gmf", "mlp", "neumf"):
        return NCF(num_users, num_items, cfg, kind=kind)
    if kind not in ("llm_concat", "llm_xattn"):
        raise ValueError(f"unknown NCF model {kind!r}: gmf, mlp, neumf, llm_concat or llm_xattn")
    if lm_cfg is None or texts is None:
        raise ValueError(f"{kind} needs an LM config and one metadata text per item")
    if len(texts) != num_items:
        raise ValueError(f"{kind}: {len(texts)} metadata texts for {num_items} items")
    meta = MetadataEncoder(lm_cfg, texts, need_tokens=kind == "llm_xattn", cache=cache, seed=seed)
    dim = cfg.factors + cfg.layers[0] // 2  # NeuMF head: GMF half + MLP half
    tower_cls = CrossAttentionItemTower if kind == "llm_xattn" else MetaConcatItemTower
    model = NCF(num_users, num_items, cfg, kind="neumf", item_tower=tower_cls(num_items, dim, meta, cfg))
    model.kind = kind
    return model
