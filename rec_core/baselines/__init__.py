"""Baselines evaluated in the same harness as the generative models."""

from rec_core.baselines.popularity import MostPopular
from rec_core.baselines.sasrec import SASRec, SASRecConfig

__all__ = ["MostPopular", "SASRec", "SASRecConfig"]
