"""Every job's `smoke` preset on one embedded Ray, its metrics recorded without timings: the check that a
refactor changed no behaviour (same seeds, same numbers). Not a BENCHMARKS.md section.

    python -m benchmarks.smoke_equivalence before.json                      # record (e.g. on the old commit)
    python -m benchmarks.smoke_equivalence after.json --compare before.json  # record and compare; exit 1 on a change
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

JOBS = ["semantic_ids", "tiger", "sasrec", "playlist", "rater", "ncf", "rag_index", "rag_sentiment"]
# Keys that measure time (or derive from it), which no two runs share.
TIMING = (
    "_s",
    "time",
    "latency",
    "per_s",
    "seconds",
    "wall",
    "first_encode",
    "encoding_window",
    "startup",
    "throughput",
    "actor",
)


def is_timing(key: str) -> bool:
    return any(t in key.lower() for t in TIMING)


def record(out: Path) -> dict:
    from jobs.common import runtime

    try:
        from jobs.common.config import RuntimeConfig
    except ImportError:  # a tree from before the move (recording the "before" side)
        from rec_core.config import RuntimeConfig
    from jobs.common.job import run_job
    from jobs.common.registry import get_job

    runtime.init_ray(RuntimeConfig(num_cpus=2, object_store_gb=1.0))
    root = Path(tempfile.mkdtemp(prefix="smoke-"))
    res = {}
    for name in JOBS:
        try:
            m = run_job(get_job(name), preset="smoke", out_dir=root / name, init_runtime=False).metrics
            res[name] = {k: v for k, v in m.items() if not is_timing(k)}
        except Exception as e:  # noqa: BLE001 - a failed job is recorded as such and compared like a metric
            res[name] = {"error": f"{type(e).__name__}: {e}"}
        print(f"{name}: {len(res[name])} metrics", flush=True)
    out.write_text(json.dumps(res, indent=1, sort_keys=True) + "\n")
    return res


def compare(before: dict, after: dict) -> tuple[str, int]:
    """-> (a Markdown table job | metrics | equal | differ, then each differing key), number of differences."""
    lines, bad = ["| job | metrics compared | equal | differ |", "|---|---:|---:|---:|"], []
    for job in sorted(set(before) | set(after)):
        a, b = before.get(job, {}), after.get(job, {})
        keys = sorted(set(a) | set(b))
        diff = [k for k in keys if a.get(k) != b.get(k)]
        lines.append(f"| {job} | {len(keys)} | {len(keys) - len(diff)} | {len(diff)} |")
        bad += [f"- {job}/{k}: {a.get(k)} -> {b.get(k)}" for k in diff]
    return "\n".join(lines + ([""] + bad if bad else [])), len(bad)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="where to write this run's metrics (JSON)")
    p.add_argument("--compare", type=Path, help="an earlier recording to compare with")
    a = p.parse_args()
    after = record(a.out)
    if a.compare:
        table, bad = compare(json.loads(a.compare.read_text()), after)
        print(table)
        raise SystemExit(1 if bad else 0)


if __name__ == "__main__":
    main()
