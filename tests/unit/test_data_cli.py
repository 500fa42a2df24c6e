"""`genrec data` sub-commands via typer's CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from jobs.cli.data import data_app

runner = CliRunner()


def test_stats_json_beauty(data_dir, mirror):
    res = runner.invoke(data_app, ["stats", "beauty", "--json", "--data-dir", str(data_dir), "--from", str(mirror)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == '{"users": 22363, "items": 12101, "interactions": 198502}'


def test_stats_human_readable(data_dir, mirror):
    res = runner.invoke(data_app, ["stats", "ml-latest-small", "--data-dir", str(data_dir), "--from", str(mirror)])
    assert res.exit_code == 0, res.output
    assert "100,836" in res.stdout and "catalog items  9,742" in res.stdout and "GroupLens" in res.stdout


def test_list_json(data_dir, mirror):
    res = runner.invoke(data_app, ["list", "--json", "--data-dir", str(data_dir), "--from", str(mirror)])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in json.loads(res.stdout)}
    assert rows["sports"]["download_only"] and not rows["sports"]["in_mirror"]
    assert rows["ml-100k"]["in_mirror"]


def test_pull_from_mirror_and_env_data_dir(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("GENREC_DATA_DIR", str(tmp_path / "env-dir"))
    res = runner.invoke(data_app, ["pull", "ml-100k", "--from", str(mirror)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "env-dir" / "ml-100k" / "interactions.parquet").is_file()
    assert '"interactions": 100000' in res.stdout


def test_errors_exit_2_without_traceback(tmp_path, mirror):
    res = runner.invoke(data_app, ["pull", "no-such-set", "--data-dir", str(tmp_path)])
    assert res.exit_code == 2 and "unknown dataset 'no-such-set'" in res.stderr and "Traceback" not in res.output
    res = runner.invoke(data_app, ["pull", "sports", "--from", str(mirror), "--data-dir", str(tmp_path)])
    assert res.exit_code == 2 and "not found in mirror" in res.stderr
