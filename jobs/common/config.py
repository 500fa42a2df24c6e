"""Typed job configs: pydantic models, YAML presets and `--set key=value` overrides.

Every job declares a `Config(JobConfig)`. A resolved config is: defaults of the model, then the preset
YAML, then each `--set`, validated once at the end so an unknown key or a wrong type is reported with
its dotted path (`model.d_model: Input should be a valid integer`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, Field, ValidationError, field_validator

from rec_core.config import StrictModel

C = TypeVar("C", bound=StrictModel)


class ConfigError(ValueError):
    """A config that cannot be used: the message names the offending key."""


def _known_dataset(name: str) -> str:
    """Checked when the config is resolved, so a typo fails before Ray starts, with the names that exist."""
    from rec_core.data.registry import SPECS

    if name != "synthetic" and name not in SPECS:
        raise ValueError(f"unknown dataset {name!r}; datasets: {', '.join([*SPECS, 'synthetic'])}")
    return name


# A `dataset` key: a name in the dataset registry (rec_core.data) or `synthetic` (the smoke runs' generated data).
DatasetName = Annotated[str, AfterValidator(_known_dataset)]


class RuntimeConfig(StrictModel):
    """Where the job runs. Empty address = an embedded local Ray sized to this machine."""

    address: str | None = Field(
        None, description="Ray address (ray://host:10001, 'auto'); default: RAY_ADDRESS or local"
    )
    num_cpus: int | None = Field(None, ge=1, description="CPUs for an embedded local Ray (default: all)")
    num_gpus: int | None = Field(None, ge=0, description="GPUs for an embedded local Ray (default: detected)")
    object_store_gb: float | None = Field(None, gt=0, description="object store cap for a local Ray")
    allow_autoscale: bool = Field(
        False, description="skip the fits-the-cluster check (an autoscaling cluster will add nodes)"
    )
    storage: str | None = Field(
        None,
        description="where Ray keeps checkpoints and results: a local/shared path or s3://bucket/prefix "
        "(default: the run dir); a run re-run with the same --out name resumes from there on any machine",
    )
    storage_endpoint: str | None = Field(
        None, description="S3 endpoint override for an S3-compatible store (MinIO, Ceph): http://host:9000"
    )
    dashboard: bool = Field(
        True,
        description="start Ray's dashboard with a local Ray; Ray Train's placement-group cleaner asks its "
        "state API whether a run is alive, so without it a run killed mid-training (a trial stopped by ASHA, "
        "Ctrl-C) keeps its CPUs reserved and the next Ray Data stage waits forever",
    )
    train_poll_s: float = Field(
        0.2,
        gt=0,
        le=10,
        description="how often Ray Train's controller polls its workers (RAY_TRAIN_HEALTH_CHECK_INTERVAL_S; Ray's "
        "default 2 s). A worker holds one unread report at a time, so every report after the first waits for a "
        "poll: at 2 s each checkpoint cost ~2 s (BENCHMARKS.md, train_overhead). Applied to a local Ray and to a "
        "cluster joined with --address; a submitted job takes it from cluster/runtime_env.yaml",
    )


class TrainConfig(StrictModel):
    """Switches shared by every job that trains with Ray Train."""

    num_workers: int = Field(1, ge=1, description="Ray Train workers (DDP ranks)")
    cpus_per_worker: float = Field(1.0, gt=0)
    use_gpu: bool = False
    deepspeed: bool = Field(False, description="wrap the model in DeepSpeed instead of DDP")
    zero_stage: Literal[0, 1, 2, 3] = 1
    offload_optimizer: bool = Field(False, description="DeepSpeed ZeRO CPU offload of optimizer states")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    epochs: int = Field(1, ge=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    lr_schedule: Literal["constant", "linear", "cosine"] = Field(
        "constant",
        description="learning rate over the run: constant, or a warmup from 0 then a linear or cosine decay to 0 at "
        "the last step (the factors of transformers' schedules); a resumed run continues the schedule where it stopped",
    )
    warmup_frac: float = Field(0.0, ge=0, lt=1, description="share of all training steps spent warming the lr up")
    checkpoint_every: int = Field(1, ge=1, description="epochs between checkpoints")
    resume: bool = Field(True, description="resume from the newest checkpoint in the run dir")
    max_failures: int = Field(
        3,
        ge=0,
        description="times Ray Train restarts the worker group after a worker or node dies (spot preemption); "
        "the restarted workers resume from the newest checkpoint, losing at most checkpoint_every epochs",
    )
    start_retries: int = Field(
        4,
        ge=-1,
        description="failed worker-group starts Ray Train retries before the fit fails (each start waits up to "
        "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S, Ray's default 60 s); -1 = forever, e.g. while an autoscaler adds "
        "nodes. Ray's own default is forever: a Tune trial whose workers could not be placed retried for 30 min",
    )
    progress_every_s: float = Field(
        60.0,
        gt=0,
        description="seconds between in-epoch progress lines (step, loss, time left in the epoch) from rank 0",
    )
    time_limit_s: float | None = Field(
        None,
        gt=0,
        description="stop after the epoch in which this many seconds of "
        "training have passed (counted from this attempt's start); that epoch is "
        "checkpointed, so a later run with resume=true continues from it",
    )

    worker_resources: dict[str, float] = Field(
        default_factory=dict,
        description="custom Ray resources per worker, e.g. {accelerator_node: 1} to place the workers only on "
        "nodes started with --resources '{\"accelerator_node\": 1}'",
    )

    def resources_per_worker(self) -> dict[str, float]:
        res = {"CPU": self.cpus_per_worker}
        if self.use_gpu:
            res["GPU"] = 1.0
        return {**res, **self.worker_resources}

    def resources(self) -> dict[str, float]:
        """What the whole worker group holds at once (the job's peak check adds its other stages)."""
        return {k: v * self.num_workers for k, v in self.resources_per_worker().items()}


class TrackingConfig(StrictModel):
    """Experiment tracking (jobs.common.tracking). Off by default; `--set tracking.backend=mlflow` turns it on."""

    backend: Literal["none", "mlflow"] = Field(
        "none", description="none, or mlflow: config, per-epoch and final metrics (genrec run), every trial (tune)"
    )
    uri: str | None = Field(
        None,
        description="MLflow tracking URI (http://host:5000, file:/path); default: a file store <runs folder>/mlruns, "
        "the folder that holds the run dir",
    )
    experiment: str | None = Field(None, description="MLflow experiment name (default: the job name)")


class JobConfig(StrictModel):
    """Fields every job has. Jobs subclass this and add their own sections."""

    seed: int = 0
    data_dir: Path | None = Field(
        None, description="normalised datasets (default: GENREC_DATA_DIR or ~/.cache/genrec/data)"
    )
    mirror: Path | None = Field(
        None, description="local mirror of the official files (default: GENREC_MIRROR or ../shared/data)"
    )
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)

    @field_validator("data_dir", "mirror", mode="before")
    @classmethod
    def _expand(cls, v: Any) -> Any:
        return Path(os.path.expanduser(str(v))) if v not in (None, "") else None


