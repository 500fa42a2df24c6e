"""Measured image statistics of a poster — the offline default poster features.

These are NOT VLM outputs: no VLM is available offline, so every report names this group
"image statistics (measured)". Colourfulness follows Hasler & Suesstrunk (2003); edge density is the
share of pixels whose Sobel gradient magnitude exceeds a fixed threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

HUE_BINS = 8
# Features in a fixed order so every row of the table has the same columns.
IMAGE_STAT_NAMES = [
    "img_brightness",
    "img_contrast",
    "img_colorfulness",
    "img_saturation",
    "img_edge_density",
    "img_aspect_ratio",
    *[f"img_hue_{i}" for i in range(HUE_BINS)],
]
_EDGE_THRESHOLD = 0.25  # on a [0, 1] luminance scale; Sobel magnitude


class PosterReadError(ValueError):
    """A poster file that cannot be decoded (missing, truncated, not an image)."""


def load_rgb(path: str | Path, max_side: int = 256) -> np.ndarray:
    """Decode to float32 RGB in [0, 1], downscaled so the longest side is <= max_side."""
    try:
        with Image.open(path) as im:
            im.load()  # force a full decode: truncated JPEGs fail here, not later
            im = im.convert("RGB")
            if max(im.size) > max_side:
                im.thumbnail((max_side, max_side))
            return np.asarray(im, dtype=np.float32) / 255.0
    except (FileNotFoundError, UnidentifiedImageError, OSError, SyntaxError) as e:
        raise PosterReadError(f"cannot read poster {path}: {e}") from e


def image_statistics(rgb: np.ndarray) -> dict[str, float]:
    """Statistics of an (H, W, 3) float image in [0, 1]."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 3:
        raise PosterReadError(f"poster has unusable shape {rgb.shape}")
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    lum = 0.299 * r + 0.587 * g + 0.114 * b
    rg = r - g
    yb = 0.5 * (r + g) - b
    colorfulness = float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))
    mx, mn = rgb.max(axis=2), rgb.min(axis=2)
    sat = np.where(mx > 0, (mx - mn) / np.maximum(mx, 1e-6), 0.0)
    hue = _hue(rgb, mx, mn)
    # Hue histogram over reasonably saturated pixels only (grey pixels have no meaningful hue).
    colored = sat > 0.2
    hist = np.histogram(hue[colored], bins=HUE_BINS, range=(0.0, 1.0))[0].astype(float)
    hist = hist / max(colored.sum(), 1)
    out = {
        "img_brightness": float(lum.mean()),
        "img_contrast": float(lum.std()),
        "img_colorfulness": colorfulness,
        "img_saturation": float(sat.mean()),
        "img_edge_density": _edge_density(lum),
        "img_aspect_ratio": float(rgb.shape[0] / rgb.shape[1]),
    }
    out.update({f"img_hue_{i}": float(v) for i, v in enumerate(hist)})
    return out


def poster_statistics(path: str | Path) -> dict[str, float]:
    return image_statistics(load_rgb(path))


def _hue(rgb: np.ndarray, mx: np.ndarray, mn: np.ndarray) -> np.ndarray:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    d = np.maximum(mx - mn, 1e-6)
    h = np.where(mx == r, ((g - b) / d) % 6, np.where(mx == g, (b - r) / d + 2, (r - g) / d + 4))
    return (h / 6.0) % 1.0


def _edge_density(lum: np.ndarray) -> float:
    p = np.pad(lum, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    mag = np.hypot(gx, gy) / 4.0
    return float((mag > _EDGE_THRESHOLD).mean())
