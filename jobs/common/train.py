"""One Ray Train harness for every model here: PyTorch (DDP or DeepSpeed, checkpoints, resume) and XGBoost.

Driver side: `fit_torch(train_loop, loop_cfg, train_cfg, run_dir, name, callbacks=ctx.callbacks)` builds a
`TorchTrainer` (Ray Train V2). Re-running with the same run_dir resumes from its newest checkpoint (Ray restores
it through `ray.train.get_checkpoint()`). `callbacks` are the run's Ray Train callbacks (`RunContext.callbacks`:
under `genrec tune`, the one that forwards every report to Tune).

Worker side: `WorkerSession` hides the DDP/DeepSpeed difference behind `step(loss)` and
`report(metrics, epoch)`, and saves/restores model, optimizer and the loop's own state.

XGBoost: `fit_xgboost(worker_fn, loop_cfg, datasets, ...)` builds an `XGBoostTrainer` with the same
`run_config` (`max_failures` restarts); a worker that trains several boosters in one fit runs them through
`xgb_train_tasks` (checkpoints tagged by task, resume after a restart) and the driver collects the final one of
each with `boosters_by_task(result, task_ids)`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from jobs.common.config import TrainConfig
from jobs.common.job import UserFacingError
from jobs.common.progress import epoch_lines
from rec_core.export import load_state_tree, save_state_tree

MODEL_FILE = "model.pt"  # a plain state_dict of tensors, read with weights_only=True
# Loop state (epoch, the loop's counters, the optimizer): train_state.json + train_state.safetensors, no pickle.
STATE_NAME = "train_state"
# Each rank's own generator states (torch / numpy / random): ranks draw different streams (per-rank seeds, dropout),
# so a resumed rank must continue its own stream, not rank 0's.
RNG_NAME = "rng_rank"
HISTORY_FILE = "history.json"
DS_TAG = "deepspeed"


@dataclass
class TorchRunResult:
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint_dir: Path | None = None
    best_checkpoint_dir: Path | None = None
    run_dir: Path | None = None
    fit_s: float = 0.0  # wall seconds of the whole fit: worker start-up, the epochs, checkpoints, shutdown

    def model_checkpoint(self) -> Path:
        """The checkpoint a job loads its model from: the best by the score metric, else the newest. A run that left
        none (a loop that never checkpointed) is a UserFacingError naming where it trained."""
        ckpt = self.best_checkpoint_dir or self.checkpoint_dir
        if ckpt is None:
            raise UserFacingError(f"training under {self.run_dir} produced no checkpoint")
        return ckpt


def deepspeed_config(t: TrainConfig) -> dict:
    zero: dict[str, Any] = {"stage": t.zero_stage}
    extra: dict[str, Any] = {}
    if t.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu"}
        # DeepSpeed refuses a client optimizer under ZeRO-Offload unless told otherwise; torch's AdamW then steps
        # the offloaded fp32 states on CPU (slower than DeepSpeedCPUAdam, but no compiled op is needed).
        extra["zero_force_ds_cpu_optimizer"] = False
    return {
        "train_micro_batch_size_per_gpu": t.batch_size,
        "gradient_accumulation_steps": 1,
        "zero_optimization": zero,
        "bf16": {"enabled": t.precision == "bf16"},
        "fp16": {"enabled": t.precision == "fp16"},
        # We pass torch's own AdamW as the client optimizer: no compiled op needed on CPU.
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        **extra,
    }


def run_config(
    run_dir: Path,
    name: str,
    score_metric: str | None = None,
    score_mode: str = "max",
    keep: int | None = 2,
    callbacks: Sequence = (),
    max_failures: int = 0,
    start_retries: int | None = None,
):
    """RunConfig for any Ray trainer here (Torch or XGBoost): storage in run_dir (or `runtime.storage`:
    jobs.common.storage), `max_failures` restarts of the worker group (each resumes from the newest checkpoint),
    `start_retries` retries of a worker-group start that failed (default: TrainConfig's; then the fit fails with
    Ray's error instead of waiting forever), the run's callbacks."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig

    from jobs.common import storage

    ckpt = (
        CheckpointConfig(
            num_to_keep=keep,
            checkpoint_score_attribute=score_metric,
            checkpoint_score_order=score_mode,
        )
        if score_metric
        else CheckpointConfig(num_to_keep=keep)
    )
    storage_path, storage_fs = storage.target(run_dir)
    return RunConfig(
        name=name,
        storage_path=storage_path,
        storage_filesystem=storage_fs,
        checkpoint_config=ckpt,
        failure_config=FailureConfig(
            max_failures=max_failures,
            controller_failure_limit=DEFAULT_START_RETRIES if start_retries is None else start_retries,
        ),
        callbacks=list(callbacks),
    )


def fit_torch(
    train_loop: Callable[[dict], None],
    loop_cfg: dict,
    train: TrainConfig,
    run_dir: Path,
    name: str,
    score_metric: str | None = None,
    score_mode: str = "max",
    datasets: dict | None = None,
    callbacks: Sequence = (),
) -> TorchRunResult:
    """Run `train_loop(loop_cfg)` on `train.num_workers` Ray Train workers. Resumes when possible.
    The workers read the TrainConfig with `train_config_from_loop(loop_cfg)`; the driver prints a line per reported
    epoch (jobs.common.progress)."""
    from ray.train import ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from jobs.common import storage

    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    if not train.resume:
        storage.current().remove(run_dir, name)
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = dict(loop_cfg)
    cfg["__train__"] = train.model_dump()
    with epoch_lines(name, train.epochs) as progress:
        cfg["__progress__"] = (progress.queue, name)
        trainer = TorchTrainer(
            train_loop,
            train_loop_config=cfg,
            scaling_config=ScalingConfig(
                num_workers=train.num_workers,
                use_gpu=train.use_gpu,
                resources_per_worker=train.resources_per_worker(),
            ),
            torch_config=TorchConfig(backend="nccl" if train.use_gpu else "gloo"),
            run_config=run_config(
                run_dir,
                name,
                score_metric,
                score_mode,
                callbacks=[*callbacks, progress],
                max_failures=train.max_failures,
                start_retries=train.start_retries,
            ),
            datasets=datasets,
        )
        result = trainer.fit()
    if result.error:
        raise result.error
    latest = _local_checkpoint(result.checkpoint, run_dir / name) if result.checkpoint else None
    best = latest
    if score_metric and result.best_checkpoints:
        pick = max if score_mode == "max" else min
        ck, _ = pick(result.best_checkpoints, key=lambda cm: cm[1].get(score_metric, float("-inf")))
        best = _local_checkpoint(ck, run_dir / name)
    history: list[dict] = []
    if latest and (latest / HISTORY_FILE).exists():
        history = json.loads((latest / HISTORY_FILE).read_text())
    return TorchRunResult(
        metrics=dict(result.metrics or {}),
        history=history,
        checkpoint_dir=latest,
        best_checkpoint_dir=best,
        run_dir=run_dir,
        fit_s=time.perf_counter() - t0,
    )


XGB_TASK_FILE = "task.json"  # beside the booster in every task checkpoint: task id, round, tasks finished
DEFAULT_MAX_FAILURES = TrainConfig.model_fields["max_failures"].default
DEFAULT_START_RETRIES = TrainConfig.model_fields["start_retries"].default


def _local_checkpoint(ckpt, local_root: Path) -> Path:
    """A checkpoint as a local folder: itself in local storage; in a bucket, a copy under the run dir
    (`<run_dir>/<name>/<checkpoint dir name>`) that the job reads its model from."""
    import pyarrow.fs as pafs

    if isinstance(ckpt.filesystem, pafs.LocalFileSystem):
        return Path(ckpt.path)
    dest = Path(local_root) / Path(ckpt.path).name
    if not dest.exists():
        tmp = dest.with_name(dest.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        ckpt.to_directory(str(tmp))
        tmp.replace(dest)
    return dest


def fit_xgboost(
    worker_fn: Callable[[dict], None],
    loop_cfg: dict,
    datasets: dict | None,
    num_workers: int,
    cpus_per_worker: float,
    run_dir: Path,
    name: str,
    keep: int | None = None,
    callbacks: Sequence = (),
    max_failures: int = DEFAULT_MAX_FAILURES,
):
    """Run `worker_fn(loop_cfg)` on `num_workers` XGBoostTrainer workers (xgboost's collective joins them once
    for the whole function, so it may train many boosters: `xgb_train_tasks`), with the RunConfig every trainer
    here gets (`run_config`: storage in run_dir, checkpoints, the run's callbacks). `max_failures` (default: the
    TrainConfig default) restarts of the worker group after a worker dies; the restarted workers resume from the
    newest checkpoint (`xgb_train_tasks` does it). keep=None keeps every checkpoint. Returns Ray Train's Result."""
    from ray.train import ScalingConfig
    from ray.train.xgboost import XGBoostTrainer

    trainer = XGBoostTrainer(
        worker_fn,
        train_loop_config=loop_cfg,
        scaling_config=ScalingConfig(num_workers=num_workers, resources_per_worker={"CPU": cpus_per_worker}),
        run_config=run_config(run_dir, name, keep=keep, callbacks=callbacks, max_failures=max_failures),
        datasets=datasets or None,
    )
    result = trainer.fit()
    if result.error:
        raise result.error
    return result


def xgb_train_tasks(task_ids: Sequence[str], train_one: Callable, frequency: int) -> list[str]:
    """Worker side: train several boosters one after another in this worker group (one collective, one
    start-up for all of them). `train_one(task_id, callbacks, resume_from)` builds its DMatrix and calls
    `xgboost.train(..., callbacks=callbacks, xgb_model=resume_from)`, with `num_boost_round` reduced by
    `resume_from.num_boosted_rounds()` when resume_from is a Booster. Every `frequency` rounds and at the end of
    each task a checkpoint is reported (`xgb_task_report`). After a restart (FailureConfig), the tasks finished
    before the newest checkpoint are skipped and the interrupted one continues from it (without early stopping
    the resumed booster equals an uninterrupted one; with it, xgboost's early-stopping state starts afresh at the
    checkpoint's round, so the stopping round can differ). Returns the task ids this attempt trained."""
    done, current, booster = _xgb_resume_state()
    finished, trained = list(done), []
    for tid in task_ids:
        if tid in done:
            continue
        cb = _task_report_class()(tid, frequency, done=list(finished))
        train_one(tid, [cb], booster if tid == current else None)
        finished.append(tid)
        trained.append(tid)
    return trained


def _xgb_resume_state() -> tuple[set, str | None, Any]:
    """(tasks finished, task of the newest checkpoint, its booster) from Ray Train's restored checkpoint."""
    import ray.train
    from ray.train.xgboost import RayTrainReportCallback

    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        return set(), None, None
    with ckpt.as_directory() as d:
        info_file = Path(d) / XGB_TASK_FILE
        if not info_file.exists():  # a checkpoint from a plain RayTrainReportCallback: nothing to resume by task
            return set(), None, None
        info = json.loads(info_file.read_text())
    return set(info["done"]), info["task"], RayTrainReportCallback.get_model(ckpt)


def xgb_task_report(task: str, frequency: int, done: Sequence[str] = ()):
    """Worker side: an xgboost callback that reports (with a checkpoint) every `frequency` rounds and at the
    end, tagged with `task` and the round, so one fit can train many boosters (`boosters_by_task`); `done` (the
    tasks finished before this one) goes into the checkpoint so a restarted worker group can skip them."""
    return _task_report_class()(task, frequency, done)


@functools.cache
def _task_report_class():
    from ray.train import Checkpoint
    from ray.train.xgboost import RayTrainReportCallback

    class TaskReport(RayTrainReportCallback):
        """RayTrainReportCallback that reports only every `frequency` rounds (counted in the booster's rounds,
        so a resumed booster keeps the same schedule) and at the end. The stock callback reports metrics every
        round, and each report is a cross-worker sync; the metrics are tagged with the task and the round, and
        the checkpoint holds `task.json` (task, round, tasks finished) beside the booster."""

        def __init__(self, task: str, frequency: int, done: Sequence[str] = ()):
            super().__init__(frequency=frequency, checkpoint_at_end=True)
            self.task = task
            self.done = list(done)
            self._final = False

        def after_iteration(self, model, epoch, evals_log):
            self._evals_log = evals_log
            if self._frequency and model.num_boosted_rounds() % self._frequency == 0:
                self._save_and_report_checkpoint(self._get_report_dict(evals_log), model)
            return False

        def after_training(self, model):
            # Always a final checkpoint, even right after a periodic one: only the final one marks the task done.
            self._final = True
            report_dict = self._get_report_dict(self._evals_log) if self._evals_log else {}
            self._save_and_report_checkpoint(report_dict, model)
            return model

        def _save_and_report_checkpoint(self, report_dict, model):
            import ray.train

            rnd = model.num_boosted_rounds()
            metrics = {**report_dict, "task": self.task, "round": rnd}
            if ray.train.get_context().get_world_rank() not in (0, None):
                ray.train.report(metrics)  # every rank reports (a sync); rank 0 holds the booster
                return
            with tempfile.TemporaryDirectory() as d:
                model.save_model(str(Path(d, self._filename)))
                done = self.done + ([self.task] if self._final else [])
                (Path(d) / XGB_TASK_FILE).write_text(json.dumps({"task": self.task, "round": rnd, "done": done}))
                ray.train.report(metrics, checkpoint=Checkpoint.from_directory(d))

    return TaskReport


def boosters_by_task(result, task_ids: list[str]) -> dict:
    """{task: xgboost.Booster} from a `fit_xgboost` result: each task's checkpoint of the latest round (keep=None
    keeps them all). Raises when a task has none."""
    from ray.train.xgboost import RayTrainReportCallback

    final: dict[str, tuple] = {}
    for ckpt, metrics in result.best_checkpoints or []:
        tid, rnd = metrics.get("task"), metrics.get("round", -1)
        if tid is not None and (tid not in final or rnd >= final[tid][1]):
            final[tid] = (ckpt, rnd)
    missing = [t for t in task_ids if t not in final]
    if missing:
        raise RuntimeError(f"XGBoostTrainer returned no final checkpoint for tasks {missing}")
    return {tid: RayTrainReportCallback.get_model(ck) for tid, (ck, _) in final.items()}


def load_model_state(checkpoint_dir: Path | str, map_location: str = "cpu") -> dict:
    """Plain state_dict of the unwrapped module, as saved by WorkerSession."""
    path = Path(checkpoint_dir) / MODEL_FILE
    if not path.exists():
        raise FileNotFoundError(f"no {MODEL_FILE} in checkpoint {checkpoint_dir}")
    return torch.load(path, map_location=map_location, weights_only=True)


# The driver's progress queue and the run's name, for in-epoch step lines (see WorkerSession.step). A worker process
# runs one train loop, and every loop reads its TrainConfig here first, so the handle rides along with it.
_progress_sink: tuple | None = None


def train_config_from_loop(loop_cfg: dict) -> TrainConfig:
    global _progress_sink
    _progress_sink = loop_cfg.get("__progress__")
    return TrainConfig.model_validate(loop_cfg["__train__"])


class WorkerSession:
    """Inside `train_loop`: wraps the model (DDP or DeepSpeed), steps, checkpoints, restores."""

    def __init__(
        self,
        train: TrainConfig | dict,
        model: torch.nn.Module,
        optimizer_factory: Callable[[Any], torch.optim.Optimizer],
    ):
        import ray.train
        import ray.train.torch

        self.train = train if isinstance(train, TrainConfig) else train_config_from_loop(train)
        ctx = ray.train.get_context()
        self.rank = ctx.get_world_rank()
        self.world_size = ctx.get_world_size()
        self.is_main = self.rank == 0
        self.device = ray.train.torch.get_device()
        self.history: list[dict] = []
        self.extra_state: dict = {}
        self.start_epoch = 0
        self._t0 = time.monotonic()
        self._sink = _progress_sink if self.is_main else None
        self._steps_per_epoch: int | None = None
        self._next_epoch: int | None = None  # the epoch after the last one reported by this attempt
        self._step_in_epoch, self._epoch_t0, self._last_line = 0, time.monotonic(), time.monotonic()
        if self.train.deepspeed:
            import deepspeed

            if self.device.type == "cpu":
                _cpu_allreduce_through_gloo()
            model = model.to(self.device)
            optimizer = optimizer_factory(model.parameters())
            self.model, self.optimizer, _, _ = deepspeed.initialize(
                model=model, optimizer=optimizer, config=deepspeed_config(self.train), dist_init_required=False
            )
            self.module = self.model.module
            # ZeRO steps the torch optimizer it wraps with that optimizer's param groups: the schedule sets their lr.
            self._lr_optimizer = optimizer
        else:
            self.model = ray.train.torch.prepare_model(model)
            self.module = self.model.module if hasattr(self.model, "module") else self.model
            self.optimizer = self._lr_optimizer = optimizer_factory(self.model.parameters())
        # The schedule's base: the lrs the optimizer was built with, before a restore brings back decayed ones.
        self._base_lrs = [g["lr"] for g in self._lr_optimizer.param_groups]
        self._scheduler = None
        self._restore()

    # -- training ------------------------------------------------------------------------------
    def prepare_loader(self, loader):
        import ray.train.torch

        loader = ray.train.torch.prepare_data_loader(loader)
        self.set_steps_per_epoch(len(loader))
        return loader

    def set_steps_per_epoch(self, steps: int) -> None:
        """For loops that batch without a DataLoader: what the progress lines and `train.lr_schedule` count on.
        The schedule is built once: a loop that prepares a fresh loader every epoch (NCF's negative sampling) must
        not restart it."""
        self._steps_per_epoch = int(steps)
        if self.train.lr_schedule != "constant" and self._scheduler is None:
            self._scheduler = lr_scheduler(
                self._lr_optimizer, self.train, self._steps_per_epoch, self.start_epoch, self._base_lrs
            )

    def autocast(self):
        """bf16/fp16 autocast for the DDP path (DeepSpeed casts itself)."""
        if self.train.deepspeed or self.train.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.train.precision == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def step(self, loss: torch.Tensor) -> None:
        if self.train.deepspeed:
            self.model.backward(loss)
            self.model.step()
        else:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        if self.train.lr_schedule != "constant":
            if self._scheduler is None:
                raise RuntimeError(
                    f"train.lr_schedule={self.train.lr_schedule!r} needs the steps per epoch: build the loader with "
                    "sess.prepare_loader(...) or call sess.set_steps_per_epoch(n) before the first step"
                )
            self._scheduler.step()
        self._step_line(loss)

    def _step_line(self, loss: torch.Tensor) -> None:
        """Every `train.progress_every_s`, rank 0 sends a step line to the driver (epochs of LLM jobs take minutes)."""
        self._step_in_epoch += 1
        now = time.monotonic()
        if self._sink is None or now - self._last_line < self.train.progress_every_s:
            return
        self._last_line = now
        from jobs.common.progress import format_step_line

        queue, name = self._sink
        epoch = self.start_epoch if self._next_epoch is None else self._next_epoch
        steps = self._steps_per_epoch or self._step_in_epoch
        line = format_step_line(
            name, epoch, self.train.epochs, self._step_in_epoch, steps, float(loss.detach()), now - self._epoch_t0
        )
        with contextlib.suppress(Exception):  # progress must never fail a run
            queue.put_nowait((line, epoch, None))

    def train_mode(self, on: bool = True) -> None:
        self.model.train(on)

    # -- reporting and checkpoints -------------------------------------------------------------
    def report(
        self, metrics: dict[str, Any], epoch: int, extra_state: dict | None = None, force_checkpoint: bool = False
    ) -> bool:
        """Report once per epoch on EVERY worker (Ray syncs on it); checkpoint every N epochs and at the end.

        Returns True when `train.time_limit_s` has run out: the epoch was checkpointed and the loop must stop."""
        import ray.train

        out_of_time = self._out_of_time()
        self._step_in_epoch, self._epoch_t0, self._next_epoch = 0, time.monotonic(), epoch + 1
        row = {**{k: _plain(v) for k, v in metrics.items()}, "epoch": epoch}
        if out_of_time:
            row["stopped_by_time_limit"] = 1
        self.history.append(row)
        last = epoch + 1 >= self.train.epochs
        if not (force_checkpoint or out_of_time or last or (epoch + 1) % self.train.checkpoint_every == 0):
            ray.train.report(row)
            return False
        with tempfile.TemporaryDirectory() as d:
            wrote = self._save(Path(d), epoch, extra_state or {})
            ckpt = ray.train.Checkpoint.from_directory(d) if wrote else None
            ray.train.report(row, checkpoint=ckpt)
        return out_of_time

    def _out_of_time(self) -> bool:
        """Same answer on every rank (rank 0's clock), or the ranks would leave the loop at different epochs."""
        if self.train.time_limit_s is None:
            return False
        flag = torch.tensor([float(time.monotonic() - self._t0 >= self.train.time_limit_s)])
        if self.world_size > 1 and torch.distributed.is_initialized():
            if torch.distributed.get_backend() == "nccl":
                flag = flag.to(self.device)
            torch.distributed.broadcast(flag, src=0)
        return bool(flag.item())

    def _save(self, d: Path, epoch: int, extra_state: dict) -> bool:
        if self.train.deepspeed:
            # Every rank writes its ZeRO shards; Ray merges the rank directories into one checkpoint.
            self.model.save_checkpoint(str(d), tag=DS_TAG)
            if self.train.zero_stage == 3:
                state = self.model._zero3_consolidated_16bit_state_dict()
            else:
                state = self.module.state_dict()
        else:
            state = self.module.state_dict() if self.is_main else None
        save_state_tree({"rng": _rng_state()}, d, f"{RNG_NAME}{self.rank}")
        if not self.is_main:
            return True  # its folder holds its RNG file (and ZeRO shards): Ray merges the ranks' folders
        torch.save({k: v.detach().cpu() for k, v in state.items()}, d / MODEL_FILE)
        train_state = {"epoch": epoch, "extra": extra_state}
        if not self.train.deepspeed:
            train_state["optimizer"] = self.optimizer.state_dict()
        save_state_tree(train_state, d, STATE_NAME)
        (d / HISTORY_FILE).write_text(json.dumps(self.history))
        return True

    def _restore(self) -> None:
        import ray.train

        ckpt = ray.train.get_checkpoint()
        if ckpt is None:
            return
        with ckpt.as_directory() as d:
            d = Path(d)
            if self.train.deepspeed and (d / DS_TAG).exists():
                with _deepspeed_loads_without_pickle(self.model):
                    self.model.load_checkpoint(str(d), tag=DS_TAG)
            else:
                self.module.load_state_dict(torch.load(d / MODEL_FILE, map_location=self.device, weights_only=True))
            # No pickle anywhere: a checkpoint from shared storage must not be able to run code when loaded.
            if (d / f"{STATE_NAME}.json").exists():
                state = load_state_tree(d, STATE_NAME)
            else:  # a checkpoint written before the JSON + safetensors format
                state = torch.load(d / f"{STATE_NAME}.pt", map_location="cpu", weights_only=True)
            if "optimizer" in state and not self.train.deepspeed:
                self.optimizer.load_state_dict(state["optimizer"])
            self.start_epoch = int(state["epoch"]) + 1
            self.extra_state = state.get("extra", {})
            if (d / f"{RNG_NAME}{self.rank}.json").exists():
                _set_rng_state(load_state_tree(d, f"{RNG_NAME}{self.rank}")["rng"])
            elif "rng" in state:  # a checkpoint from before per-rank RNG files: rank 0's states
                _set_rng_state(state["rng"])
            if (d / HISTORY_FILE).exists():
                self.history = json.loads((d / HISTORY_FILE).read_text())


def lr_scheduler(optimizer, train: TrainConfig, steps_per_epoch: int, start_epoch: int = 0, base_lrs=None):
    """`train.lr_schedule` over epochs x steps_per_epoch optimizer steps, moved on to where a run resumed at
    `start_epoch` stands. `base_lrs`: each param group's lr before any decay (a restored optimizer holds the decayed
    ones).

    The factors are those of transformers' get_linear_schedule_with_warmup / get_cosine_schedule_with_warmup
    (tests/unit/test_lr_schedule.py checks them step by step), through torch's LambdaLR: importing
    transformers.optimization pulls in its trainer utilities and peft, 6 s in every fresh Ray Train worker here
    (`python -X importtime`), for two formulas."""
    import math
    import warnings

    for group, base in zip(optimizer.param_groups, base_lrs or [g["lr"] for g in optimizer.param_groups]):
        group["lr"] = group["initial_lr"] = base
    total = max(1, train.epochs * steps_per_epoch)
    warmup = int(train.warmup_frac * total)

    def factor(step: int) -> float:
        if step < warmup:
            return step / max(1, warmup)
        progress = (step - warmup) / max(1, total - warmup)
        if train.lr_schedule == "linear":
            return max(0.0, 1.0 - progress)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    with warnings.catch_warnings():  # torch warns of scheduler steps before any optimizer step: wanted here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(start_epoch * steps_per_epoch):  # a lambda per step: cheap, exactly the uninterrupted path
            sched.step()
    return sched


def _cpu_allreduce_through_gloo() -> None:
    """DeepSpeed on CPU compiles a shared-memory allreduce op (deepspeed_shm_comm) into ~/.cache/torch_extensions
    the first time each environment uses it: 34 s on 2 cores, and a process killed mid-build leaves a lock file there
    that makes every later DeepSpeed start on the machine wait forever (it hung a CI run for 90 minutes). CPU DeepSpeed
    is the laptop and test path, so gloo's allreduce, which Ray Train has already set up, carries it. DeepSpeed keeps
    its probe of compatible ops in one module dict, read when its comm backend starts."""
    import deepspeed.ops

    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


@contextlib.contextmanager
def _deepspeed_loads_without_pickle(engine):
    """DeepSpeed's checkpoint engine reads its files with `torch.load(weights_only=False)`, so a ZeRO checkpoint could
    run code. While our restore runs, its reads go through `weights_only=True`, which unpickles tensors, containers
    and only the few DeepSpeed classes its checkpoints hold (loss scaler, ZeRO stage enum, fragment addresses)."""
    ce = getattr(engine, "checkpoint_engine", None)
    if ce is None:
        yield
        return
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    allowed = [LossScaler, DynamicLossScaler, ZeroStageEnum, fragment_address]

    def load(path, map_location=None):
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location=map_location, weights_only=True)

    original = ce.load
    ce.load = load
    try:
        yield
    finally:
        ce.load = original


def _rng_state() -> dict:
    """torch / numpy / random generator states at a checkpoint: a resumed run draws the same shuffles, dropout
    masks and samples as an uninterrupted one (plain tensors and lists, loadable with weights_only=True)."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)],
        "random": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }


def _set_rng_state(state: dict) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["random"]
    random.setstate((version, tuple(internal), gauss_next))


def _plain(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.item() if v.numel() == 1 else v.tolist()
    if hasattr(v, "item") and not isinstance(v, (list, dict, str)):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v
    return v
