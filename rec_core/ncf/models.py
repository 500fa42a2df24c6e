"""GMF, MLP and NeuMF (He et al., "Neural Collaborative Filtering", WWW 2017).

One class covers the three: a user embedding and an item representation, each split into a GMF half
(`factors` wide) and an MLP half (`layers[0] // 2` wide), scored by `InteractionHead`. The LLM-enhanced
models (rec_core.ncf.fusion) only swap the item side, so every variant shares the head and the loss.
"""

from __future__ import annotations

import torch
from torch import nn

from rec_core.ncf.config import NCFModelConfig


class InteractionHead(nn.Module):
    """GMF: p_u * q_i;  MLP: tower([p_u ; q_i]);  NeuMF: a linear layer over both, one logit out."""

    def __init__(self, cfg: NCFModelConfig, use_gmf: bool, use_mlp: bool):
        super().__init__()
        if not (use_gmf or use_mlp):
            raise ValueError("an NCF head needs the GMF part, the MLP part or both")
        self.gmf_dim = cfg.factors if use_gmf else 0
        self.mlp_dim = cfg.layers[0] // 2 if use_mlp else 0
        tower: list[nn.Module] = []
        if use_mlp:
            for w_in, w_out in zip(cfg.layers[:-1], cfg.layers[1:]):
                tower += [nn.Linear(w_in, w_out), nn.ReLU()]
                if cfg.dropout:
                    tower.append(nn.Dropout(cfg.dropout))
        self.tower = nn.Sequential(*tower)
        tower_out = cfg.layers[-1] if use_mlp else 0
        self.predict = nn.Linear(self.gmf_dim + tower_out, 1)
        self.reset_parameters()

    @property
    def dim(self) -> int:
        """Width of a user or item vector this head consumes."""
        return self.gmf_dim + self.mlp_dim

    def reset_parameters(self) -> None:
        for m in self.tower:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        # The paper's predict layer init (kaiming-uniform, a=1) keeps initial logits near 0.
        nn.init.kaiming_uniform_(self.predict.weight, a=1, nonlinearity="sigmoid")
        nn.init.zeros_(self.predict.bias)

    def hidden(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        g = self.gmf_dim
        parts = []
        if g:
            parts.append(user[..., :g] * item[..., :g])
        if self.mlp_dim:
            parts.append(self.tower(torch.cat([user[..., g:], item[..., g:]], dim=-1)))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        return self.predict(self.hidden(user, item)).squeeze(-1)


class IdItemTower(nn.Module):
    """Plain item ID embedding. `forward` returns (item vectors, auxiliary loss or None)."""

    def __init__(self, num_items: int, dim: int):
        super().__init__()
        self.emb = nn.Embedding(num_items, dim)
        nn.init.normal_(self.emb.weight, std=0.01)

    def forward(self, items: torch.Tensor):
        return self.emb(items), None


class NCF(nn.Module):
    """Scores (user, item) pairs with one logit. `kind` is gmf, mlp or neumf; item_tower swaps the item side."""

    def __init__(
        self,
        num_users: int,
        num_items: int,
        cfg: NCFModelConfig,
        kind: str = "neumf",
        item_tower: nn.Module | None = None,
    ):
        super().__init__()
        self.kind = kind
        self.num_users, self.num_items = num_users, num_items
        self.head = InteractionHead(cfg, use_gmf=kind != "mlp", use_mlp=kind != "gmf")
        self.user_emb = nn.Embedding(num_users, self.head.dim)
        nn.init.normal_(self.user_emb.weight, std=0.01)
        self.item_tower = item_tower if item_tower is not None else IdItemTower(num_items, self.head.dim)

    def forward(self, users: torch.Tensor, items: torch.Tensor):
        """-> (logits (B,), auxiliary loss (scalar) or None)."""
        item_vec, aux = self.item_tower(items)
        return self.head(self.user_emb(users), item_vec), aux

    @torch.no_grad()
    def all_item_vectors(self, chunk: int = 1024) -> torch.Tensor:
        """Item vectors for every item, computed once for evaluation (item side never depends on the user)."""
        dev = self.user_emb.weight.device
        out = [
            self.item_tower(torch.arange(s, min(s + chunk, self.num_items), device=dev))[0]
            for s in range(0, self.num_items, chunk)
        ]
        return torch.cat(out)

    @torch.no_grad()
    def score_candidates(
        self, users: torch.Tensor, candidates: torch.Tensor, item_vectors: torch.Tensor | None = None
    ) -> torch.Tensor:
        """users (B,), candidates (B, C) item indices -> logits (B, C)."""
        iv = item_vectors if item_vectors is not None else self.all_item_vectors()
        u = self.user_emb(users)[:, None, :].expand(-1, candidates.shape[1], -1)
        return self.head(u, iv[candidates])


def neumf_from_pretrained(gmf: NCF, mlp: NCF, cfg: NCFModelConfig, alpha: float = 0.5) -> NCF:
    """NeuMF initialised from trained GMF and MLP (Sec. 3.4.1): embeddings and tower copied, the predict
    layer is [alpha * h_gmf ; (1 - alpha) * h_mlp]. Both must be plain-ID models of matching sizes."""
    if gmf.kind != "gmf" or mlp.kind != "mlp":
        raise ValueError(f"need a GMF and an MLP model, got {gmf.kind!r} and {mlp.kind!r}")
    model = NCF(gmf.num_users, gmf.num_items, cfg, kind="neumf")
    g = model.head.gmf_dim
    with torch.no_grad():
        model.user_emb.weight[:, :g] = gmf.user_emb.weight
        model.user_emb.weight[:, g:] = mlp.user_emb.weight
        model.item_tower.emb.weight[:, :g] = gmf.item_tower.emb.weight
        model.item_tower.emb.weight[:, g:] = mlp.item_tower.emb.weight
        model.head.tower.load_state_dict(mlp.head.tower.state_dict())
        model.head.predict.weight[:, :g] = alpha * gmf.head.predict.weight
        model.head.predict.weight[:, g:] = (1 - alpha) * mlp.head.predict.weight
        model.head.predict.bias[:] = alpha * gmf.head.predict.bias + (1 - alpha) * mlp.head.predict.bias
    return model
