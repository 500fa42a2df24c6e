"""TIGER's training step and a plain single-process PyTorch loop (tests, and the reference that Ray
Train's overhead is measured against). The Ray Train job runs the same `tiger_loss` per batch."""

from __future__ import annotations

import math
import time

import torch


def tiger_loss(model, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Teacher-forced cross-entropy over the target's SID tokens + </s> (T5 shifts labels itself)."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss


def torch_optimizer(optimizer) -> torch.optim.Optimizer:
    """The torch optimizer a schedule drives: DeepSpeed wraps the client optimizer (ZeRO), the schedule drives the
    torch optimizer inside it."""
    while not isinstance(optimizer, torch.optim.Optimizer) and hasattr(optimizer, "optimizer"):
        optimizer = optimizer.optimizer
    return optimizer


def warmup_inverse_sqrt(optimizer, warmup_steps: int):
    """TIGER / T5 schedule: linear warm-up, then lr * sqrt(warmup / step)."""
    w = max(1, int(warmup_steps))
    return torch.optim.lr_scheduler.LambdaLR(
        torch_optimizer(optimizer), lambda s: (s + 1) / w if s < w else math.sqrt(w / (s + 1))
    )


def fast_forward(scheduler, steps: int) -> None:
    """Advance a schedule after a resume (the optimizer state is restored separately)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "scheduler.step() before optimizer.step()" is intended here
        for _ in range(steps):
            scheduler.step()


def fit_plain(
    model,
    loader,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    warmup_steps: int = 100,
    loss_fn=tiger_loss,
    device: str = "cpu",
    on_epoch=None,
) -> list[dict]:
    """Plain loop: returns one {"epoch", "loss", "seconds"} per epoch; `on_epoch(epoch, model)` may add metrics."""
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = warmup_inverse_sqrt(opt, warmup_steps)
    history = []
    for epoch in range(epochs):
        t0, total, n = time.perf_counter(), 0.0, 0
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = loss_fn(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total, n = total + float(loss.detach()), n + 1
        row = {"epoch": epoch, "loss": total / max(n, 1), "seconds": time.perf_counter() - t0}
        if on_epoch is not None:
            row.update(on_epoch(epoch, model) or {})
        history.append(row)
    return history
