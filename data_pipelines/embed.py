"""Item embedding on Ray Data: items -> CPU preprocessing -> encoder actor pool -> Parquet parts.

    emb = embed_items(items_df, EmbedConfig(), out_dir=run_dir / "embeddings")
    # pandas: item_id int64, embedding (float32 np.ndarray rows)

Pipeline
  1. `ray.data.from_pandas(pending items)`, repartitioned to `blocks_per_actor` blocks per actor (one
     pandas frame would otherwise be one block and feed one actor).
  2. CPU stage (tasks): text assembly from `text_fields` (title / brand / categories / description ...);
     for image-aware encoders, image decode + resize (missing / corrupt files are counted; the item
     falls back to text).
  3. Model stage: a callable class on `ActorPoolStrategy(size=num_actors)` with `num_gpus` per actor on a
     GPU cluster and fractional `num_cpus` on a laptop. Each call encodes `part_rows` items and writes them
     atomically (tmp file + rename, `data_pipelines.parts`) as one Parquet part: item_id, embedding, image_status.

Resumable: the parts directory is keyed by a fingerprint of the encoder config and the item table. A re-run
reads the item ids of the finished parts and only sends the rest through the pipeline, so a crash loses at
most the parts that were in flight (one per actor).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field

from data_pipelines.parts import finished_parts, write_table_part
from rec_core.config import StrictModel
from rec_core.encoders import EncoderKind

log = logging.getLogger(__name__)


class EmbedConfig(StrictModel):
    encoder: str = Field("minilm", description="offline alias (minilm), HF id or local path")
    kind: EncoderKind = "sentence_transformers"
    text_fields: list[str] = Field(
        default_factory=lambda: ["title", "brand", "categories", "description"],
        description="item columns joined into the text (absent columns are skipped)",
    )
    image_field: str = Field("image_path", description="column with image paths (used by kind=vlm)")
    image_size: int = Field(224, ge=8)
    batch_size: int = Field(64, ge=1, description="encoder mini-batch")
    max_length: int = Field(128, ge=8, description="token limit per item")
    normalize: bool = True
    load_in_4bit: bool = Field(False, description="bitsandbytes NF4 loading (hf_mean, vlm)")
    device: str = Field("auto", description="auto | cpu | cuda")
    num_actors: int = Field(1, ge=1)
    cpus_per_actor: float = Field(1.0, gt=0, description="fractional on a laptop (0.5 leaves room for the read task)")
    gpus_per_actor: float = Field(0.0, ge=0)
    threads_per_actor: int | None = Field(None, ge=1, description="torch threads per actor (default: cpus, at least 1)")
    part_rows: int = Field(1024, ge=1, description="items per Parquet part: the unit of resume")
    blocks_per_actor: int = Field(3, ge=1)
    actor_restarts: int = Field(
        3,
        ge=0,
        description="times a dead encoder actor (node lost, OOM kill) is restarted; its unfinished batch is retried "
        "on the new actor. Parts are named by their item ids, so a retried batch replaces its part, never duplicates",
    )

    def resources(self) -> dict[str, float]:
        """Peak request of the model stage (the CPU stage runs in the remaining slots)."""
        res = {"CPU": self.num_actors * self.cpus_per_actor}
        if self.gpus_per_actor:
            res["GPU"] = self.num_actors * self.gpus_per_actor
        return res


class InjectedFailure(RuntimeError):
    """Raised by the fault-injection hook (`fail_after_parts`) to test resume."""


# ---------------------------------------------------------------------------------------------
# CPU preprocessing


def _field_text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (list, tuple, np.ndarray)):
        flat = []
        for v in value:  # Amazon categories are lists of lists
            flat.extend(v if isinstance(v, (list, tuple, np.ndarray)) else [v])
        return ", ".join(dict.fromkeys(str(v).strip() for v in flat if str(v).strip()))
    return str(value).strip()


def assemble_texts(batch: pd.DataFrame, fields: list[str]) -> list[str]:
    """One field -> its value; several -> "Title: ... ; Brand: ..." (empty fields left out)."""
    present = [f for f in fields if f in batch.columns]
    if len(present) == 1:
        return [_field_text(v) for v in batch[present[0]]]
    texts = []
    for row in batch[present].itertuples(index=False):
        parts = [f"{f.replace('_', ' ').capitalize()}: {t}" for f, v in zip(present, row) if (t := _field_text(v))]
        texts.append("; ".join(parts))
    return texts


def _preprocess(batch: pd.DataFrame, fields: list[str], image_field: str | None, image_size: int) -> pd.DataFrame:
    from data_pipelines.images import load_image

    out = pd.DataFrame({"item_id": batch["item_id"].astype("int64").to_numpy(), "text": assemble_texts(batch, fields)})
    if image_field and image_field in batch.columns:
        loaded = [load_image(p, image_size) for p in batch[image_field]]
        out["image"] = [a.tobytes() if a is not None else None for a, _ in loaded]
        out["image_status"] = [s for _, s in loaded]
    else:
        out["image_status"] = "unused"
    return out


# ---------------------------------------------------------------------------------------------
# Model stage


class EmbedActor:
    """Holds one encoder; each call encodes a batch and writes it as one atomic Parquet part."""

    def __init__(
        self, cfg: dict, parts_dir: str, fail_after_parts: int | None = None, die_once: tuple[str, int] | None = None
    ):
        t0 = time.perf_counter()
        import torch

        from rec_core.encoders import build_encoder

        self.cfg = EmbedConfig.model_validate(cfg)
        threads = self.cfg.threads_per_actor or max(1, int(round(self.cfg.cpus_per_actor)))
        torch.set_num_threads(threads)
        self.encoder = build_encoder(
            self.cfg.kind,
            self.cfg.encoder,
            device=self.cfg.device,
            batch_size=self.cfg.batch_size,
            normalize=self.cfg.normalize,
            max_length=self.cfg.max_length,
            load_in_4bit=self.cfg.load_in_4bit,
        )
        self.parts_dir = Path(parts_dir)
        self.fail_after_parts, self.parts_written = fail_after_parts, 0
        self.die_once = die_once
        # Start-up (imports + model load) is a fixed cost per actor; reported so benchmarks can separate it.
        self.init_s = time.perf_counter() - t0

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        if self.fail_after_parts is not None and self.parts_written >= self.fail_after_parts:
            # Fault injection for tests: this worker "dies" after k parts; what it wrote must survive.
            raise InjectedFailure(f"injected failure after {self.parts_written} parts")
        if self.die_once and self.parts_written + 1 >= self.die_once[1] and _claim(self.die_once[0]):
            # Fault injection for tests: the actor process dies on its Nth batch (once per marker file), as on a
            # lost node; Ray restarts the actor and retries the batch.
            os._exit(1)
        images = None
        if self.encoder.uses_images and "image" in batch.columns:
            size = self.cfg.image_size
            images = [
                None if not isinstance(b, (bytes, bytearray)) else np.frombuffer(b, np.uint8).reshape(size, size, 3)
                for b in batch["image"]
            ]
        started_at, t0 = time.time(), time.perf_counter()
        emb = self.encoder.encode(list(batch["text"]), images)
        encode_s = time.perf_counter() - t0
        ids = batch["item_id"].to_numpy(np.int64)
        name = write_part(self.parts_dir, ids, emb, batch["image_status"].astype(str).tolist())
        init_s = self.init_s if self.parts_written == 0 else 0.0  # counted once per actor
        self.parts_written += 1
        # Wall-clock stamps (same host clock as the driver on a laptop; approximate across nodes) let the
        # driver split the run into start-up and steady-state encoding.
        return pd.DataFrame(
            {
                "part": [name],
                "rows": [len(ids)],
                "encode_s": [encode_s],
                "actor_init_s": [init_s],
                "started_at": [started_at],
                "written_at": [time.time()],
            }
        )


def _claim(marker: str) -> bool:
    """Create `marker` if absent; True for the one caller that created it."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def write_part(parts_dir: Path, ids: np.ndarray, emb: np.ndarray, image_status: list[str]) -> str:
    """One embedding part (item_id, embedding as a FixedSizeList, image_status), written atomically."""
    import pyarrow as pa

    emb = np.ascontiguousarray(emb, dtype=np.float32)
    table = pa.table(
        {
            "item_id": pa.array(ids, pa.int64()),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(emb.reshape(-1)), emb.shape[1]),
            "image_status": pa.array(image_status, pa.string()),
        }
    )
    digest = hashlib.sha1(ids.tobytes()).hexdigest()[:12]
    return write_table_part(parts_dir, table, f"part-{int(ids.min()) if len(ids) else 0:012d}-{digest}.parquet")


