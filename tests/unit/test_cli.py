"""The genrec CLI: listing, clear errors, exit codes."""

import pytest
from typer.testing import CliRunner

from jobs.cli.main import app

runner = CliRunner()


def test_list_shows_demo():
    r = runner.invoke(app, ["list"])
    assert r.exit_code == 0, r.output
    assert "demo" in r.output


def test_unknown_key_fails_with_message(tmp_path):
    r = runner.invoke(app, ["run", "demo", "--preset", "smoke", "--set", "no_such_key=1", "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "no_such_key: unknown key" in r.output


def test_unknown_job_and_preset(tmp_path):
    r = runner.invoke(app, ["run", "nope"])
    assert r.exit_code == 2 and "no job named 'nope'" in r.output
    r = runner.invoke(app, ["run", "demo", "--preset", "huge", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "has no preset 'huge'" in r.output


def test_help_explains():
    r = runner.invoke(app, ["run", "--help"])
    assert r.exit_code == 0 and "--set" in r.output and "smoke" in r.output


def test_bench_is_a_command_not_a_job(tmp_path, monkeypatch):
    r = runner.invoke(app, ["bench", "--help"])
    assert r.exit_code == 0 and "--assemble-only" in r.output
    assert "bench" not in runner.invoke(app, ["list"]).output.split()
    import rec_core.paths

    monkeypatch.setattr(rec_core.paths, "REPO_ROOT", tmp_path)  # an installed package: no benchmarks/ beside it
    r = runner.invoke(app, ["bench", "--assemble-only"])
    assert r.exit_code == 2 and "no benchmarks/ folder" in r.output


def test_cli_package_is_not_a_job():
    from jobs.common.registry import job_names

    names = job_names()
    assert "cli" not in names and "common" not in names and "demo" in names


def test_config_command_lists_every_key_with_type_value_and_description():
    r = runner.invoke(app, ["config", "tiger", "--preset", "smoke"])
    assert r.exit_code == 0
    line = next(ln for ln in r.output.splitlines() if ln.startswith("train.epochs "))
    assert "int" in line and "= 12" in line  # the smoke preset's value, not the default 20
    assert any(ln.startswith("train.lr ") and "float" in ln for ln in r.output.splitlines())
    assert "Ray Train workers (DDP ranks)" in r.output  # descriptions come from the pydantic fields
    assert runner.invoke(app, ["config", "tiger", "--set", "train.lr=abc"]).exit_code == 2


def test_run_job_help_lists_the_jobs_keys(monkeypatch, capsys):
    from jobs.cli import main as cli_main

    monkeypatch.setattr("sys.argv", ["genrec", "run", "sasrec", "--help"])
    cli_main.main()
    out = capsys.readouterr().out
    assert "--preset" in out and "Config keys of job 'sasrec'" in out and "\nloss " in out
    monkeypatch.setattr("sys.argv", ["genrec", "run", "--help"])  # no job named: plain help, no keys
    with pytest.raises(SystemExit):
        cli_main.main()
    assert "Config keys" not in capsys.readouterr().out


def test_list_reads_the_jobs_without_importing_them():
    """`genrec list` must stay fast: it reads each JOB = Job(...) from source, and says what importing it would."""
    import subprocess
    import sys

    code = (
        "import sys; from typer.testing import CliRunner; from jobs.cli.main import app; "
        "r = CliRunner().invoke(app, ['list']); assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in sys.modules if m.startswith('jobs.') and m.count('.') == 1))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['jobs.cli', 'jobs.common']"
    from jobs.common.registry import all_jobs, job_cards

    assert {(c.name, c.summary, c.in_demo, c.presets) for c in job_cards()} == {
        (j.name, j.summary, j.in_demo, tuple(j.presets())) for j in all_jobs()
    }


def test_run_prints_the_report_and_json_only_when_asked(tmp_path, monkeypatch):
    from jobs.cli import main as cli_main
    from jobs.common.job import JobResult

    def fake_run_job(job, preset, config_file, overrides, out_dir):
        (out_dir / "report.md").parent.mkdir(parents=True, exist_ok=True)
        (out_dir / "report.md").write_text("| model | R@10 |\n|---|---:|\n| TIGER | 0.1 |\n")
        return JobResult(metrics={"test/recall@10": 0.1})

    monkeypatch.setattr(cli_main, "run_job", fake_run_job)
    r = runner.invoke(app, ["run", "tiger", "--out", str(tmp_path)])
    assert r.exit_code == 0 and "| TIGER | 0.1 |" in r.output and '"test/recall@10"' not in r.output
    r = runner.invoke(app, ["run", "tiger", "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0 and '"test/recall@10": 0.1' in r.output and "| TIGER |" not in r.output


def test_tune_resume_needs_the_experiment_dir_and_finds_nothing_in_an_empty_one(tmp_path):
    r = runner.invoke(app, ["tune", "tiger", "--resume"])
    assert r.exit_code == 2 and "--resume needs --out" in r.output
    import pytest

    from jobs.common.job import UserFacingError
    from jobs.common.tune import _experiment_to_resume

    with pytest.raises(UserFacingError, match="nothing to resume"):
        _experiment_to_resume("tiger", tmp_path, str(tmp_path), None)


def test_interrupted_tune_says_so_and_how_to_continue(tmp_path, monkeypatch):
    from pathlib import Path

    from jobs.common import tune as tune_mod

    assert tune_mod.planned_trials({"a": {"grid_search": [1, 2, 3]}, "b": 0.1}, 2) == 6

    def fake(job, preset, sets, samples, out_dir, max_concurrent, resume):
        return tune_mod.TuneSummary(
            {"train.lr": 0.1}, {"valid/x": 0.5}, 3, "valid/x", "max", Path(out_dir), interrupted=True,
            unstarted_trials=5, planned_trials=8,
        )  # fmt: skip

    monkeypatch.setattr(tune_mod, "tune_job", fake)
    r = runner.invoke(app, ["tune", "ncf", "--set", "dataset=ml-100k", "--out", str(tmp_path)])
    assert r.exit_code == 3, r.output  # a script must not take the best-so-far for a finished search
    assert '"interrupted": true' in r.output and "interrupted after 3 of 8 trials started" in r.output
    assert f"genrec tune ncf --preset cpu --set dataset=ml-100k --out {tmp_path} --resume" in r.output


def test_fit_notes_an_interrupt_by_the_sigint_handler_tune_puts_back(monkeypatch):
    import signal

    from jobs.common import tune as tune_mod

    class Tuner:  # what Ray Tune's fit does with SIGINT: installs its handler, and puts the old one back if it fires
        def __init__(self, fire):
            self.fire = fire

        def fit(self):
            before = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, lambda *a: None)
            if self.fire:
                signal.signal(signal.SIGINT, before)
            return "grid"

    before = signal.getsignal(signal.SIGINT)
    assert tune_mod._fit_noting_interrupt(Tuner(fire=False)) == ("grid", False)
    assert tune_mod._fit_noting_interrupt(Tuner(fire=True)) == ("grid", True)
    assert signal.getsignal(signal.SIGINT) is before  # and the caller's handler is back either way
