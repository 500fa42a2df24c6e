"""Poster features as a Ray Data actor-pool stage.

method="image_stats" (offline default): measured image statistics — brightness, contrast,
colourfulness, saturation, hue histogram, edge density. Named as such in every report: these are
not VLM outputs.
method="vlm": a VLM (LLaVA-1.5 / Qwen2-VL via transformers, optional bitsandbytes 4-bit) is asked for
aesthetic keywords; replies are parsed onto a fixed vocabulary (rec_core.rater.keywords).

Unreadable posters (corrupt, truncated, missing) are counted and get NaN features; they never stop
the stage. Output: Parquet parts under out_dir, so a re-run only processes posters not done yet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from data_pipelines.parts import done_keys, reset_if_settings_changed, run_actor_stage
from rec_core.config import StrictModel
from rec_core.rater.image_stats import IMAGE_STAT_NAMES, PosterReadError, image_statistics, load_rgb
from rec_core.rater.keywords import AESTHETIC_VOCAB, POSTER_PROMPT, keyword_column, keyword_matrix, parse_keywords


class PosterStageConfig(StrictModel):
    method: Literal["image_stats", "vlm"] = Field(
        "image_stats", description="offline default: measured image statistics"
    )
    vlm_model: str = Field(
        "llava-hf/llava-1.5-7b-hf",
        description="HF id/path (or Qwen/Qwen2-VL-2B-Instruct); 'tiny-random-llava' for tests",
    )
    load_in_4bit: bool = False
    max_new_tokens: int = Field(48, ge=1)
    tfidf: bool = True
    num_actors: int = Field(1, ge=1)
    cpus_per_actor: float = Field(0.5, gt=0)
    gpus_per_actor: float = Field(0.0, ge=0)
    batch_size: int = Field(16, ge=1)

    def resources(self) -> dict[str, float]:
        return {"CPU": self.num_actors * self.cpus_per_actor + 0.5, "GPU": self.num_actors * self.gpus_per_actor}

    def group_label(self) -> str:
        return (
            "image statistics (measured, not a VLM)"
            if self.method == "image_stats"
            else f"VLM keywords ({self.vlm_model})"
        )


class PosterFeaturizer:
    """Actor: loads the VLM once (method=vlm) and featurises batches of posters."""

    def __init__(self, cfg: dict):
        self.cfg = PosterStageConfig.model_validate(cfg)
        self.model = self.processor = None
        if self.cfg.method == "vlm":
            from rec_core.rater.models import load_vlm

            self.model, self.processor = load_vlm(self.cfg.vlm_model, load_in_4bit=self.cfg.load_in_4bit)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        rows, images, ok_idx = [], [], []
        for i, (item_id, path) in enumerate(zip(batch["item_id"], batch["image_path"])):
            row = {
                "item_id": int(item_id),
                "image_path": path,
                "status": "ok",
                "error": None,
                "keywords": None,
                "unmatched": None,
                "raw_reply": None,
            }
            row.update({k: np.nan for k in IMAGE_STAT_NAMES})
            try:
                rgb = load_rgb(path)
                row.update(image_statistics(rgb))  # cheap; kept alongside VLM keywords as well
                ok_idx.append(i)
                images.append(rgb)
            except PosterReadError as e:
                row["status"], row["error"] = "unreadable", str(e)
            rows.append(row)
        if self.cfg.method == "vlm" and images:
            from PIL import Image

            from rec_core.rater.models import vlm_describe

            pil = [Image.fromarray((im * 255).astype(np.uint8)) for im in images]
            replies = vlm_describe(self.model, self.processor, pil, POSTER_PROMPT, self.cfg.max_new_tokens)
            for i, reply in zip(ok_idx, replies):
                kws, unmatched = parse_keywords(reply)
                rows[i].update(raw_reply=reply, keywords=json.dumps(kws), unmatched=json.dumps(unmatched))
        return pd.DataFrame(rows)


def run_poster_stage(index: pd.DataFrame, cfg: PosterStageConfig, out_dir: Path) -> pd.DataFrame:
    """index: item_id, image_path. Returns one row per poster (status ok|unreadable)."""
    out_dir = Path(out_dir)
    # A cache made by another method must not be mixed in.
    reset_if_settings_changed(
        out_dir, "method.json", {"method": cfg.method, "vlm_model": cfg.vlm_model if cfg.method == "vlm" else None}
    )
    pending = index[~index["item_id"].isin(done_keys(out_dir, "item_id"))]
    return run_actor_stage(
        pending[["item_id", "image_path"]],
        PosterFeaturizer,
        cfg,
        out_dir,
        n_blocks=max(2, 2 * cfg.num_actors),
        batch_size=cfg.batch_size,
    )


def poster_feature_table(posters: pd.DataFrame, cfg: PosterStageConfig) -> tuple[pd.DataFrame, dict]:
    """Feature columns per item_id (+ counts). Unreadable posters keep NaN features."""
    ok = posters["status"] == "ok"
    feats = posters[["item_id", *IMAGE_STAT_NAMES]].copy()
    kw_cols: list[str] = []
    if cfg.method == "vlm":
        lists = [json.loads(k) if isinstance(k, str) else [] for k in posters["keywords"]]
        mat = keyword_matrix(lists, tfidf=cfg.tfidf)
        kw_cols = [keyword_column(k) for k in AESTHETIC_VOCAB]
        kw = pd.DataFrame(mat, columns=kw_cols, index=posters.index)
        kw.loc[~ok] = np.nan
        feats = pd.concat([feats, kw], axis=1)
    counts = {
        "posters_processed": int(len(posters)),
        "posters_ok": int(ok.sum()),
        "posters_unreadable": int((~ok).sum()),
    }
    return feats, counts
