"""`genrec export` on real (smoke) runs: a trained TIGER, exported to a Hugging Face T5 dir + semantic-ID table,
decodes in a fresh Python process (nothing of this one, no run dir) to exactly the items the run's own saved model
gives; a trained SASRec's safetensors export scores exactly as the saved model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from jobs.cli.main import app
from jobs.common.job import run_job

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[2]


def export_size(d: Path) -> dict:
    files = [f for f in Path(d).rglob("*") if f.is_file()]
    return {"files": len(files), "export_mb": round(sum(f.stat().st_size for f in files) / 2**20, 3)}


def record(model: str, **figures: float) -> None:
    """What a round trip measured, appended as a JSON line to $GENREC_EXPORT_RECORD when set (benchmarks/export.py
    runs these tests and tabulates the lines)."""
    path = os.environ.get("GENREC_EXPORT_RECORD")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"model": model, **figures}) + "\n")


# Run in a fresh interpreter: the few lines README shows, plus the logits of the first decoding step.
FRESH = """
import json, sys
import torch
from rec_core.export import load_tiger
args = json.loads(sys.stdin.read())
t = load_tiger(args["dir"], num_beams=10)
top = t.recommend(args["users"], args["hists"], 10)
from rec_core.generative.data import encode_inputs
ids, mask = encode_inputs(t.vocab, t.item_tokens, args["users"], args["hists"], t.max_history)
with torch.no_grad():
    start = torch.zeros((len(ids), 1), dtype=torch.long)
    logits = t.model(input_ids=ids, attention_mask=mask, decoder_input_ids=start).logits
print(json.dumps({"top": top, "logits": logits[:, -1].tolist()}))
"""


@pytest.mark.slow
def test_tiger_export_decodes_like_the_run_in_a_fresh_process(ray_local, tmp_path):
    import torch

    from jobs.tiger import JOB
    from rec_core.generative.bundle import load_bundle
    from rec_core.generative.data import encode_inputs
    from rec_core.generative.model import TigerModelConfig, build_tiger
    from rec_core.generative.ranker import GenerativeRanker
    from rec_core.semantic_ids.codes import SIDVocab

    run = tmp_path / "tiger"
    run_job(
        JOB,
        preset="smoke",
        out_dir=run,
        init_runtime=False,
        overrides=["train.epochs=4", "eval.compare_users=0", "eval.test_users=50"],
    )
    r = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "hf")])
    assert r.exit_code == 0, r.output
    assert "exported tiger" in r.output

    kind, meta, state, item_tokens = load_bundle(run)
    vocab = SIDVocab.from_dict(meta["vocab"])
    model = build_tiger(TigerModelConfig.model_validate(meta["model"]), vocab)
    model.load_state_dict(state)
    model.eval()
    rng = np.random.default_rng(0)
    users = list(range(40))
    hists = [rng.integers(0, len(item_tokens), int(rng.integers(1, 8))).tolist() for _ in users]
    want = GenerativeRanker(model, vocab, item_tokens, num_beams=10, max_history=meta["max_history"]).recommend(
        users, hists, 10
    )
    ids, mask = encode_inputs(vocab, item_tokens, users, hists, meta["max_history"])
    with torch.no_grad():
        ref = model(input_ids=ids, attention_mask=mask, decoder_input_ids=torch.zeros((len(ids), 1), dtype=torch.long))
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM")}
    env["PYTHONPATH"] = str(ROOT)
    p = subprocess.run(
        [sys.executable, "-c", FRESH],
        input=json.dumps({"dir": str(tmp_path / "hf"), "users": users, "hists": hists}),
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    same = sum(g == list(w)[:10] for g, w in zip(got["top"], want))
    diff = float(np.abs(np.asarray(got["logits"]) - ref.logits[:, -1].numpy()).max())
    print(f"export round trip: max |logit diff| {diff:.3g}, identical top-10 for {same}/{len(users)} users")
    record("tiger", users=len(users), identical_top10=same, max_abs_diff=diff, **export_size(tmp_path / "hf"))
    assert same == len(users)  # identical top-10 for every user
    assert diff < 1e-4


@pytest.mark.slow
def test_sasrec_export_scores_like_the_run(ray_local, tmp_path):
    from jobs.sasrec import JOB
    from rec_core.baselines.sasrec import SASRec, SASRecConfig
    from rec_core.export import load_sasrec
    from rec_core.generative.bundle import load_bundle

    run = tmp_path / "sasrec"
    run_job(JOB, preset="smoke", out_dir=run, init_runtime=False, overrides=["train.epochs=2", "eval.every=2"])
    r = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    _, meta, state, _ = load_bundle(run)
    model = SASRec(meta["num_items"], SASRecConfig.model_validate(meta["model"]))
    model.load_state_dict(state)
    hists = [[1, 2, 3], [5], list(range(10, 30))] + [
        [(7 * u + j) % 50 + 1 for j in range(u % 12 + 1)] for u in range(37)
    ]
    got, want = load_sasrec(tmp_path / "out").score(hists), model.score(hists)
    same = sum(
        list(np.argsort(-g, kind="stable")[:10]) == list(np.argsort(-w, kind="stable")[:10]) for g, w in zip(got, want)
    )
    record(
        "sasrec",
        users=len(hists),
        identical_top10=same,
        max_abs_diff=float(np.abs(got - want).max()),
        **export_size(tmp_path / "out"),
    )
    assert np.array_equal(got, want)
