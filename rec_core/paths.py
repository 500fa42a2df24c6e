"""Where data and mirrors live. Defaults work offline on a laptop and in CI."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """GENREC_DATA_DIR, else ~/.cache/genrec/data (XDG_CACHE_HOME respected)."""
    env = os.environ.get("GENREC_DATA_DIR")
    if env:
        return Path(env).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "genrec" / "data"


def default_mirror() -> Path | None:
    """GENREC_MIRROR, else the nearest `shared/data` beside the checkout or one of its parents (or the cwd's)."""
    env = os.environ.get("GENREC_MIRROR")
    if env:
        return Path(env).expanduser()
    for base in (REPO_ROOT, Path.cwd().resolve()):
        for parent in base.parents:
            cand = parent / "shared" / "data"
            if cand.is_dir():
                return cand
    return None
