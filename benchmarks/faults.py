"""Fault injection: what was killed, whether the run survived it, the epochs it lost and its final metric against an
uninterrupted run of the same seed.

The figures are the fault tests' own measurements: this section runs them (pytest, in a subprocess, slow ones
included) with GENREC_FAULTS_RECORD set, and each test appends what it measured (tests/integration/multinode.py
`record_fault`). One set of code kills things; the table cannot drift from what CI checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.results_io import md_tables, num, put
from rec_core.paths import REPO_ROOT

# scenario -> (what is killed, how, the test that does it)
SCENARIOS = {
    "train_worker_process": (
        "Ray Train worker process",
        "`os._exit(1)` in the worker at epoch 3; checkpoint every 2 epochs, `train.max_failures=2`",
        "tests/integration/test_train_harness.py::test_a_dead_worker_is_restarted_and_resumes_from_the_newest_checkpoint",
    ),
    "worker_node": (
        "worker node (spot preemption)",
        "SIGKILL of every process of the node running the Ray Train worker (raylet, agents, worker), after 3 "
        "epochs; head + 2 worker nodes on 127.0.0.1, job sent with `genrec submit`; checkpoint every epoch",
        "tests/integration/test_multinode.py::test_a_preempted_worker_node_costs_at_most_one_checkpoint_interval",
    ),
    "embed_actor": (
        "Ray Data embedding actor",
        "`os._exit(1)` in the encoder actor on its 3rd batch (60 items, 8 per part); `embed.actor_restarts=2`",
        "tests/integration/test_embed.py::test_a_killed_actor_is_restarted_and_its_batch_retried",
    ),
    "tune_driver": (
        "`genrec tune` driver (and its embedded Ray)",
        "SIGKILL of the driver's process group once Tune's state records a finished trial; then `--resume`",
        "tests/integration/test_tune_resume.py::test_resume_continues_an_experiment_whose_driver_died",
    ),
    "s3_fresh_driver": (
        "driver, Ray and local disk (run continued elsewhere)",
        "3 epochs into `s3://` (moto server); the run continued to 6 by a new driver on a fresh Ray from an empty dir",
        "tests/integration/test_storage.py::test_a_run_resumes_from_the_bucket_on_a_fresh_ray_with_an_empty_disk",
    ),
}
COLUMNS = [
    ("survived", "survived"),
    ("epochs lost", "epochs_lost"),
    ("metric diff vs uninterrupted", "metric_diff"),
    ("duplicates / missing items", None),
    ("finished trials re-run", "finished_trials_rerun"),
    ("test s", "seconds"),
]


def _cell(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and v != int(v):
        return f"{v:.1e}" if abs(v) < 1e-3 else f"{v:.4f}"
    return str(int(v))


def render(records: dict[str, dict]) -> str:
    lines = [
        "## Fault injection",
        "",
        'Each row is one fault test, run by this section (`python -m pytest -m "" <test>` reruns one): what it kills, '
        "and what the "
        "run did about it. *epochs lost*: epochs whose finished work was thrown away and redone; *metric diff*: the "
        "absolute difference of the final metric (loss for the harness, test NDCG@10 for SASRec) against the same run "
        "uninterrupted, same seed (checkpoints carry model, optimizer and RNG state, so deterministic CPU training "
        "matches exactly). A failing test leaves its row with survived 0.",
        "",
        "| scenario | what was killed | how | " + " | ".join(c for c, _ in COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for name, (what, how, _) in SCENARIOS.items():
        r = records.get(name, {"survived": 0})
        dup_missing = (
            f"{_cell(r['duplicates'])} / {_cell(r['missing'])}" if "duplicates" in r and "missing" in r else "—"
        )
        cells = [dup_missing if key is None else _cell(r.get(key)) for _, key in COLUMNS]
        lines.append(f"| {name} | {what} | {how} | " + " | ".join(cells) + " |")
    lines += ["", "Tests: " + "; ".join(f"`{t}`" for _, _, t in SCENARIOS.values())]
    return "\n".join(lines)


def figures(md: str) -> dict:
    out: dict = {}
    rows = next(t["rows"] for t in md_tables(md) if "scenario" in t["rows"][0])
    for row in rows:
        s = row["scenario"]
        for col, key in COLUMNS:
            cell = row.get(col, "")
            if key is None:
                parts = [num(x) for x in cell.split("/")] if "/" in cell else []
                if len(parts) == 2:
                    put(out, f"{s}/duplicates", parts[0])
                    put(out, f"{s}/missing", parts[1])
            else:
                put(out, f"{s}/{key}", num(cell))
    return out


def run_tests(only: list[str] | None = None, timeout_s: float = 1800) -> dict[str, dict]:
    """Run the fault tests (slow ones included) and return {scenario: figures} from their records."""
    names = only or list(SCENARIOS)
    with tempfile.TemporaryDirectory() as d:
        rec = Path(d) / "faults.jsonl"
        env = dict(os.environ, GENREC_FAULTS_RECORD=str(rec), PYTHONPATH=str(REPO_ROOT))
        env.pop("RAY_ADDRESS", None)
        seconds: dict[str, float] = {}
        for name in names:
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "", SCENARIOS[name][2]],
                cwd=REPO_ROOT,
                env=env,
                timeout=timeout_s,
                check=False,
            )
            seconds[name] = time.perf_counter() - t0
        records: dict[str, dict] = {}
        if rec.exists():
            for line in rec.read_text().splitlines():
                r = json.loads(line)
                records[r.pop("scenario")] = r
    for name, s in seconds.items():
        if name in records:
            records[name]["seconds"] = round(s)
    return records


def bench(quick: bool = False) -> str:
    return render(run_tests())
