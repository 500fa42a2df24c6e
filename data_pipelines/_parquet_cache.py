"""Resumable Parquet output for Ray Data stages: the driver writes each finished batch as its own
part file (atomically), and a re-run processes only the keys no part file holds yet."""
from __future__ import annotations

import json
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


def reset_if_settings_changed(out_dir: Path, stamp_name: str, settings: dict) -> None:
    """Parts made under other settings (another model or method) must not be mixed in: drop them."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / stamp_name
    if stamp.exists() and json.loads(stamp.read_text()) != settings:
        for p in out_dir.glob("part-*.parquet"):
            p.unlink()
    stamp.write_text(json.dumps(settings))


def run_actor_stage(pending: pd.DataFrame, actor_cls, cfg, out_dir: Path, n_blocks: int, batch_size: int) -> pd.DataFrame | None:
    """Run `actor_cls(cfg.model_dump())` over `pending` on an actor pool (cfg: num_actors, cpus_per_actor,
    gpus_per_actor), write each finished batch as a part, and return every part's rows, one per item_id."""
    import ray

    if len(pending):
        ds = ray.data.from_pandas(pending.reset_index(drop=True)).repartition(n_blocks)
        ds = ds.map_batches(
            actor_cls, fn_constructor_args=(cfg.model_dump(),), batch_size=batch_size, batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=cfg.num_actors), num_cpus=cfg.cpus_per_actor,
            num_gpus=cfg.gpus_per_actor or None,
        )
        for batch in ds.iter_batches(batch_format="pandas", batch_size=None):
            write_part(out_dir, batch)
    done = read_parts(out_dir)
    # Concurrent runs sharing a stage dir (Tune trials) may both write an item: keep one row each.
    return None if done is None else done.drop_duplicates("item_id", keep="first").reset_index(drop=True)
