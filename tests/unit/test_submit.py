"""`genrec submit`: the entrypoint it builds, the runtime env it ships, the errors it gives, and
(with ray[default] installed) a real submission to a local Ray head started by the test."""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.common.submit import (
    DEFAULT_RUNTIME_ENV,
    JobFailed,
    SubmitError,
    build_entrypoint,
    connect,
    entrypoint_job,
    follow,
    load_runtime_env,
    normalize_address,
    preflight_entrypoint,
    preflight_verdict,
    submit,
)
from rec_core.paths import REPO_ROOT

# Ray's JobSubmissionClient cannot even be constructed without aiohttp + requests (ray[default]);
# tests that drive the real client need them, the rest of this file does not.
needs_jobs_client = pytest.mark.skipif(
    importlib.util.find_spec("aiohttp") is None,
    reason="the Ray Jobs client needs ray[default] (aiohttp); pip install 'ray[default]'",
)

# ---------------------------------------------------------------------------------------------
# build_entrypoint


def test_build_entrypoint_plain():
    cmd = build_entrypoint("tiger", "gpu", ["train.epochs=5", "model.d_model=128"])
    assert cmd == "python -m jobs.tiger --preset gpu --set train.epochs=5 --set model.d_model=128"
    assert entrypoint_job(cmd) == "tiger"


def test_build_entrypoint_quotes_values_and_adds_options():
    cmd = build_entrypoint(
        "rag_index",
        "cpu",
        ['rag.prompt=Say "hi" to $USER; rm -rf /'],
        out="/mnt/runs/a b",
        allow_autoscale=True,
    )
    assert shlex.split(cmd) == [
        "python",
        "-m",
        "jobs.rag_index",
        "--preset",
        "cpu",
        "--set",
        'rag.prompt=Say "hi" to $USER; rm -rf /',
        "--set",
        "runtime.allow_autoscale=true",
        "--out",
        "/mnt/runs/a b",
    ]


@settings(max_examples=200, deadline=None)
@given(
    key=st.from_regex(r"[a-z_]{1,8}(\.[a-z_]{1,8}){0,2}", fullmatch=True),
    value=st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
)
def test_build_entrypoint_round_trips_any_value_through_the_shell(key, value):
    argv = shlex.split(build_entrypoint("ncf", "gpu", [f"{key}={value}"]))
    assert argv[-2:] == ["--set", f"{key}={value}"]


@pytest.mark.parametrize("job", ["", "../tiger", "tiger; rm -rf /", "jobs.tiger", "1abc", "a-b"])
def test_build_entrypoint_rejects_non_module_job_names(job):
    with pytest.raises(SubmitError, match="not a module name"):
        build_entrypoint(job, "gpu")


@pytest.mark.parametrize("item", ["epochs", "=3", "a..b=1"])
def test_build_entrypoint_rejects_malformed_sets(item):
    with pytest.raises(SubmitError):
        build_entrypoint("tiger", "gpu", [item])


def test_entrypoint_job_without_a_job_module():
    assert entrypoint_job('python -c "print(42)"') is None
    assert entrypoint_job("python -m jobs.demo --preset cpu") == "demo"


# ---------------------------------------------------------------------------------------------
# Addresses


