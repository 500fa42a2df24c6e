"""Image decode + resize for the embedding pipeline's CPU stage.

A missing or unreadable file is not an error: it is reported by status ("missing" / "corrupt") so the
item falls back to text and the count shows up in the run's stats.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

STATUSES = ("ok", "none", "missing", "corrupt")


def load_image(path: str | None, size: int) -> tuple[np.ndarray | None, str]:
    """-> (HxWx3 uint8 array resized to size x size, "ok") or (None, "none" | "missing" | "corrupt")."""
    if path is None or (isinstance(path, float) and np.isnan(path)) or str(path).strip() == "":
        return None, "none"
    p = Path(str(path))
    if not p.is_file():
        return None, "missing"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            im = im.convert("RGB").resize((size, size), Image.BICUBIC)
            return np.asarray(im, dtype=np.uint8), "ok"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None, "corrupt"
