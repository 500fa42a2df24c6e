"""A trained sequential recommender saved for later evaluation: `model/state.pt` + `model/meta.json`
(+ `item_tokens.npy` for generative models). `jobs/evaluate.py` rebuilds the model from this alone."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch


def save_bundle(out_dir: Path, kind: str, state_dict: dict, meta: dict, item_tokens: np.ndarray | None = None) -> Path:
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    torch.save(state_dict, d / "state.pt")
    if item_tokens is not None:
        np.save(d / "item_tokens.npy", item_tokens)
    (d / "meta.json").write_text(json.dumps({"kind": kind, **meta}, indent=2, default=str))
    return d


def load_bundle(path: Path) -> tuple[str, dict, dict, np.ndarray | None]:
    """-> (kind, meta, state_dict, item_tokens|None). `path`: the bundle dir or a run dir holding `model/`."""
    d = Path(path)
    if (d / "model" / "meta.json").exists():
        d = d / "model"
    if not (d / "meta.json").exists():
        raise FileNotFoundError(f"no saved model at {path} (expected meta.json and state.pt, or a run dir with model/)")
    meta = json.loads((d / "meta.json").read_text())
    state = torch.load(d / "state.pt", map_location="cpu", weights_only=True)
    tok = np.load(d / "item_tokens.npy") if (d / "item_tokens.npy").exists() else None
    return meta.pop("kind"), meta, state, tok