@pytest.mark.parametrize(
    "given_, expected",
    [
        ("http://10.0.0.5:8265", "http://10.0.0.5:8265"),
        ("10.0.0.5", "http://10.0.0.5:8265"),
        ("head:9000", "http://head:9000"),
        ("http://head/", "http://head:8265"),
        ("https://ray.example.com/proxy/", "https://ray.example.com/proxy"),
    ],
)
def test_normalize_address(given_, expected, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert normalize_address(given_) == expected


def test_ray_client_address_is_explained(monkeypatch):
    with pytest.raises(SubmitError, match=r"Ray Client address.*http://head:8265"):
        normalize_address("ray://head:10001")


def test_missing_address_falls_back_to_env_then_errors(monkeypatch):
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_ADDRESS", "http://envhost:8265")
    assert normalize_address(None) == "http://envhost:8265"
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(SubmitError, match="no cluster address"):
        normalize_address("")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_missing_jobs_client_is_explained(monkeypatch):
    from ray.dashboard.modules.job import sdk

    monkeypatch.setattr(sdk, "aiohttp", None)
    with pytest.raises(SubmitError, match=r"pip install 'ray\[default\]'"):
        connect(f"127.0.0.1:{_free_port()}")


def test_unreachable_address_fails_fast_with_a_clear_message(monkeypatch):
    from jobs.common import submit as submit_mod

    # The reachability check comes before the client is built, so no client is needed here.
    monkeypatch.setattr(submit_mod, "_jobs_client", lambda: (None, RuntimeError))
    port = _free_port()  # nothing listens there once the socket is closed
    t0 = time.monotonic()
    with pytest.raises(SubmitError, match=rf"cannot reach the Ray Jobs API at http://127.0.0.1:{port}.*port-forward"):
        connect(f"127.0.0.1:{port}", connect_timeout_s=2)
    assert time.monotonic() - t0 < 10


class _FakeDashboard(http.server.BaseHTTPRequestHandler):
    """Just enough of a Ray dashboard to exercise the client's version check: a 404 for a
    dashboard without the job module, or a 401 unless the bearer token matches."""

    mode = "404"
    token = "s3cret"
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server API
        type(self).hits.append(self.headers.get("Authorization") or "")
        if self.mode == "404":
            self.send_response(404)
            body = b"not found"
        elif self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            body = b"Unauthorized: Missing authentication token"
        else:
            self.send_response(200)
            body = json.dumps({"ray_version": "2.60.0", "version": "4"}).encode()
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_dashboard():
    _FakeDashboard.hits = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeDashboard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@needs_jobs_client
def test_dashboard_without_jobs_api_is_explained(fake_dashboard, monkeypatch):
    monkeypatch.setattr(_FakeDashboard, "mode", "404")
    with pytest.raises(SubmitError, match=r"not a usable Ray Jobs API.*ray\[default\]"):
        connect(fake_dashboard)


@needs_jobs_client
def test_explicit_address_wins_over_ray_address_env(fake_dashboard, monkeypatch):
    """Ray's client would silently use RAY_ADDRESS instead of the address it is given."""
    monkeypatch.setattr(_FakeDashboard, "mode", "404")
    monkeypatch.setenv("RAY_ADDRESS", f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(SubmitError, match=fake_dashboard):
        connect(fake_dashboard)
    assert _FakeDashboard.hits, "the request must reach the explicit address"
    assert os.environ["RAY_ADDRESS"].startswith("http://127.0.0.1:")  # restored afterwards


@needs_jobs_client
def test_token_is_sent_only_after_the_cluster_asks(fake_dashboard, monkeypatch, tmp_path):
    # Ray's own client attaches the local token to every request once this process has run a local Ray
    # in token-auth mode (an earlier test may have); simulate a process where it has not, so what is
    # tested is our retry-on-401 logic alone.
    monkeypatch.setattr("ray.dashboard.modules.dashboard_sdk.get_auth_headers_if_auth_enabled", lambda headers: {})
    monkeypatch.setattr(_FakeDashboard, "mode", "auth")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "s3cret")
    client = connect(fake_dashboard)
    assert client is not None
    assert _FakeDashboard.hits[0] == "" and _FakeDashboard.hits[-1] == "Bearer s3cret"


@needs_jobs_client
def test_missing_token_is_explained(fake_dashboard, monkeypatch, tmp_path):
    monkeypatch.setattr(_FakeDashboard, "mode", "auth")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SubmitError, match="requires a Ray auth token"):
        connect(fake_dashboard)


@needs_jobs_client
def test_wrong_token_is_explained(fake_dashboard, monkeypatch):
    monkeypatch.setattr(_FakeDashboard, "mode", "auth")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "wrong")
    with pytest.raises(SubmitError, match="auth token"):
        connect(fake_dashboard)


def test_submit_validates_locally_before_contacting_the_cluster(tmp_path):
    port = _free_port()
    with pytest.raises(SubmitError, match="not a module name"):
        submit("no such job", f"127.0.0.1:{port}", "gpu")
    with pytest.raises(SubmitError, match="config file not found"):
        submit("tiger", f"127.0.0.1:{port}", "gpu", runtime_env_file=tmp_path / "missing.yaml")


# ---------------------------------------------------------------------------------------------
# Runtime env file


def test_default_runtime_env_ships_the_repository():
    env = load_runtime_env(DEFAULT_RUNTIME_ENV)
    assert env["working_dir"] == str(REPO_ROOT)


