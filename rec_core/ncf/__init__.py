"""Neural collaborative filtering (GMF, MLP, NeuMF) and its LLM-enhanced variants (metadata concat,
cross-attention + InfoNCE, cache or dynamic LM, optional LoRA). Plain PyTorch/HF; no Ray."""

from rec_core.ncf.config import LLM_KINDS, LMConfig, NCFDataConfig, NCFModelConfig
from rec_core.ncf.data import EvalSet, NCFData, PointwiseSampler, prepare, synthetic_split
from rec_core.ncf.evaluate import evaluate
from rec_core.ncf.fusion import build_model, info_nce
from rec_core.ncf.models import NCF, neumf_from_pretrained

__all__ = [
    "LLM_KINDS",
    "LMConfig",
    "NCFDataConfig",
    "NCFModelConfig",
    "EvalSet",
    "NCFData",
    "PointwiseSampler",
    "prepare",
    "synthetic_split",
    "evaluate",
    "build_model",
    "info_nce",
    "NCF",
    "neumf_from_pretrained",
]
