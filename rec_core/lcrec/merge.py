"""Merge LoRA adapters by weighted averaging of their weights (LoRA A/B matrices and the new token rows).

`merge_adapters([dir1, dir2], [w1, w2], out)`: every tensor of the adapters' `adapter_model.safetensors` becomes
sum_k w_k * tensor_k (weights normalised to sum 1); the first adapter's `adapter_config.json` is kept. The
adapters must share the base, the SID tokens, r and targets (checked: same tensor names and shapes). This is
peft's "linear" combination (A and B averaged separately), which equals averaging the weight updates only when
the adapters are close; the merged adapter is evaluated like any other adapter.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


def merge_adapters(adapters: Sequence[Path], weights: Sequence[float] | None, out_dir: Path) -> Path:
    from safetensors.torch import load_file, save_file

    adapters = [Path(a) for a in adapters]
    if not adapters:
        raise ValueError("no adapters to merge")
    weights = [1.0] * len(adapters) if weights is None else [float(w) for w in weights]
    if len(weights) != len(adapters) or sum(weights) <= 0 or min(weights) < 0:
        raise ValueError(f"need one non-negative weight per adapter with a positive sum, got {weights}")
    total = sum(weights)
    states = [load_file(str(a / ADAPTER_WEIGHTS)) for a in adapters]
    configs = [json.loads((a / ADAPTER_CONFIG).read_text()) for a in adapters]
    for a, s, c in zip(adapters[1:], states[1:], configs[1:]):
        if set(s) != set(states[0]) or any(s[k].shape != states[0][k].shape for k in s):
            raise ValueError(f"adapter {a} has different tensors than {adapters[0]}: not mergeable by averaging")
        if c.get("r") != configs[0].get("r") or c.get("base_model_name_or_path") != configs[0].get(
            "base_model_name_or_path"
        ):
            raise ValueError(f"adapter {a} differs from {adapters[0]} in r or base model")
    merged = {
        k: sum(w / total * s[k].float() for w, s in zip(weights, states)).to(states[0][k].dtype) for k in states[0]
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(merged, str(out_dir / ADAPTER_WEIGHTS))
    shutil.copy(adapters[0] / ADAPTER_CONFIG, out_dir / ADAPTER_CONFIG)
    (out_dir / "MERGED.json").write_text(
        json.dumps({"adapters": [str(a) for a in adapters], "weights": [w / total for w in weights]}, indent=1)
    )
    return out_dir