def test_runtime_env_relative_paths_resolve_against_root(tmp_path):
    (tmp_path / "code").mkdir()
    f = tmp_path / "elsewhere" / "env.yaml"
    f.parent.mkdir()
    f.write_text("working_dir: code\npy_modules: [code, 's3://bucket/mod.zip']\nenv_vars: {A: '1'}\n")
    env = load_runtime_env(f, root=tmp_path)
    assert env["working_dir"] == str(tmp_path / "code")
    assert env["py_modules"] == [str(tmp_path / "code"), "s3://bucket/mod.zip"]


def test_runtime_env_errors_name_the_file_and_field(tmp_path):
    f = tmp_path / "env.yaml"
    f.write_text("working_dir: nope\n")
    with pytest.raises(SubmitError, match=r"env.yaml: working_dir 'nope'"):
        load_runtime_env(f, root=tmp_path)
    f.write_text("env_vars: {N: 3, S: 'x'}\n")
    with pytest.raises(SubmitError, match=r"env_vars values must be strings.*N=3"):
        load_runtime_env(f, root=tmp_path)
    f.write_text("- a list\n")
    with pytest.raises(SubmitError, match="must hold a mapping"):
        load_runtime_env(f, root=tmp_path)


# ---------------------------------------------------------------------------------------------
# follow(): a scripted stand-in for JobSubmissionClient's status/log calls


class _ScriptedClient:
    def __init__(self, statuses, logs):
        self.statuses, self.logs, self.i = list(statuses), list(logs), -1

    def get_job_status(self, sid):
        self.i = min(self.i + 1, len(self.statuses) - 1)
        return self.statuses[self.i]

    def get_job_logs(self, sid):
        return self.logs[max(self.i, 0)]

    async def tail_job_logs(self, sid):
        """The websocket path (aiohttp installed): streams the whole log and ends with the job."""
        final = self.logs[-1]
        self.i = len(self.statuses) - 1
        for line in final.splitlines(keepends=True):
            yield line


def test_follow_returns_final_status_and_prints_each_line_once():
    client = _ScriptedClient(["PENDING", "RUNNING", "RUNNING", "SUCCEEDED"], ["", "a\n", "a\nb\n", "a\nb\nc\n"])
    seen: list[str] = []
    assert follow(client, "sid", poll_s=0, echo=seen.append) == "SUCCEEDED"
    assert "".join(s + "\n" for s in seen) == "a\nb\nc\n"


def test_follow_reports_failure_and_timeout():
    failed = _ScriptedClient(["RUNNING", "FAILED"], ["x\n", "x\nTraceback\n"])
    assert follow(failed, "sid", poll_s=0, echo=lambda s: None) == "FAILED"
    stuck = _ScriptedClient(["RUNNING"], [""])
    with pytest.raises(SubmitError, match="still RUNNING after 0.2 s; it keeps running"):
        follow(stuck, "sid", poll_s=0.05, timeout_s=0.2, logs=False, echo=lambda s: None)


# ---------------------------------------------------------------------------------------------
# The preflight: the cluster's python must import the project before the job is sent


