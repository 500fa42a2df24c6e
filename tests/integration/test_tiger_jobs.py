"""The tiger / sasrec / evaluate jobs end to end on local Ray with their smoke presets (synthetic chains)."""

import contextlib
import io
import json
import sys

import pytest

from jobs.common.job import UserFacingError, run_job

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def tiger_run(ray_local, tmp_path_factory):
    from jobs.tiger import JOB

    out = tmp_path_factory.mktemp("tiger")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):  # the driver's per-epoch lines go to stdout
        res = run_job(JOB, preset="smoke", out_dir=out)
    sys.stdout.write(printed.getvalue())
    return out, res, printed.getvalue()


def test_tiger_smoke_learns_and_beats_most_popular(tiger_run):
    out, res, printed = tiger_run
    m = res.metrics
    assert m["test/recall@10"] > m["most_popular/test/recall@10"] + 0.2
    assert m["invalid_ids_constrained"] == 0
    assert m["decode/constrained/invalid_share"] == 0
    # The newest checkpoint's history has every epoch (older checkpoints' files hold a prefix of it).
    hist = max((json.loads(f.read_text()) for f in (out / "train").rglob("history.json")), key=len)
    assert hist[-1]["loss"] < hist[0]["loss"]
    # A user watching the run sees one line per epoch, printed by the driver from Ray Train's reports.
    lines = [ln for ln in printed.splitlines() if ln.startswith("[tiger] epoch ") and "  step " not in ln]
    planned = json.loads((out / "config.json").read_text())["train"]["epochs"]  # early stopping may end it sooner
    assert [ln.split()[2] for ln in lines] == [f"{e}/{planned}" for e in range(1, len(hist) + 1)]
    assert all("loss " in ln and "s/epoch" in ln and "ETA" in ln for ln in lines)
    assert (out / "model" / "state.pt").exists() and (out / "report.md").read_text().count("TIGER") >= 2
    # The input pipeline's share of the epochs is measured per epoch and summarised (a share, not a constant).
    assert all(0 < h["input_share"] < 1 for h in hist) and 0 < m["input_share"] < 1
    assert "the input pipeline took" in (out / "report.md").read_text()


def test_evaluate_job_reproduces_the_saved_model(tiger_run, tmp_path):
    from jobs.evaluate import JOB

    out, res, _ = tiger_run
    ev = run_job(JOB, preset="smoke", overrides=[f"checkpoint={out}", "beams=10"], out_dir=tmp_path)
    assert ev.metrics["test/recall@10"] == pytest.approx(res.metrics["test/recall@10"])
    assert ev.metrics["invalid_share"] == 0


@pytest.mark.slow  # resume is in the default run through test_train_harness (DDP resume)
def test_tiger_resumes_from_its_run_dir(tiger_run):
    from jobs.tiger import JOB

    out, res, _ = tiger_run
    again = run_job(JOB, preset="smoke", out_dir=out)  # all epochs done: restored, nothing retrained
    assert again.metrics["epochs_trained"] == res.metrics["epochs_trained"]
    assert again.metrics["test/recall@10"] == pytest.approx(res.metrics["test/recall@10"])


def test_evaluate_without_checkpoint_is_a_clear_error(ray_local, tmp_path):
    from jobs.evaluate import JOB

    with pytest.raises(UserFacingError, match="checkpoint"):
        run_job(JOB, preset="smoke", out_dir=tmp_path)


def test_missing_codes_file_names_it(ray_local, tmp_path):
    from jobs.tiger import JOB

    with pytest.raises(UserFacingError, match="nope.parquet"):
        run_job(JOB, preset="smoke", overrides=[f"codes={tmp_path}/nope.parquet"], out_dir=tmp_path)


# both slow: each loss learns in tests/unit/test_sasrec.py, and the SASRec job path runs by default in
# tests/integration/test_tracking_runs.py
@pytest.mark.parametrize(
    "loss", [pytest.param("bce", marks=pytest.mark.slow), pytest.param("ce", marks=pytest.mark.slow)]
)
def test_sasrec_smoke_beats_most_popular(ray_local, tmp_path, loss):
    from jobs.sasrec import JOB

    res = run_job(JOB, preset="smoke", overrides=[f"loss={loss}"], out_dir=tmp_path)
    assert res.metrics["test/recall@10"] > res.metrics["most_popular/test/recall@10"] + 0.2


@pytest.mark.slow
def test_tiger_makes_kmeans_codes_through_the_embedding_stage(ray_local, mirror, data_dir, tmp_path):
    """No codes given: item text goes through the shared Ray Data embedding stage, then residual k-means."""
    from jobs.tiger import JOB

    res = run_job(
        JOB,
        preset="smoke",
        out_dir=tmp_path,
        overrides=[
            f"data_dir={data_dir}",
            f"mirror={mirror}",
            "dataset=ml-100k",
            "train.epochs=1",
            "eval.test_users=100",
            "eval.compare_users=0",
            "kmeans_levels=2",
            "kmeans_codebook=16",
            "embed.cpus_per_actor=0.5",
        ],
    )
    assert (tmp_path / "codes" / "codes.parquet").exists()
    assert any((tmp_path / "codes" / "embeddings").glob("parts-*/part-*.parquet"))
    assert res.metrics["invalid_ids_constrained"] == 0


@pytest.mark.slow  # the hand-over itself is unit-tested in test_demo_handoff
def test_tiger_given_codes_never_embeds(ray_local, tmp_path):
    """A codes table given by path is used as is: no embedding stage, no codes made in the run dir."""
    import numpy as np

    from jobs.common.sequential import load_sequential
    from jobs.tiger import JOB
    from rec_core.semantic_ids.rqkmeans import residual_kmeans_codes

    cfg = JOB.resolve("smoke")
    split, feats = load_sequential("synthetic", None, cfg.max_history, cfg.synthetic, cfg.seed)
    residual_kmeans_codes(split.item_ids, feats, levels=2, codebook_size=8, seed=1).save(tmp_path / "given")
    res = run_job(
        JOB,
        preset="smoke",
        out_dir=tmp_path / "run",
        overrides=[f"codes={tmp_path / 'given' / 'codes.parquet'}", "train.epochs=1", "eval.compare_users=0"],
    )
    assert not (tmp_path / "run" / "codes").exists() and not list((tmp_path / "run").rglob("embeddings"))
    assert res.metrics["invalid_ids_constrained"] == 0 and np.isfinite(res.metrics["test/recall@10"])


@pytest.mark.slow
def test_tiger_two_ddp_workers_and_deepspeed(ray_local, tmp_path):
    from jobs.tiger import JOB

    ddp = run_job(
        JOB, preset="smoke", out_dir=tmp_path / "ddp", overrides=["train.num_workers=2", "train.cpus_per_worker=1"]
    )
    assert ddp.metrics["test/recall@10"] > ddp.metrics["most_popular/test/recall@10"] + 0.2
    ds = run_job(JOB, preset="smoke", out_dir=tmp_path / "ds", overrides=["train.deepspeed=true", "train.zero_stage=2"])
    assert ds.metrics["test/recall@10"] > ds.metrics["most_popular/test/recall@10"] + 0.2
