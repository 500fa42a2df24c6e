"""Per-epoch progress lines on the driver, from Ray Train's own reports.

Ray Train V2 calls a `UserCallback`'s `after_report` on its controller process once all workers have reported an
epoch. That process is not the driver, and the embedded Ray does not forward worker output to the driver (it would
bring every worker's warnings with it), so the callback sends each formatted line through a `ray.util.queue.Queue`
(a 0-CPU actor) and a daemon thread on the driver prints it (and hands the epoch's numbers to `jobs.common.tracking`,
which logs them to the run's MLflow run when tracking is on):

    [tiger] epoch 3/12  loss 0.8123  valid/ndcg@10 0.4100  2.1 s/epoch  ETA 19 s

    with epoch_lines("tiger", epochs=12) as cb:
        fit_torch(..., callbacks=[*ctx.callbacks, cb])
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from jobs.common import tracking

# Shown when a report carries them, in this order; other keys stay in history.json and the report.
SHOWN = ("loss", "valid/ndcg@10", "valid/recall@10", "valid/rmse", "valid/accuracy", "valid/hr@10", "recon_cosine")


def format_line(name: str, epoch: int, epochs: int, metrics: dict[str, Any], epoch_s: float | None) -> str:
    """One line per epoch: position, the headline metrics it has, seconds per epoch and time left."""
    parts = [f"[{name}] epoch {epoch + 1}/{epochs}"]
    for key in SHOWN:
        value = metrics.get(key)
        if isinstance(value, (int, float)) and value == value and not (key.startswith("valid/") and value < 0):
            parts.append(f"{key} {value:.4f}")
    if epoch_s is not None:
        left = max(epochs - epoch - 1, 0) * epoch_s
        parts.append(f"{epoch_s:.1f} s/epoch  ETA {left:.0f} s")
    return "  ".join(parts)


def format_step_line(name: str, epoch: int, epochs: int, step: int, steps: int, loss: float, elapsed_s: float) -> str:
    """An in-epoch line for long epochs: the step, the latest loss and the time left in this epoch."""
    left = (steps - step) * elapsed_s / max(step, 1)
    return f"[{name}] epoch {epoch + 1}/{epochs}  step {step}/{steps}  loss {loss:.4f}  {left:.0f} s left in epoch"


def _callback_class():
    from ray.train import UserCallback

    class EpochLines(UserCallback):
        """Runs on the Train controller: formats each epoch's rank-0 report and queues it for the driver."""

        def __init__(self, queue, name: str, epochs: int):
            self.queue, self.name, self.epochs = queue, name, epochs
            self._last: float | None = None

        def after_report(self, run_context, metrics, checkpoint):
            m = metrics[0] if metrics else {}
            now = time.monotonic()
            # A report's own epoch time when the loop measured it, else the gap since the previous report.
            epoch_s = m.get("epoch_s") or m.get("epoch_time_s") or (now - self._last if self._last else None)
            self._last = now
            epoch = int(m.get("epoch", 0))
            with contextlib.suppress(Exception):  # progress must never fail a run
                line = format_line(self.name, epoch, self.epochs, m, epoch_s)
                self.queue.put_nowait((line, epoch, {k: v for k, v in m.items() if isinstance(v, (int, float))}))

    return EpochLines


@contextlib.contextmanager
def epoch_lines(name: str, epochs: int, stream=None) -> Iterator[object]:
    """A Ray Train callback that prints one line per reported epoch on this process (`stream`, default stdout)
    while the block runs; the lines still queued when it ends are printed before it returns."""
    from ray.util.queue import Empty, Queue

    stream = stream or sys.stdout
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # On the driver's node: placed on a worker node, the queue would die with it (a spot preemption) and every line
    # after the restart would be lost.
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    queue = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})
    done = threading.Event()

    def pump() -> None:
        while True:
            try:
                line, epoch, metrics = queue.get(timeout=0.5)
            except Empty:
                if done.is_set():
                    return
                continue
            except Exception:  # noqa: BLE001 - the queue actor is gone (Ray shut down): stop quietly
                return
            print(line, file=stream, flush=True)
            if metrics is not None:  # None: an in-epoch step line, not an epoch
                tracking.log_epoch(name, epoch, metrics)  # the driver's MLflow run, when tracking is on

    thread = threading.Thread(target=pump, name=f"{name}-progress", daemon=True)
    thread.start()
    try:
        yield _callback_class()(queue, name, epochs)
    finally:
        done.set()
        thread.join(timeout=5)
        with contextlib.suppress(Exception):
            queue.shutdown()