def _run_shell(cmd: str) -> tuple[str, str]:
    """Run an entrypoint the way the Jobs API does (a shell, cwd = the working_dir) -> (status, log)."""
    p = subprocess.run(cmd, shell=True, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    return ("SUCCEEDED" if p.returncode == 0 else "FAILED"), p.stdout + p.stderr


def test_preflight_passes_with_the_projects_python():
    status, log = _run_shell(preflight_entrypoint(sys.executable))
    assert status == "SUCCEEDED", log
    assert preflight_verdict(status, log, sys.executable) == sys.executable


def test_preflight_names_the_missing_module_and_the_fix():
    status, log = _run_shell(preflight_entrypoint(sys.executable, modules=["json", "genrec_no_such_dep"]))
    assert status == "FAILED"
    with pytest.raises(SubmitError) as info:
        preflight_verdict(status, log, "python")
    msg = str(info.value)
    assert "cannot import genrec_no_such_dep" in msg and sys.executable in msg
    assert "--python" in msg and "source .venv/bin/activate" in msg


def test_preflight_explains_a_missing_interpreter():
    status, log = _run_shell(preflight_entrypoint("/nonexistent/venv/bin/python"))
    with pytest.raises(SubmitError, match=r"interpreter `/nonexistent/venv/bin/python` was not found"):
        preflight_verdict(status, log, "/nonexistent/venv/bin/python")


def test_the_check_runs_inside_the_entrypoint_before_the_job(tmp_path):
    """Checked by default: `python -c <probe> && python -m jobs.X`, so the job runs only when its own interpreter,
    in its own working_dir, imports the project and its dependencies."""
    cmd = build_entrypoint("tiger", "smoke", ["train.epochs=1"], python="/opt/venv/bin/python", check=True)
    probe = preflight_entrypoint("/opt/venv/bin/python")
    assert cmd.startswith(probe + " && ")
    job = cmd[len(probe) + 4 :]
    assert shlex.split(job) == [
        "/opt/venv/bin/python",
        "-m",
        "jobs.tiger",
        "--preset",
        "smoke",
        "--set",
        "train.epochs=1",
    ]
    assert entrypoint_job(cmd) == "tiger"
    # The project's interpreter passes, and the job part runs (here a job module that does not exist).
    status, log = _run_shell(build_entrypoint("genrec_no_such_job", python=sys.executable, check=True))
    assert status == "FAILED" and "GENREC_PREFLIGHT_OK" in log and "No module named jobs.genrec_no_such_job" in log
    # An interpreter without the dependencies (site-packages off) stops at the check: the job part never starts.
    bare = tmp_path / "python"
    bare.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -S "$@"\n')
    bare.chmod(0o755)
    status, log = _run_shell(build_entrypoint("tiger", "smoke", python=str(bare), check=True))
    assert status == "FAILED" and "GENREC_PREFLIGHT_OK" not in log and "Traceback" not in log
    assert "genrec: the job cannot start" in log and "--python" in log
    with pytest.raises(SubmitError, match=r"cannot import ray"):
        preflight_verdict(status, log, str(bare))


class _SubmitClient(_ScriptedClient):
    def __init__(self, statuses, logs):
        super().__init__(statuses, logs)
        self.submitted: list[str] = []

    def submit_job(self, entrypoint, runtime_env=None, submission_id=None, **kw):
        self.submitted.append(entrypoint)
        return submission_id


@pytest.mark.parametrize(
    "log, error",
    [
        ("GENREC_PREFLIGHT_MISSING torch /usr/bin/python3 ModuleNotFoundError: No module named 'torch'\n", "cannot"),
        ("/bin/sh: 1: /nonexistent/bin/python: not found\n", "not found"),
        # Ray 2.60 may echo the entrypoint, whose probe source holds the OK marker mid-line: still a failed check
        (
            "Running entrypoint: /nonexistent/bin/python -c \"print('GENREC_PREFLIGHT_OK', ...)\"\n"
            "/bin/sh: 1: /nonexistent/bin/python: not found\n",
            "not found",
        ),
        ("GENREC_PREFLIGHT_OK /opt/venv/bin/python\nTraceback ...\nValueError: boom\n", "ended FAILED"),
    ],
)
def test_a_waited_job_turns_a_failed_check_into_the_fix(monkeypatch, log, error):
    """With --wait, a failed check is a SubmitError naming the module and the fixes; a job that passed the check
    and then failed is an ordinary JobFailed."""
    from jobs.common import submit as sub

    client = _SubmitClient(["RUNNING", "FAILED"], ["", log])
    monkeypatch.setattr(sub, "connect", lambda url: client)
    lines: list[str] = []
    with pytest.raises(SubmitError, match=error) as info:
        submit(
            "tiger", "127.0.0.1:1", "smoke", runtime_env_file=None, wait=True, logs=False, poll_s=0, echo=lines.append
        )
    assert isinstance(info.value, JobFailed) == (error == "ended FAILED")
    assert client.submitted[0].startswith("python -c ") and " && python -m jobs.tiger" in client.submitted[0]
    assert "python -m jobs.tiger --preset smoke" in lines[0] and "--no-check" in lines[1]


# ---------------------------------------------------------------------------------------------
# A real submission to a local Ray head (needs ray[default]: the dashboard hosts the Jobs API)


def _dashboard_missing() -> str | None:
    from ray._private.utils import get_dashboard_dependency_error

    err = get_dashboard_dependency_error()
    return None if err is None else f"the Ray Jobs API needs ray[default] (dashboard deps): {err}"


@pytest.fixture(scope="module")
def local_ray_head():
    """`ray start --head --block` in its own session with private ports and temp dir; the whole
    process group is terminated afterwards (never `ray stop`, which would hit every Ray on the host)."""
    missing = _dashboard_missing()
    if missing:
        pytest.skip(missing)
    temp_dir = tempfile.mkdtemp(prefix="gr-submit-", dir="/tmp")
    dash = _free_port()
    ports = {
        "--port": _free_port(),
        "--dashboard-port": dash,
        "--ray-client-server-port": _free_port(),
        "--dashboard-agent-listen-port": _free_port(),
        "--dashboard-agent-grpc-port": _free_port(),
        "--metrics-export-port": _free_port(),
        "--runtime-env-agent-port": _free_port(),
    }
    cmd = [
        str(Path(sys.executable).parent / "ray"),
        "start",
        "--head",
        "--block",
        "--num-cpus=1",
        "--object-store-memory=100000000",
        "--include-dashboard=true",
        "--dashboard-host=127.0.0.1",
        f"--temp-dir={temp_dir}",
        "--disable-usage-stats",
    ] + [f"{k}={v}" for k, v in ports.items()]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    log = open(Path(temp_dir) / "ray-start.log", "wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                connect(url, connect_timeout_s=1)
                break
            except SubmitError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"local Ray head did not come up; see {temp_dir}/ray-start.log") from None
                time.sleep(1)
        yield url
    finally:
        _kill_group(proc)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL, the process group the fixture started, until it is empty."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            proc.poll()  # reap the group leader
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.ray
def test_submit_to_local_ray_ships_working_dir_and_env(local_ray_head, tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "marker.txt").write_text("shipped")
    (tmp_path / "code" / "runs").mkdir()
    (tmp_path / "code" / "runs" / "big.bin").write_text("excluded")
    env_file = tmp_path / "env.yaml"
    env_file.write_text(f"working_dir: {tmp_path / 'code'}\nexcludes: ['/runs/']\nenv_vars: {{GENREC_PROBE: '42'}}\n")
    probe = "import os; print(open('marker.txt').read(), os.environ['GENREC_PROBE'], os.path.exists('runs/big.bin'))"
    lines: list[str] = []
    sid = submit(
        "probe",
        local_ray_head,
        None,
        runtime_env_file=env_file,
        entrypoint=shlex.join([sys.executable, "-c", probe]),
        wait=True,
        poll_s=0.5,
        timeout_s=180,
        echo=lines.append,
    )
    assert sid.startswith("genrec-probe-")
    assert "shipped 42 False" in "\n".join(lines)


@pytest.mark.slow
@pytest.mark.ray
def test_failed_job_raises_with_its_final_status(local_ray_head):
    with pytest.raises(JobFailed) as info:
        submit(
            "boom",
            local_ray_head,
            None,
            runtime_env_file=None,
            entrypoint=shlex.join([sys.executable, "-c", "raise SystemExit(3)"]),
            wait=True,
            logs=False,
            poll_s=0.5,
            timeout_s=180,
            echo=lambda s: None,
        )
    assert info.value.status == "FAILED"
    assert f"ray job logs {info.value.submission_id}" in str(info.value)


@pytest.mark.slow
@pytest.mark.ray
def test_default_runtime_env_runs_a_driver_that_connects_back(local_ray_head):
    """The shipped cluster/runtime_env.yaml end to end: the checkout is uploaded as working_dir, and
    a driver that calls runtime.init_ray() (as every job does) joins the job's cluster."""
    probe = (
        "from jobs.common.runtime import init_ray; ray = init_ray(); "
        "print('driver-cpus', ray.cluster_resources().get('CPU'))"
    )
    lines: list[str] = []
    try:
        submit(
            "probe",
            local_ray_head,
            None,
            entrypoint=shlex.join([sys.executable, "-c", probe]),
            wait=True,
            poll_s=0.5,
            timeout_s=240,
            echo=lines.append,
        )
    except JobFailed:
        pytest.fail("job failed; its log:\n" + "\n".join(lines))
    assert "driver-cpus 1.0" in "\n".join(lines)


@pytest.mark.slow
@pytest.mark.ray
def test_submit_check_on_a_real_cluster(local_ray_head):
    """The issue's case: an interpreter without the project's dependencies fails the job before any work, with the
    fix as the error."""
    with pytest.raises(SubmitError, match="cannot import|not found") as info:
        submit(
            "tiger",
            local_ray_head,
            "smoke",
            python="/nonexistent/bin/python",
            wait=True,
            timeout_s=240,
            echo=print,
        )
    assert not isinstance(info.value, JobFailed)
