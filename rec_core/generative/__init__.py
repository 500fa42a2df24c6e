"""Generative retrieval over semantic IDs (TIGER): vocabulary, T5 model, training samples, ranker."""
from rec_core.generative.codes import SemanticCodes, load_codes, residual_kmeans_codes
from rec_core.generative.model import TigerModelConfig, build_tiger
from rec_core.generative.vocab import SIDVocab

__all__ = ["SIDVocab", "SemanticCodes", "load_codes", "residual_kmeans_codes", "TigerModelConfig", "build_tiger"]
