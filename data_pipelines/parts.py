"""Resumable Parquet parts: the one place for how Ray Data stages keep their output on disk.

A stage writes each finished batch as its own part file, atomically (tmp file + rename: a part is either
complete or absent), and a re-run processes only the keys no finished part holds yet. Used by the
embedding stage (`data_pipelines.embed`, its own table layout in a fingerprinted parts dir) and the rater's
poster and plot stages (`data_pipelines.posters`, `data_pipelines.plot_scores`, through `run_actor_stage`).

    parts_dir/part-*.parquet   finished parts (the unit of resume)
    parts_dir/.tmp-*           a write in progress; one a crash left behind is removed by a later listing
    parts_dir/<stamp>.json     settings the parts were made under (`reset_if_settings_changed`)
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)

PART_GLOB = "part-*.parquet"
STALE_TMP_S = 600.0  # a tmp file older than this was left by a crash


def write_table_part(parts_dir: Path, table, name: str) -> str:
    """Write a pyarrow table as parts_dir/name, atomically. Returns the name."""
    import pyarrow.parquet as pq

    parts_dir = Path(parts_dir)
    tmp = parts_dir / f".tmp-{uuid.uuid4().hex}.parquet"
    pq.write_table(table, tmp)
    os.replace(tmp, parts_dir / name)  # atomic: a part is either complete or absent
    return name


def write_part(out_dir: Path, batch: pd.DataFrame) -> Path:
    """Write a pandas batch as a new part (a random name: concurrent writers never collide)."""
    import pyarrow as pa

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = f"part-{uuid.uuid4().hex[:12]}.parquet"
    write_table_part(out_dir, pa.Table.from_pandas(batch, preserve_index=False), name)
    return out_dir / name


def _remove_stale_tmp(parts_dir: Path) -> None:
    """Remove tmp files a crash left mid-write (their rows are recomputed). Only old ones: a concurrent run
    sharing the dir (Tune trials) may be writing one right now, and a part write takes seconds."""
    now = time.time()
    for tmp in parts_dir.glob(".tmp-*"):
        try:
            if now - tmp.stat().st_mtime > STALE_TMP_S:
                tmp.unlink(missing_ok=True)
        except FileNotFoundError:  # renamed into place meanwhile
            pass


def _readable_parts(parts_dir: Path, read: Callable[[Path], Any]) -> tuple[list[tuple[Path, Any]], int]:
    """[(path, read(path))] for each finished part, and how many unreadable parts were deleted."""
    parts_dir = Path(parts_dir)
    _remove_stale_tmp(parts_dir)
    good, discarded = [], 0
    for p in sorted(parts_dir.glob(PART_GLOB)):
        try:
            good.append((p, read(p)))
        except Exception:  # noqa: BLE001 - a part cut short by a crash is recomputed, never trusted
            log.warning("discarding unreadable part %s", p)
            p.unlink(missing_ok=True)
            discarded += 1
    return good, discarded


def finished_parts(parts_dir: Path, key: str = "item_id") -> tuple[list[Path], set, int]:
    """Readable part files, the keys they hold, and how many unreadable parts were discarded."""
    import pyarrow.parquet as pq

    good, discarded = _readable_parts(parts_dir, lambda p: pq.read_table(p, columns=[key]).column(key).to_pylist())
    return [p for p, _ in good], {k for _, keys in good for k in keys}, discarded


def done_keys(out_dir: Path, key: str) -> set:
    """The keys the finished parts under out_dir hold (a re-run skips them)."""
    return finished_parts(out_dir, key)[1]


def read_parts(out_dir: Path) -> pd.DataFrame | None:
    """Every finished part under out_dir as one frame (None when there is none)."""
    frames = [df for _, df in _readable_parts(out_dir, pd.read_parquet)[0]]
    return pd.concat(frames, ignore_index=True) if frames else None


def reset_if_settings_changed(out_dir: Path, stamp_name: str, settings: dict) -> None:
    """Parts made under other settings (another model or method) must not be mixed in: drop them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / stamp_name
    if stamp.exists() and json.loads(stamp.read_text()) != settings:
        for p in out_dir.glob(PART_GLOB):
            p.unlink()
    stamp.write_text(json.dumps(settings))


def run_actor_stage(
    pending: pd.DataFrame, actor_cls, cfg, out_dir: Path, n_blocks: int, batch_size: int
) -> pd.DataFrame | None:
    """Run `actor_cls(cfg.model_dump())` over `pending` on an actor pool (cfg: num_actors, cpus_per_actor,
    gpus_per_actor), write each finished batch as a part, and return every part's rows, one per item_id."""
    import ray

    if len(pending):
        ds = ray.data.from_pandas(pending.reset_index(drop=True)).repartition(n_blocks)
        ds = ds.map_batches(
            actor_cls,
            fn_constructor_args=(cfg.model_dump(),),
            batch_size=batch_size,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=cfg.num_actors),
            num_cpus=cfg.cpus_per_actor,
            num_gpus=cfg.gpus_per_actor or None,
        )
        for batch in ds.iter_batches(batch_format="pandas", batch_size=None):
            write_part(out_dir, batch)
    done = read_parts(out_dir)
    if done is None:
        return None
    # Concurrent runs sharing a stage dir (Tune trials) may both write an item: keep one row each. Parts finish in
    # any order, so rows are put in item order: means over them are then the same to the last bit in every run.
    done = done.drop_duplicates("item_id", keep="first")
    return done.sort_values("item_id", kind="stable").reset_index(drop=True)
