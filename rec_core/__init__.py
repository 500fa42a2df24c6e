"""Models, losses, metrics, quantizers, decoding and datasets: plain PyTorch / HF. Never imports Ray."""

__version__ = "0.1.0"
