"""Semantic-ID quantizers (RQ-VAE, residual k-means), collision handling and quality metrics. No Ray."""
from rec_core.quantizers.collisions import resolve_collisions, sinkhorn_log, tiger_extra_token
from rec_core.quantizers.quality import code_stats, reconstruction_stats
from rec_core.quantizers.rqkmeans import ResidualKMeans
from rec_core.quantizers.rqvae import RQVAE, RQVAEConfig

__all__ = [
    "RQVAE", "RQVAEConfig", "ResidualKMeans", "code_stats", "reconstruction_stats", "resolve_collisions",
    "sinkhorn_log", "tiger_extra_token",
]
