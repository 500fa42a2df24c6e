"""LLM plot scoring as a Ray Data actor-pool stage: each overview gets plot_novelty and
emotion_complexity on 0-10 (see rec_core.rater.plot_scoring for the two scoring methods).

Failures (low answer mass, unparseable JSON after one retry) are kept as rows with NaN scores, a
`failure` reason and the `raw_response`, and counted in the report. Output: Parquet parts under
out_dir; a re-run scores only the overviews that no part holds yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from data_pipelines.parts import done_keys, reset_if_settings_changed, run_actor_stage
from rec_core.config import StrictModel
from rec_core.rater.plot_scoring import SCORE_NAMES


class PlotScoreConfig(StrictModel):
    model: str = Field("smollm2", description="'smollm2' (offline GGUF), 'tiny-random' (tests), or a HF id/path")
    method: Literal["token_prob", "json"] = "token_prob"
    load_in_4bit: bool = False
    min_mass: float = Field(0.05, ge=0, le=1, description="token_prob: below this answer mass a score is a failure")
    max_new_tokens: int = Field(32, ge=1)
    max_overviews: int | None = Field(
        None, ge=1, description="score at most this many overviews (rest missing, counted)"
    )
    batch_size: int = Field(8, ge=1)
    num_actors: int = Field(1, ge=1)
    cpus_per_actor: float = Field(0.5, gt=0)
    gpus_per_actor: float = Field(0.0, ge=0)
    torch_threads: int = Field(0, ge=0, description="torch threads per actor (0 = torch default)")

    def resources(self) -> dict[str, float]:
        return {"CPU": self.num_actors * self.cpus_per_actor + 0.5, "GPU": self.num_actors * self.gpus_per_actor}


class PlotScorer:
    """Actor: loads the LLM once, scores batches of overviews."""

    def __init__(self, cfg: dict):
        import torch

        from rec_core.rater.models import load_causal_lm

        self.cfg = PlotScoreConfig.model_validate(cfg)
        if self.cfg.torch_threads:
            torch.set_num_threads(self.cfg.torch_threads)
        self.model, self.tokenizer = load_causal_lm(self.cfg.model, load_in_4bit=self.cfg.load_in_4bit)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        import time

        from rec_core.rater import plot_scoring as ps

        texts = batch["overview"].fillna("").astype(str).tolist()
        t0 = time.perf_counter()
        if self.cfg.method == "token_prob":
            res = ps.score_overviews_token_prob(
                self.model, self.tokenizer, texts, self.cfg.batch_size, self.cfg.min_mass
            )
        else:
            res = ps.score_overviews_json(self.model, self.tokenizer, texts, self.cfg.max_new_tokens)
        out = pd.DataFrame(res)
        out.insert(0, "item_id", batch["item_id"].to_numpy())
        # model time per overview (no load, no queueing): the throughput figure of the benchmark
        out["score_seconds"] = (time.perf_counter() - t0) / max(len(batch), 1)
        # pandas' string dtype (None stays missing) becomes an Arrow string column. Plain object columns of str and
        # None came back from Ray Data as pickled Python objects, whose pandas blocks cannot be sorted.
        for col in ("failure", "raw_response"):
            out[col] = out[col].astype("string")
        return out


def run_plot_stage(items: pd.DataFrame, cfg: PlotScoreConfig, out_dir: Path) -> pd.DataFrame:
    """items: item_id, overview. Returns one row per scored overview."""
    out_dir = Path(out_dir)
    reset_if_settings_changed(
        out_dir, "scorer.json", {"model": cfg.model, "method": cfg.method, "min_mass": cfg.min_mass}
    )
    todo = items[items["overview"].fillna("").str.strip().str.len() > 0]
    if cfg.max_overviews is not None:
        todo = todo.iloc[: cfg.max_overviews]
    pending = todo[~todo["item_id"].isin(done_keys(out_dir, "item_id"))]
    # Small blocks: each finished block becomes a Parquet part, the unit of resume (an LLM is slow).
    return run_actor_stage(
        pending[["item_id", "overview"]],
        PlotScorer,
        cfg,
        out_dir,
        n_blocks=max(4, 4 * cfg.num_actors, len(pending) // 16),
        batch_size=max(cfg.batch_size, 16),
    )


def plot_feature_table(scores: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    failed = scores["failure"].notna()
    counts = {
        "plot_scored": int(len(scores)),
        "plot_failures": int(failed.sum()),
        "plot_failure_rate": float(failed.mean()) if len(scores) else float("nan"),
    }
    if "score_seconds" in scores and scores["score_seconds"].sum() > 0:
        counts["plot_overviews_per_s_per_actor"] = float(len(scores) / scores["score_seconds"].sum())
    for n in SCORE_NAMES:
        if f"{n}_mass" in scores:
            counts[f"{n}_mean_mass"] = float(np.nanmean(scores[f"{n}_mass"]))
    return scores[["item_id", *SCORE_NAMES]].copy(), counts