# ---------------------------------------------------------------------------------------------
# Driver


def fingerprint(items: pd.DataFrame, cfg: EmbedConfig) -> str:
    """Changes when the encoder settings or the item content change; not with actors / batch sizes."""
    keys = ("encoder", "kind", "text_fields", "image_field", "image_size", "max_length", "normalize", "load_in_4bit")
    h = hashlib.sha1(json.dumps({k: getattr(cfg, k) for k in keys}, sort_keys=True).encode())
    cols = ["item_id"] + [c for c in (*cfg.text_fields, cfg.image_field) if c in items.columns]
    h.update(pd.util.hash_pandas_object(items[cols].astype(str), index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _read_parts(parts: list[Path]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not parts:
        return pd.DataFrame({"item_id": pd.Series(dtype="int64"), "embedding": [], "image_status": []})
    t = pa.concat_tables([pq.read_table(p) for p in parts])
    col = t.column("embedding").combine_chunks()
    dim = col.type.list_size
    mat = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(-1, dim)
    return pd.DataFrame(
        {
            "item_id": t.column("item_id").to_numpy(),
            "embedding": list(mat),
            "image_status": t.column("image_status").to_pylist(),
        }
    )


def _validate(items: pd.DataFrame, cfg: EmbedConfig) -> None:
    if "item_id" not in items.columns:
        raise ValueError("items table has no 'item_id' column")
    if items["item_id"].duplicated().any():
        dup = items.loc[items["item_id"].duplicated(), "item_id"].iloc[0]
        raise ValueError(f"items table has duplicate item_id values (e.g. {dup})")
    if not any(f in items.columns for f in cfg.text_fields):
        raise ValueError(f"items table has none of the text_fields {cfg.text_fields}; columns: {list(items.columns)}")


def _run_pipeline(
    pending: pd.DataFrame,
    cfg: EmbedConfig,
    parts_dir: Path,
    fail_after_parts: int | None,
    die_once: tuple[str, int] | None = None,
) -> tuple[int, dict]:
    import ray

    uses_images = cfg.kind == "vlm" and cfg.image_field in pending.columns
    cols = (
        ["item_id"] + [c for c in cfg.text_fields if c in pending.columns] + ([cfg.image_field] if uses_images else [])
    )
    n_blocks = max(1, min(len(pending), cfg.num_actors * cfg.blocks_per_actor))
    ds = ray.data.from_pandas(pending[cols].reset_index(drop=True)).repartition(n_blocks)
    ds = ds.map_batches(
        _preprocess,
        batch_format="pandas",
        batch_size=None,
        num_cpus=0.5 if cfg.cpus_per_actor < 1 else 1,
        fn_kwargs={
            "fields": cfg.text_fields,
            "image_field": cfg.image_field if uses_images else None,
            "image_size": cfg.image_size,
        },
    )
    with warnings.catch_warnings():
        # Ray 2.60 has no named parameter for actor restarts yet: they still go through **ray_remote_args, which
        # warns of its removal in 2.64 on every run. Revisit when Ray names them.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated", category=DeprecationWarning)
        ds = ds.map_batches(
            EmbedActor,
            batch_format="pandas",
            batch_size=cfg.part_rows,
            compute=ray.data.ActorPoolStrategy(size=cfg.num_actors),
            num_cpus=cfg.cpus_per_actor,
            num_gpus=cfg.gpus_per_actor or None,
            # A dead actor is restarted and its unfinished batch retried (Ray Data's default is unbounded; a batch
            # that kills every actor it lands on must fail the run instead).
            max_restarts=cfg.actor_restarts,
            max_task_retries=cfg.actor_restarts,
            fn_constructor_kwargs={
                "cfg": cfg.model_dump(),
                "parts_dir": str(parts_dir),
                "fail_after_parts": fail_after_parts,
                "die_once": die_once,
            },
        )
    written, timing = 0, _new_timing()
    t_start, first, last = time.time(), float("inf"), 0.0
    try:
        for row in ds.iter_rows():  # Ray Data shows per-stage progress bars while this streams
            written += int(row["rows"])
            timing["encode_s"] += float(row["encode_s"])
            first, last = min(first, float(row["started_at"])), max(last, float(row["written_at"]))
            if row["actor_init_s"]:
                timing["actor_init_s"].append(float(row["actor_init_s"]))
    except Exception as e:  # noqa: BLE001 - Ray wraps the actor's exception; surface the injected one as such
        import traceback

        if "InjectedFailure" in "".join(traceback.format_exception(e)):
            raise InjectedFailure(
                f"embedding run stopped by fault injection ({fail_after_parts} parts per actor)"
            ) from e
        raise
    if written:
        timing["first_encode_after_s"] = first - t_start  # pipeline start -> first model call: the fixed cost
        timing["encoding_window_s"] = last - first  # first model call -> last part written: the steady state
    return written, timing


def _new_timing() -> dict:
    return {"encode_s": 0.0, "actor_init_s": [], "first_encode_after_s": None, "encoding_window_s": None}


def embed_items(
    items: pd.DataFrame,
    cfg: EmbedConfig | None = None,
    out_dir: Path | str = "embeddings",
    *,
    fail_after_parts: int | None = None,
    die_once: tuple[str, int] | None = None,
) -> pd.DataFrame:
    """`fail_after_parts` (tests): each actor raises after writing that many parts, like a crash mid-run.
    `die_once=(marker, n)` (tests): the first actor to reach its n-th batch exits its process (once: the marker
    file says it happened), like a killed actor; the stage restarts it and retries the batch.

    Embed every item (resuming finished parts under out_dir). Ray must be initialised (the job runner
    does it); otherwise a local Ray is started. Returns item_id, embedding in the order of `items`;
    `result.attrs["embed_stats"]` (also out_dir/stats.json) holds counts: reused, computed, images."""
    import ray

    cfg = cfg or EmbedConfig()
    _validate(items, cfg)
    fp = fingerprint(items, cfg)
    parts_dir = Path(out_dir) / f"parts-{fp}"
    parts_dir.mkdir(parents=True, exist_ok=True)
    _, done, discarded = finished_parts(parts_dir, "item_id")
    wanted = set(items["item_id"].astype("int64").tolist())
    pending = items[~items["item_id"].astype("int64").isin(done)]
    log.info("embedding: %d items, %d already done, %d to compute", len(items), len(wanted & done), len(pending))
    computed, timing = 0, _new_timing()
    if len(pending):
        if not ray.is_initialized():
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False)
        computed, timing = _run_pipeline(pending, cfg, parts_dir, fail_after_parts, die_once)
    parts, done, _ = finished_parts(parts_dir, "item_id")
    got = _read_parts(parts)
    got = got[got["item_id"].isin(wanted)].drop_duplicates("item_id")
    missing = wanted - set(got["item_id"].tolist())
    if missing:
        raise RuntimeError(f"embedding finished but {len(missing)} items have no vector (e.g. {sorted(missing)[:5]})")
    got = got.set_index("item_id").loc[items["item_id"].astype("int64").to_numpy()].reset_index()
    status = got["image_status"].value_counts().to_dict()
    stats = {
        "items": len(items),
        "reused": len(items) - computed,
        "computed": computed,
        "parts": len(parts),
        "discarded_parts": discarded,
        "dim": int(got["embedding"].iloc[0].shape[0]) if len(got) else 0,
        "images_ok": int(status.get("ok", 0)),
        "images_missing": int(status.get("missing", 0)),
        "images_corrupt": int(status.get("corrupt", 0)),
        "images_none": int(status.get("none", 0)),
        "fingerprint": fp,
        # seconds summed over actors: model calls, and each actor's start-up (imports + model load)
        "encode_s": round(timing["encode_s"], 3),
        "actor_init_s": [round(x, 3) for x in timing["actor_init_s"]],
        # wall seconds from pipeline start to the first model call, and from there to the last part written
        **{
            k: None if timing[k] is None else round(timing[k], 3) for k in ("first_encode_after_s", "encoding_window_s")
        },
    }
    (Path(out_dir) / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    result = got[["item_id", "embedding"]].copy()
    result.attrs["embed_stats"] = stats
    return result


def embedding_matrix(emb: pd.DataFrame) -> np.ndarray:
    """embed_items output -> float32 [n, dim] in row order."""
    return np.stack(emb["embedding"].to_numpy()).astype(np.float32) if len(emb) else np.zeros((0, 0), np.float32)
