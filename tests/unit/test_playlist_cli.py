"""`genrec playlist`: one-shot, --json, and the interactive REPL driven through a pseudo-terminal."""

import json
import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from tests.unit.test_playlist_model import tiny_export, train_tiny

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tiny_export(
        tmp_path_factory.mktemp("pl"), train_tiny(steps=2)
    )  # the CLI needs a loadable model, not a good one


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TERM": "dumb"}


def _cli(*args, stdin=None):
    """In-process through typer's runner (stdin is not a terminal there: the script mode)."""
    from typer.testing import CliRunner

    from jobs.cli.playlist import app

    return CliRunner().invoke(app, list(args), input=stdin)


def test_one_shot_json_and_plain(export_dir):
    r = _cli(
        "--checkpoint",
        export_dir,
        "--json",
        "--length",
        "4",
        "--mode",
        "sample",
        "--temperature",
        "0.8",
        "--seed",
        "3",
        "happy comedy",
    )
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert obj["text"] == "happy comedy" and obj["mode"] == "sample"
    assert [x["rank"] for x in obj["items"]] == [1, 2, 3, 4]
    assert len({x["item_id"] for x in obj["items"]}) == 4
    r = _cli("--checkpoint", export_dir, "--length", "3", "space adventure")
    assert r.stdout.splitlines()[0].startswith('Playlist for "space adventure" (beam, 3 items')
    # non-interactive stdin: one list per line (blank lines skipped), JSON Lines
    r = _cli("--checkpoint", export_dir, "--json", "--length", "3", stdin="sad drama\n\nspace adventure\n")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["text"] for x in lines] == ["sad drama", "space adventure"]


def test_keyword_fusion_steers_the_list_and_needs_the_training_lists(export_dir, tmp_path):
    from tests.unit.test_playlist_model import POOLS

    # an all-but-untrained model: a heavy keyword prior makes the list the items of the lists under those words
    r = _cli("--checkpoint", export_dir, "--json", "--length", "3", "--keyword-fusion", "100", "happy comedy")
    assert r.exit_code == 0, r.output
    assert {x["item_id"] for x in json.loads(r.stdout)["items"]} <= set(POOLS["happy comedy"])
    bare = tiny_export(tmp_path, train_tiny(steps=2), with_lists=False)
    r = _cli("--checkpoint", bare, "--keyword-fusion", "5", "happy comedy")
    assert r.exit_code == 2 and "has no candidates.parquet" in r.output
    assert _cli("--checkpoint", bare, "--length", "3", "happy comedy").exit_code == 0  # the T5 alone still works


def test_clear_errors(export_dir, tmp_path):
    r = _cli("--checkpoint", str(tmp_path), "x")
    assert r.exit_code == 2 and "no trained playlist model" in r.output
    r = _cli("--checkpoint", export_dir, "--length", "99", "x")
    assert r.exit_code == 2 and "exceeds the 32 items" in r.output


def _read_until(fd, needle: bytes, timeout: float = 240.0) -> bytes:
    buf, end = b"", time.time() + timeout
    while needle not in buf:
        left = end - time.time()
        if left <= 0:
            raise AssertionError(f"timed out waiting for {needle!r}; got {buf[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def test_repl_through_pty(export_dir):
    pid, fd = pty.fork()
    if pid == 0:  # child: the CLI with the pty as its terminal
        os.chdir(ROOT)
        os.execve(
            sys.executable,
            [
                sys.executable,
                "-m",
                "jobs.cli.playlist",
                "--checkpoint",
                export_dir,
                "--length",
                "5",
                "--num-beams",
                "3",
            ],
            _env(),
        )
    try:
        _read_until(fd, b"playlist> ")
        os.write(fd, b"scary horror night\n")
        out = _read_until(fd, b"playlist> ").decode()
        assert 'Playlist for "scary horror night"' in out
        numbered = [ln.strip() for ln in out.splitlines() if ln.strip()[:2].rstrip(".").isdigit()]
        assert [ln.split(".")[0] for ln in numbered] == ["1", "2", "3", "4", "5"]
        assert all("Movie " in ln for ln in numbered)
        os.write(fd, b"\x04")  # Ctrl-D ends the REPL
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    finally:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
