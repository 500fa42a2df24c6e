"""Export round trip: a trained model written by `genrec export` and read back in the ecosystem's own way scores
and decodes exactly like the run's saved model.

The figures are the export tests' own measurements (tests/integration/test_export_runs.py): this section runs them
with GENREC_EXPORT_RECORD set and tabulates what each appended. TIGER is read back in a fresh Python process with
`T5ForConditionalGeneration.from_pretrained` (through `rec_core.export.load_tiger`, which adds the trie); SASRec from
`model.safetensors` + `config.json`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.results_io import md_tables, num, put
from rec_core.paths import REPO_ROOT

TESTS = {
    "tiger": (
        "HF T5 dir (safetensors) + semantic-ID table, decoded in a fresh process, trie-constrained beam search "
        "(10 beams); logits of the first decoding step",
        "tests/integration/test_export_runs.py::test_tiger_export_decodes_like_the_run_in_a_fresh_process",
    ),
    "sasrec": (
        "`model.safetensors` + `config.json`, full-catalogue scores",
        "tests/integration/test_export_runs.py::test_sasrec_export_scores_like_the_run",
    ),
}


COLUMNS = [
    ("users", "users"),
    ("identical top-10", "identical_top10"),
    ("max abs difference", "max_abs_diff"),
    ("files", "files"),
    ("MiB", "export_mb"),
]


def run_tests(timeout_s: float = 1200) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as d:
        rec = Path(d) / "export.jsonl"
        env = dict(os.environ, GENREC_EXPORT_RECORD=str(rec), PYTHONPATH=str(REPO_ROOT))
        env.pop("RAY_ADDRESS", None)
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "", *(t for _, t in TESTS.values())],
            cwd=REPO_ROOT,
            env=env,
            timeout=timeout_s,
            check=False,
        )
        lines = rec.read_text().splitlines() if rec.exists() else []
    return {r.pop("model"): r for r in map(json.loads, lines)}


def render(records: dict[str, dict]) -> str:
    lines = [
        "## Export round trip",
        "",
        "A smoke-trained model (TIGER 4 epochs, SASRec 2 epochs, synthetic data), exported with `genrec export RUN "
        "--out DIR` and read back without this project's run dirs, against the run's own saved model on the same "
        "users. A failing test leaves its row empty.",
        "",
        "| model | written and read back as | users | identical top-10 | max abs difference | files | MiB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, (how, _) in TESTS.items():
        r = records.get(name, {})
        diff = r.get("max_abs_diff")
        cells = [r.get("users"), r.get("identical_top10"), None if diff is None else f"{diff:.3g}", r.get("files")]
        cells.append(r.get("export_mb"))
        lines.append(f"| {name} | {how} | " + " | ".join("—" if c is None else str(c) for c in cells) + " |")
    lines += ["", "Tests: " + "; ".join(f"`{t}`" for _, t in TESTS.values())]
    return "\n".join(lines)


def figures(md: str) -> dict:
    out: dict = {}
    rows = next(t["rows"] for t in md_tables(md) if "model" in t["rows"][0])
    for row in rows:
        for col, key in COLUMNS:
            put(out, f"{row['model']}/{key}", num(row.get(col, "")))
    return out


def bench(quick: bool = False) -> str:
    return render(run_tests())
