"""RQ-VAE (TIGER, LC-Rec): MLP encoder -> residual vector quantisation (L levels x K codes) -> MLP decoder.

The quantiser is vector-quantize-pytorch's `ResidualVQ`, which already has what the reproductions say a
working RQ-VAE needs: k-means initialisation of each codebook from the first batch, EMA codebook updates,
dead-code reset (codes whose EMA usage falls below a threshold are re-seeded from the batch) and the
commitment loss weighted by beta. Under DDP/DeepSpeed it all-reduces its k-means init and EMA statistics,
so every rank keeps the same codebooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from pydantic import Field
from torch import nn
from torch.nn import functional as F

from rec_core.config import StrictModel


class RQVAEConfig(StrictModel):
    hidden_dims: list[int] = Field(default_factory=lambda: [512, 256, 128], description="encoder MLP widths")
    latent_dim: int = Field(32, ge=1)
    levels: int = Field(3, ge=1)
    codebook_size: int = Field(256, ge=2)
    beta: float = Field(0.25, ge=0, description="commitment weight")
    kmeans_init: bool = True
    kmeans_iters: int = Field(10, ge=1)
    dead_code_threshold: float = Field(2.0, ge=0, description="EMA usage below which a code is re-seeded (0 = off)")
    ema_decay: float = Field(0.99, gt=0, lt=1)
    dropout: float = Field(0.0, ge=0, lt=1)
    recon_loss: Literal["mean", "sum"] = Field(
        "mean",
        description="reconstruction MSE averaged over the input dims (mean) or summed over them (sum, as "
        "RQ-VAE-Recommender does against codebook collapse): sum weighs reconstruction in_dim times more "
        "against the commitment loss",
    )


def mlp(dims: list[int], dropout: float = 0.0) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.SiLU())
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


@dataclass
class RQVAEOutput:
    recon: torch.Tensor
    codes: torch.Tensor
    loss: torch.Tensor
    recon_loss: torch.Tensor
    commit_loss: torch.Tensor


class RQVAE(nn.Module):
    def __init__(self, in_dim: int, cfg: RQVAEConfig | None = None):
        from vector_quantize_pytorch import ResidualVQ

        super().__init__()
        self.cfg = cfg = cfg or RQVAEConfig()
        self.in_dim = in_dim
        self.encoder = mlp([in_dim, *cfg.hidden_dims, cfg.latent_dim], cfg.dropout)
        self.decoder = mlp([cfg.latent_dim, *reversed(cfg.hidden_dims), in_dim], cfg.dropout)
        self.rvq = ResidualVQ(
            dim=cfg.latent_dim,
            num_quantizers=cfg.levels,
            codebook_size=cfg.codebook_size,
            kmeans_init=cfg.kmeans_init,
            kmeans_iters=cfg.kmeans_iters,
            threshold_ema_dead_code=cfg.dead_code_threshold,
            commitment_weight=cfg.beta,
            decay=cfg.ema_decay,
        )

    def forward(self, x: torch.Tensor) -> RQVAEOutput:
        z = self.encoder(x)
        # The quantiser's EMA/k-means run in fp32 even when the MLPs run in bf16 (DeepSpeed bf16).
        with torch.autocast(device_type=x.device.type, enabled=False):
            q, codes, commit = self.rvq(z.float())
        recon = self.decoder(q.to(z.dtype))
        recon_loss = F.mse_loss(recon.float(), x.float())
        if self.cfg.recon_loss == "sum":  # summed over dims, averaged over the batch
            recon_loss = recon_loss * x.shape[-1]
        commit_loss = commit.sum()
        return RQVAEOutput(recon, codes, recon_loss + commit_loss, recon_loss.detach(), commit_loss.detach())

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes [n, levels] (long). Call in eval mode: training mode would update the codebooks."""
        _, codes, _ = self.rvq(self.encoder(x).float())
        return codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        q = self.rvq.get_output_from_indices(codes)
        return self.decoder(q.to(next(self.decoder.parameters()).dtype))  # bf16 under DeepSpeed

    def codebooks(self) -> list[np.ndarray]:
        return [c.detach().float().cpu().numpy() for c in self.rvq.codebooks]

    @torch.no_grad()
    def latents(self, x: torch.Tensor) -> np.ndarray:
        return self.encoder(x).float().cpu().numpy()


def shard_batches(n: int, batch_size: int, rank: int, world: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """One epoch of row-index batches for this rank: a permutation seeded by (seed, epoch), the same on every rank,
    dealt round-robin into `world` equal shards (the remainder left out, so every rank takes the same number of
    steps), then cut into batches (a short last batch is dropped when there is more than one). Slicing a tensor with
    these indices is what a DataLoader over a TensorDataset does item by item, minus its per-item Python calls:
    the RQ-VAE's batches are 1,024 rows of 384 floats and the collate cost more than the step."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    per_rank = n // world
    if per_rank == 0:
        raise ValueError(f"{n} rows cannot feed {world} ranks")
    mine = torch.randperm(n, generator=g)[rank : per_rank * world : world]
    if per_rank <= batch_size:
        return [mine]
    return list(mine[: per_rank - per_rank % batch_size].split(batch_size))


@torch.no_grad()
def rqvae_encode_numpy(
    model: RQVAE, x: np.ndarray, batch_size: int = 4096
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (codes [n, L] int64, reconstructions [n, d] float32, latents [n, latent] float32), eval mode."""
    model.eval()
    p = next(model.parameters())  # the model may be bf16 under DeepSpeed
    codes, recon, lat = [], [], []
    for s in range(0, len(x), batch_size):
        xb = torch.as_tensor(x[s : s + batch_size], dtype=torch.float32, device=p.device).to(p.dtype)
        c = model.encode(xb)
        codes.append(c.cpu().numpy())
        recon.append(model.decode(c).float().cpu().numpy())
        lat.append(model.latents(xb))
    return np.concatenate(codes).astype(np.int64), np.concatenate(recon), np.concatenate(lat)