# ---------------------------------------------------------------------------------------------
# Presets and overrides


def parse_override(item: str) -> tuple[list[str], Any]:
    """`a.b=3` -> (['a', 'b'], 3). The value is parsed as YAML, so `x=[1,2]`, `y=true`, `z=null` work."""
    if "=" not in item:
        raise ConfigError(f"--set expects key=value, got {item!r}")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set has an empty key in {item!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        # YAML 1.1 reads `1e-5` (no dot) as a string; a CLI user means the number.
        try:
            value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "infinity") else value
        except ValueError:
            pass
    return key.split("."), value


def set_dotted(tree: dict, path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"cannot set {'.'.join(path)}: {part} is a value, not a section")
        node = child
    node[path[-1]] = value


def load_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data


def format_validation_error(err: ValidationError, source: str = "config", overrides: dict | None = None) -> str:
    """One line per error, each blamed on what set the value: the `--set` that wrote it when there is one
    (`overrides`: dotted path -> the --set item), else `source` (a preset, a config file, the defaults)."""
    overrides = overrides or {}
    lines, from_sets = [], 0
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "<root>"
        msg = "unknown key (not a field of this config)" if e["type"] == "extra_forbidden" else e["msg"]
        got = "" if e["type"] == "extra_forbidden" else f" (got {e.get('input')!r})"
        item = next(
            (v for k, v in overrides.items() if loc == k or loc.startswith(k + ".") or k.startswith(loc + ".")), None
        )
        if item is not None:
            from_sets += 1
            lines.append(f"  --set {item}: {loc}: {msg}{got}")
        else:
            lines.append(f"  {loc}: {msg}{got}")
    head = f"invalid --set for the {source.split(' of ', 1)[-1]}:" if from_sets == len(lines) else f"invalid {source}:"
    return "\n".join([head, *lines])


def resolve_config(
    cls: type[C], *layers: dict, overrides: list[str] | tuple[str, ...] = (), source: str = "config"
) -> C:
    """Merge dict layers (later wins, deep), apply `key=value` overrides, validate once."""
    merged: dict = {}
    for layer in layers:
        _deep_merge(merged, layer or {})
    by_path = {}
    for item in overrides:
        path, value = parse_override(item)
        set_dotted(merged, path, value)
        by_path[".".join(path)] = item
    try:
        return cls.model_validate(merged)
    except ValidationError as e:
        raise ConfigError(format_validation_error(e, source, by_path)) from None


def _deep_merge(dst: dict, src: dict) -> dict:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _deep_merge(dst[k], v)
        else:
            dst[k] = v
    return dst


# ---------------------------------------------------------------------------------------------
# Describing a config (genrec config JOB, genrec run JOB --help)


def describe(cfg: StrictModel, prefix: str = "") -> list[tuple[str, str, Any, str]]:
    """Every leaf key of a resolved config: (dotted key, type, value, description), read from the pydantic fields,
    sections first-to-last as declared."""
    rows = []
    for name, info in type(cfg).model_fields.items():
        value = getattr(cfg, name)
        key = f"{prefix}{name}"
        if isinstance(value, StrictModel):
            rows += describe(value, key + ".")
            continue
        rows.append((key, _type_name(info.annotation), value, (info.description or "").strip()))
    return rows


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if getattr(annotation, "__args__", None) is None else None
    text = text or str(annotation)
    for noise in ("typing.", "pathlib.", "<class '", "'>"):
        text = text.replace(noise, "")
    return text.replace("NoneType", "None")


def format_description(rows: list[tuple[str, str, Any, str]]) -> str:
    """Aligned `key  type  = value  description` lines."""
    width_k = max((len(r[0]) for r in rows), default=3)
    width_t = min(max((len(r[1]) for r in rows), default=4), 40)
    out = []
    for key, typ, value, desc in rows:
        shown = json.dumps(value, default=str)
        out.append(f"{key:<{width_k}}  {typ:<{width_t}}  = {shown}" + (f"   {desc}" if desc else ""))
    return "\n".join(out)
