"""Submit a job to a running Ray cluster through the Ray Jobs API (what `genrec submit` runs).

    sid = submit("tiger", "http://head:8265", preset="gpu", sets=["train.epochs=5"], wait=True)

runs `python -m jobs.tiger --preset gpu --set train.epochs=5` as a Ray job on the cluster: the
checkout travels as the job's working_dir (cluster/runtime_env.yaml), the driver runs on the head
node, and the job keeps running when this process exits unless `wait` follows it to the end.

Why a module of its own: the Jobs API client has sharp edges a user should never meet: RAY_ADDRESS
silently overrides the address you pass; an unreachable host blocks for minutes in a TCP connect;
a `ray://` Ray Client address is not a Jobs API address; Ray >= 2.5x clusters may require a bearer
token. Each of these becomes one clear `SubmitError` here.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shlex
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jobs.common.config import ConfigError, load_yaml, parse_override
from jobs.common.job import UserFacingError
from rec_core.paths import REPO_ROOT

DEFAULT_RUNTIME_ENV = REPO_ROOT / "cluster" / "runtime_env.yaml"
DASHBOARD_PORT = 8265
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
# What the job's interpreter must import: the dependencies installed on the cluster, and the project itself (it
# travels as the job's working_dir). The check runs inside the job's own entrypoint, before the job module
# (`python -c <probe> && python -m jobs.X`), so it sees the job's interpreter, PATH and working_dir.
PREFLIGHT_MODULES = ("ray", "torch", "transformers", "pydantic", "pandas", "pyarrow", "yaml", "jobs.common.config")
_FIX = (
    "Fix one of: start the cluster's Ray from the project's environment (`source .venv/bin/activate && "
    "ray start --head ...`, so that `python` on its PATH is the venv's); pass the interpreter explicitly with "
    "`genrec submit --python /path/to/venv/bin/python`; or install the project's dependencies in the "
    "cluster's image (cluster/docker, `pip install -e .` there)."
)
_PREFLIGHT_OK = "GENREC_PREFLIGHT_OK"
_PREFLIGHT_MISSING = "GENREC_PREFLIGHT_MISSING"
_JOB_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Env vars the Ray client reads *instead of* the address argument.
_ADDRESS_ENV_VARS = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")


class SubmitError(UserFacingError):
    """The job could not be submitted or followed; the message says why and what to do."""


class JobFailed(SubmitError):
    """A followed job ended in FAILED or STOPPED."""

    def __init__(self, submission_id: str, status: str, address: str):
        self.submission_id, self.status = submission_id, status
        super().__init__(
            f"job {submission_id} ended {status}. Full logs: `ray job logs {submission_id} --address {address}`"
        )


# ---------------------------------------------------------------------------------------------
# Pure parts: the entrypoint and the runtime environment


def build_entrypoint(
    job: str,
    preset: str | None = None,
    sets: Sequence[str] = (),
    *,
    out: str | None = None,
    allow_autoscale: bool = False,
    python: str = "python",
    check: bool = False,
) -> str:
    """The shell command the cluster runs: `python -m jobs.<job> --preset P --set k=v ...`.

    Every argument is shell-quoted, so a value with spaces, quotes or `$` reaches the job unchanged
    (`--set 'rag.prompt=Say "hi" $USER'`). Malformed `--set` items fail here, before anything is sent.
    With `check`, the command first runs `preflight_entrypoint(python)` and the job only when it passes
    (`submit` adds it by default).
    """
    if not _JOB_NAME.fullmatch(job):
        raise SubmitError(f"job name {job!r} is not a module name (letters, digits, underscores)")
    parts = [python, "-m", f"jobs.{job}"]
    if preset:
        parts += ["--preset", preset]
    for item in sets:
        try:
            parse_override(item)
        except ConfigError as e:
            raise SubmitError(str(e)) from None
        parts += ["--set", item]
    if allow_autoscale:
        # Autoscaling clusters start with no workers; the job's fits-the-cluster check must let
        # the autoscaler add them instead of failing fast.
        parts += ["--set", "runtime.allow_autoscale=true"]
    if out:
        parts += ["--out", out]
    cmd = shlex.join(parts)
    return f"{preflight_entrypoint(python)} && {cmd}" if check else cmd


def load_runtime_env(path: Path | str | None = DEFAULT_RUNTIME_ENV, *, root: Path = REPO_ROOT) -> dict[str, Any]:
    """Read a runtime_env YAML; relative local paths (working_dir, py_modules) resolve against `root`.

    Resolving against the repository root rather than the current directory makes `genrec submit`
    ship the same files from any directory of the checkout.
    """
    if path is None:
        return {}
    path = Path(path)
    try:
        env = load_yaml(path)
    except ConfigError as e:
        raise SubmitError(f"runtime env: {e}") from None
    wd = env.get("working_dir")
    if wd is not None:
        env["working_dir"] = _resolve_local(wd, root, path, "working_dir")
    if "py_modules" in env:
        env["py_modules"] = [_resolve_local(m, root, path, "py_modules") for m in env["py_modules"]]
    bad = {k: v for k, v in (env.get("env_vars") or {}).items() if not isinstance(v, str)}
    if bad:
        raise SubmitError(
            f"{path}: env_vars values must be strings (quote them in YAML): "
            + ", ".join(f"{k}={v!r}" for k, v in bad.items())
        )
    return env


def _resolve_local(value: Any, root: Path, source: Path, field: str) -> str:
    value = str(value)
    if "://" in value:  # s3://, gs://, https://...zip: remote URIs are Ray's business
        return value
    p = Path(value).expanduser()
    p = p if p.is_absolute() else (root / p).resolve()
    if not p.exists():
        raise SubmitError(f"{source}: {field} {value!r} resolves to {p}, which does not exist")
    return str(p)


def default_submission_id(job: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"genrec-{job.replace('_', '-')}-{stamp}-{uuid.uuid4().hex[:6]}"


def normalize_address(address: str | None) -> str:
    """`host`, `host:port` or `http(s)://host[:port]` -> the Jobs API URL (dashboard, port 8265)."""
    address = (address or "").strip() or next((os.environ[v] for v in _ADDRESS_ENV_VARS if os.environ.get(v)), "")
    if not address:
        raise SubmitError(
            "no cluster address: pass --address http://<head>:8265 (the Ray dashboard / Jobs API), or set RAY_ADDRESS"
        )
    if address.startswith("ray://"):
        host = urlsplit(address).hostname or "<head>"
        raise SubmitError(
            f"{address} is a Ray Client address; jobs are submitted to the Jobs API on the dashboard "
            f"port instead: --address http://{host}:{DASHBOARD_PORT}"
        )
    if address == "auto":
        raise SubmitError(
            f"'auto' is not a Jobs API address: use --address http://127.0.0.1:{DASHBOARD_PORT} on the head node"
        )
    if "://" not in address:
        address = "http://" + address
    parts = urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SubmitError(f"cannot use {address!r} as a Jobs API address; expected http://<head>:{DASHBOARD_PORT}")
    if parts.port is None and parts.scheme == "http":
        address = f"{parts.scheme}://{parts.netloc}:{DASHBOARD_PORT}{parts.path}"
    return address.rstrip("/")


def entrypoint_job(entrypoint: str) -> str | None:
    """`python -m jobs.tiger --preset gpu ...` -> "tiger"; None when it runs no job module."""
    argv = shlex.split(entrypoint)
    for i, arg in enumerate(argv[:-1]):
        if arg == "-m" and argv[i + 1].startswith("jobs."):
            return argv[i + 1].split(".", 1)[1]
    return None


def rayjob_entrypoints(kuberay_dir: Path = REPO_ROOT / "cluster" / "kuberay") -> list[tuple[Path, str]]:
    """(file, job) for every KubeRay RayJob under `kuberay_dir`, so tests and `genrec list` can
    check that each one launches a job that exists. A RayJob whose entrypoint runs no
    `jobs.<name>` module is an error: these files exist to launch jobs."""
    import yaml

    pairs = []
    for f in sorted(Path(kuberay_dir).glob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") != "RayJob":
                continue
            job = entrypoint_job(doc.get("spec", {}).get("entrypoint", ""))
            if job is None:
                raise SubmitError(f"{f}: RayJob entrypoint runs no `python -m jobs.<name>` module")
            pairs.append((f, job))
    return pairs


# ---------------------------------------------------------------------------------------------
# Talking to the cluster


def connect(address: str | None, *, connect_timeout_s: float = 5.0):
    """A JobSubmissionClient for `address`, or a SubmitError that says what is wrong.

    Checks with a plain TCP connect first (the client itself has no timeout and would hang for
    minutes on a black-holed host), then retries once with the local Ray auth token if, and only if,
    the cluster asks for one, so we never add the token to a cluster that did not ask. (Ray's own
    client still attaches the locally configured token by itself when this process runs Ray in
    token-auth mode.)
    """
    url = normalize_address(address)
    JobSubmissionClient, AuthenticationError = _jobs_client()
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else DASHBOARD_PORT)
    try:
        with socket.create_connection((parts.hostname, port), timeout=connect_timeout_s):
            pass
    except OSError as e:
        raise SubmitError(
            f"cannot reach the Ray Jobs API at {url} ({e.__class__.__name__}: {e}). Is the cluster up and "
            f"its dashboard port forwarded? e.g. `ray dashboard cluster/aws.yaml` or "
            f"`kubectl port-forward svc/genrec-ray-head-svc {DASHBOARD_PORT}:{DASHBOARD_PORT}`, then "
            f"--address http://127.0.0.1:{DASHBOARD_PORT}"
        ) from None

    def make(headers: dict[str, str] | None):
        with _without_address_env():
            return JobSubmissionClient(url, headers=headers)

    try:
        try:
            return make(None)
        except AuthenticationError:
            token = _local_auth_token()
            if token is None:
                raise SubmitError(
                    f"the cluster at {url} requires a Ray auth token and none was found: set RAY_AUTH_TOKEN, "
                    "or RAY_AUTH_TOKEN_PATH, or put it in ~/.ray/auth_token (see `ray get-auth-token`)"
                ) from None
            return make({"Authorization": f"Bearer {token}"})
    except SubmitError:
        raise
    except AuthenticationError as e:
        raise SubmitError(f"the cluster at {url} rejected the Ray auth token: {e}") from None
    except (ConnectionError, RuntimeError, OSError) as e:
        # RuntimeError: a 404 on /api/version means a dashboard without the job module, i.e. a
        # cluster started from a minimal `ray` install (it needs ray[default]) or a Ray < 2.0.
        raise SubmitError(
            f"{url} answered but is not a usable Ray Jobs API ({e}). The cluster needs `ray[default]` "
            "(dashboard) and Ray >= 2.0; the address is the dashboard port, usually 8265"
        ) from None


def _jobs_client():
    """(JobSubmissionClient, AuthenticationError), or a SubmitError when this install cannot talk
    to the Jobs API: the client needs `requests` and `aiohttp`, which only ray[default] brings
    (ray[train,data,tune] alone imports the class but cannot construct it)."""
    from ray.dashboard.modules.job import sdk
    from ray.exceptions import AuthenticationError

    if getattr(sdk, "requests", None) is None or getattr(sdk, "aiohttp", None) is None:
        raise SubmitError(
            "submitting to a cluster needs the Ray Jobs client, which comes with ray[default]: "
            "pip install 'ray[default]' (same version as the cluster's Ray)"
        )
    return sdk.JobSubmissionClient, AuthenticationError


@contextlib.contextmanager
def _without_address_env() -> Iterator[None]:
    """Ray's client prefers RAY_ADDRESS over the address it is given; the caller's address wins here."""
    saved = {k: os.environ.pop(k) for k in _ADDRESS_ENV_VARS if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _local_auth_token() -> str | None:
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip()
    for p in (os.environ.get("RAY_AUTH_TOKEN_PATH"), "~/.ray/auth_token"):
        if p and Path(p).expanduser().is_file():
            token = Path(p).expanduser().read_text().strip()
            if token:
                return token
    return None


def submit(
    job: str,
    address: str | None,
    preset: str | None = "gpu",
    sets: Sequence[str] = (),
    runtime_env_file: Path | str | None = DEFAULT_RUNTIME_ENV,
    *,
    wait: bool = False,
    logs: bool = True,
    submission_id: str | None = None,
    out: str | None = None,
    allow_autoscale: bool = False,
    python: str = "python",
    check: bool = True,
    entrypoint: str | None = None,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
    echo: Callable[[str], None] | None = None,
) -> str:
    """Submit `python -m jobs.<job> ...` to the cluster at `address`; return the submission id.

    With `wait`, follow the job (streaming its logs when `logs`) until it ends: return the id when it
    SUCCEEDED, raise `JobFailed` when it FAILED or was STOPPED. Without `wait` the call returns as
    soon as the cluster has accepted the job. With `check` (the default) the job's entrypoint first imports the
    project and its dependencies with the job's `python` and stops with a message that says how to fix the
    cluster's environment when one is missing; with `wait` that message comes back as a SubmitError.
    `entrypoint` replaces the built command (for tests and one-off commands; no check then); the runtime
    environment still applies.
    """
    echo = echo or _print
    # Everything that can be checked locally is checked before the cluster is contacted.
    checked = check and entrypoint is None
    shown = entrypoint or build_entrypoint(job, preset, sets, out=out, allow_autoscale=allow_autoscale, python=python)
    cmd = f"{preflight_entrypoint(python)} && {shown}" if checked else shown
    url = normalize_address(address)
    runtime_env = load_runtime_env(runtime_env_file)
    client = connect(url)
    sid = submission_id or default_submission_id(job)
    metadata = {"genrec_job": job, "genrec_preset": preset or ""}
    try:
        sid = client.submit_job(entrypoint=cmd, runtime_env=runtime_env or None, submission_id=sid, metadata=metadata)
    except (RuntimeError, ValueError, OSError) as e:
        # e.g. a duplicate submission id, an invalid runtime_env, a working_dir over the upload limit
        raise SubmitError(f"the cluster refused the job: {e}") from None
    echo(f"submitted {sid}: {shown}")
    if checked:
        echo(f"  the job first checks that the cluster's `{python}` imports the project (skip: --no-check)")
    echo(f"  logs:   ray job logs {sid} --address {url} --follow")
    echo(f"  stop:   ray job stop {sid} --address {url}")
    if wait:
        status = follow(client, sid, logs=logs, timeout_s=timeout_s, poll_s=poll_s, echo=echo)
        if status != "SUCCEEDED":
            if checked:  # a failed check becomes the message that says how to fix the cluster's python
                log = client.get_job_logs(sid) or ""
                # a line that starts with the marker: the log may also echo the entrypoint, which contains it
                if not any(line.startswith(_PREFLIGHT_OK) for line in log.splitlines()):
                    preflight_verdict(status, log, python)
            raise JobFailed(sid, status, url)
    return sid


def preflight_entrypoint(python: str = "python", modules: Sequence[str] = PREFLIGHT_MODULES) -> str:
    """A one-line command that imports `modules` with `python` and prints one verdict line (plus, when a module is
    missing, the fix for a reader of the job's log); it exits 3 when one is missing."""
    probe = (
        "import importlib, sys\n"
        f"for m in {list(modules)!r}:\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except Exception as e:\n"
        f"        print({_PREFLIGHT_MISSING!r}, m, sys.executable, type(e).__name__ + ': ' + str(e), flush=True)\n"
        f"        print('genrec: the job cannot start: ' + sys.executable + ' cannot import ' + m + '. ' + {_FIX!r})\n"
        "        sys.exit(3)\n"
        f"print({_PREFLIGHT_OK!r}, sys.executable, flush=True)\n"
    )
    return shlex.join([python, "-c", probe])


def preflight_verdict(status: str, log: str, python: str = "python") -> str:
    """The preflight job's final status and log -> the interpreter path, or a SubmitError saying how to fix it."""
    fix = _FIX
    for line in log.splitlines():
        if line.startswith(_PREFLIGHT_OK) and status == "SUCCEEDED":
            return line.split(" ", 1)[1].strip()
        if line.startswith(_PREFLIGHT_MISSING):
            _, module, exe, err = (line.split(" ", 3) + ["", "", ""])[:4]
            raise SubmitError(f"on the cluster, `{python}` ({exe}) cannot import {module}: {err}. {fix}")
    tail = " | ".join(log.strip().splitlines()[-3:]) or "no output"
    if "not found" in log or "No such file" in log:
        raise SubmitError(f"on the cluster, the interpreter `{python}` was not found ({tail}). {fix}")
    raise SubmitError(f"the preflight job ended {status} without a verdict ({tail}). {fix}")


def follow(
    client,
    submission_id: str,
    *,
    logs: bool = True,
    timeout_s: float | None = None,
    poll_s: float = 2.0,
    echo: Callable[[str], None] | None = None,
) -> str:
    """Wait until the job ends and return its final status ("SUCCEEDED", "FAILED" or "STOPPED").

    Logs stream through the client's websocket tail when aiohttp is installed (ray[default]);
    otherwise, and after the tail ends, by polling the full log and printing what is new, so
    following works with either install and never prints a line twice.
    """
    echo = echo or _print
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    shown = 0
    try:
        if logs and importlib.util.find_spec("aiohttp") is not None:
            shown = _stream_logs(client, submission_id, echo, deadline)
        while True:
            status = _status(client, submission_id)
            if logs:
                shown = _echo_new_logs(client, submission_id, shown, echo)
            if status in TERMINAL_STATUSES:
                if logs:  # lines written between the status read and the job's end
                    _echo_new_logs(client, submission_id, shown, echo)
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise SubmitError(
                    f"job {submission_id} is still {status} after {timeout_s:g} s; it keeps running on the cluster"
                )
            time.sleep(poll_s)
    except KeyboardInterrupt:
        echo(f"stopped following {submission_id}; the job keeps running on the cluster")
        raise


def _status(client, submission_id: str) -> str:
    s = client.get_job_status(submission_id)
    return getattr(s, "value", str(s))


def _stream_logs(client, submission_id: str, echo: Callable[[str], None], deadline: float | None) -> int:
    """Print the websocket log tail until the job ends or the deadline passes; return the log
    length already shown, so the poller continues from there."""
    import asyncio

    async def tail() -> None:
        async for chunk in client.tail_job_logs(submission_id):
            echo(chunk.rstrip("\n"))

    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        asyncio.run(asyncio.wait_for(tail(), timeout=remaining))
    except TimeoutError:
        pass  # the poll loop reports the timeout
    except Exception:  # noqa: BLE001 - the tail is a convenience; the poller below is the source of truth
        pass
    return len(client.get_job_logs(submission_id))


def _echo_new_logs(client, submission_id: str, shown: int, echo: Callable[[str], None]) -> int:
    text = client.get_job_logs(submission_id)
    if len(text) > shown:
        echo(text[shown:].rstrip("\n"))
    return max(shown, len(text))


def _print(msg: str) -> None:
    print(msg, flush=True)
