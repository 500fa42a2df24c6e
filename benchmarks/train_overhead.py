"""BENCHMARKS.md section: what a Ray Train run costs beyond its training, at Ray's default controller poll (2 s) and
at ours (`runtime.train_poll_s`).

Ray Train V2's controller collects reports by polling its workers every RAY_TRAIN_HEALTH_CHECK_INTERVAL_S, and a worker
holds one unread report at a time, so each report after the first waits for the next poll, and so does the end of
a run. Each poll setting runs in a fresh process with its own embedded Ray (the controller reads the variable at
start), measuring:
- `empty_fit`: a 1-worker `fit_torch` whose loop only reports once: start-up and shutdown (median of 3);
- `checkpointed_reports`: 1 worker, 20 epochs of a tiny model, a checkpoint every epoch: seconds per report;
- `tiger`: the tiger job at `benchmarks.tiger.ray_overhead`'s size (synthetic chains, 2 epochs) against the same
  training in a plain PyTorch loop in the same process: Ray total / plain (the ratio the issue quotes as 1.99).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results_io import md_tables, num, put
from rec_core.paths import REPO_ROOT

POLLS = {"Ray default": 2.0, "ours (runtime.train_poll_s)": 0.2}
REPORTS = 20


def _empty_loop(cfg: dict) -> None:
    import ray.train

    ray.train.report({"loss": 0.0, "epoch": 0})


def _report_loop(cfg: dict) -> None:
    import torch

    from jobs.common.train import WorkerSession

    sess = WorkerSession(cfg, torch.nn.Linear(4, 1), lambda p: torch.optim.SGD(p, lr=0.1))
    for epoch in range(sess.start_epoch, sess.train.epochs):
        sess.report({"loss": 1.0 / (epoch + 1)}, epoch)


def measure(poll_s: float, quick: bool) -> dict:
    """In this process: start a local Ray with the poll interval, time the three workloads."""
    from jobs.common.config import RuntimeConfig, TrainConfig
    from jobs.common.runtime import init_ray, shutdown
    from jobs.common.train import fit_torch

    os.environ["RAY_TRAIN_HEALTH_CHECK_INTERVAL_S"] = f"{poll_s:g}"
    init_ray(RuntimeConfig(num_cpus=2, object_store_gb=1.0, dashboard=False))
    out: dict = {"load_start": os.getloadavg()[0]}
    work = Path(tempfile.mkdtemp(prefix="bench-train-overhead-"))
    empty = []
    for i in range(1 if quick else 3):
        t0 = time.perf_counter()
        fit_torch(_empty_loop, {}, TrainConfig(epochs=1, resume=False), work, f"empty{i}")
        empty.append(time.perf_counter() - t0)
    out["empty_fit_s"] = statistics.median(empty)
    epochs = 5 if quick else REPORTS
    t0 = time.perf_counter()
    fit_torch(_report_loop, {}, TrainConfig(epochs=epochs, checkpoint_every=1, resume=False), work, "reports")
    out["reports_s"] = time.perf_counter() - t0
    out["per_report_s"] = (out["reports_s"] - out["empty_fit_s"]) / epochs
    from benchmarks.tiger import ray_overhead

    ov = ray_overhead(steps_epochs=1 if quick else 2, users=200 if quick else 1000)
    out.update(tiger_plain_s=ov["plain_s"], tiger_ray_s=ov["ray_total_s"])
    out["tiger_ratio"] = ov["ray_total_s"] / ov["plain_s"]
    out["tiger_input_share"] = ov["input_share"]
    out["load_end"] = os.getloadavg()[0]
    shutdown()
    return out


def bench(quick: bool) -> str:
    results = {}
    for label, poll in POLLS.items():
        cmd = [sys.executable, "-m", "benchmarks.train_overhead", "--poll", str(poll)] + (["--quick"] if quick else [])
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        env.pop("RAY_ADDRESS", None)
        p = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
        if p.returncode != 0 or not lines:
            raise RuntimeError(f"train_overhead at poll {poll} s failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
        results[label] = {"poll": poll, **json.loads(lines[-1][len("RESULT ") :])}
    return render(results, quick)


def render(results: dict, quick: bool) -> str:
    lines = [
        "## Ray Train overhead: the controller's poll",
        "",
        "Ray Train V2's controller reads its workers' reports by polling them every "
        "`RAY_TRAIN_HEALTH_CHECK_INTERVAL_S` (Ray's default 2 s), and a worker holds one unread report at a time: "
        "each report after the first waits for a poll, and so does the end of every run. Our runs set it to "
        "`runtime.train_poll_s` (0.2 s; 0.5 s in `cluster/runtime_env.yaml`). Each row ran in a fresh process with "
        "its own 2-CPU embedded Ray, the two rows one after the other. Command: "
        "`genrec bench --set sections=[train_overhead]`.",
        "",
        "| poll | poll s | empty fit s | checkpointed report s | tiger: Ray total s | tiger: plain loop s | "
        "tiger Ray / plain | tiger input share % | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, r in results.items():
        lines.append(
            f"| {label} | {r['poll']:g} | {r['empty_fit_s']:.1f} | {r['per_report_s']:.2f} | {r['tiger_ray_s']:.1f} | "
            f"{r['tiger_plain_s']:.1f} | **{r['tiger_ratio']:.2f}** | {100 * r['tiger_input_share']:.1f} | "
            f"{r['load_start']:.1f}-{r['load_end']:.1f} |"
        )
    lines += [
        "",
        "- empty fit: a 1-worker `fit_torch` whose loop reports once (Ray Train start-up, one report, shutdown); "
        "median of 3.",
        f"- checkpointed report: {REPORTS} epochs of a 4→1 linear model, a checkpoint each epoch, (run − empty "
        "fit) / epochs.",
        "- tiger: `benchmarks.tiger.ray_overhead` (the tiger job on synthetic chains, 2+2-layer d_model-64 T5, "
        "2 epochs, 1 worker, `fit_s`) against the same model, data and optimiser in a plain loop in the same process.",
        "- tiger input share: the part of the training epochs the worker spent waiting for its next batch "
        "(collation in the DataLoader, the copy to the device), the job's `input_share` metric; goal ≤ 5 %.",
    ]
    if quick:
        lines.append("\n(quick sizes: not the figures to quote)")
    return "\n".join(lines) + "\n"


def figures(md: str) -> dict:
    """train_overhead/<ray_default|ours>/{poll_s, empty_fit_s, per_report_s, tiger_ray_over_plain, tiger_ray_s,
    tiger_input_share_pct}."""
    out: dict = {}
    for t in md_tables(md):
        for r in t["rows"]:
            if "poll" not in r:
                continue
            who = "ray_default" if r["poll"].startswith("Ray") else "ours"
            put(out, f"train_overhead/{who}/poll_s", num(r["poll s"]))
            put(out, f"train_overhead/{who}/empty_fit_s", num(r["empty fit s"]))
            put(out, f"train_overhead/{who}/per_report_s", num(r["checkpointed report s"]))
            put(out, f"train_overhead/{who}/tiger_ray_over_plain", num(r["tiger Ray / plain"]))
            put(out, f"train_overhead/{who}/tiger_ray_s", num(r["tiger: Ray total s"]))
            put(out, f"train_overhead/{who}/tiger_input_share_pct", num(r.get("tiger input share %", "")))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="one poll setting of the train_overhead bench section (internal)")
    ap.add_argument("--poll", type=float, required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    print("RESULT " + json.dumps(measure(a.poll, a.quick)), flush=True)
