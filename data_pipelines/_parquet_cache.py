"""Resumable Parquet output for Ray Data stages: the driver writes each finished batch as its own
part file (atomically), and a re-run processes only the keys no part file holds yet."""
from __future__ import annotations

import uuid
from pathlib import Path

import pandas as pd


def read_parts(out_dir: Path) -> pd.DataFrame | None:
    out_dir = Path(out_dir)
    frames = []
    for p in sorted(out_dir.glob("part-*.parquet")):
        try:
            frames.append(pd.read_parquet(p))
        except Exception:  # a part cut short by a crash: drop it, its rows are recomputed
            p.unlink(missing_ok=True)
    return pd.concat(frames, ignore_index=True) if frames else None


def done_keys(out_dir: Path, key: str) -> set:
    df = read_parts(out_dir)
    return set() if df is None else set(df[key].tolist())


def write_part(out_dir: Path, batch: pd.DataFrame) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex[:12]}.parquet"
    tmp = out_dir / f".{name}.tmp"
    batch.to_parquet(tmp, index=False)
    tmp.replace(out_dir / name)
    return out_dir / name
