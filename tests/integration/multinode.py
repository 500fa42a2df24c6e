"""A real multi-node Ray cluster on one machine, for the multi-node and fault tests (and benchmarks/faults.py).

`LoopbackCluster` runs `ray start --head` plus worker nodes (`ray start --address`), each a separate `--block`
process in its own session, bound to 127.0.0.1, on private ports, with its own `--num-cpus` and custom resources.
`stop()` / `kill_node()` end exactly the process groups it started: never `ray stop`, which would hit every Ray
on the host. Jobs reach it through `genrec submit` (the Jobs API on the head's dashboard port).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rec_core.paths import REPO_ROOT

RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    # `python -m jobs.X` on the cluster must be this interpreter, and the workers must import this checkout.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(RAY_USAGE_STATS_ENABLED="0", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # A loopback-only test cluster: no token auth (a head would otherwise make a token the worker nodes lack).
    env["RAY_AUTH_MODE"] = "disabled"
    return env


def kill_group(proc: subprocess.Popen, timeout_s: float = 10.0, sig0: int = signal.SIGTERM) -> None:
    """`sig0`, then SIGKILL, to the process group a Popen(start_new_session=True) leads, until it is empty."""
    for sig in (sig0, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            proc.poll()
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.3)


def _group_alive(proc: subprocess.Popen) -> bool:
    proc.poll()
    try:
        os.killpg(proc.pid, 0)
        return True
    except ProcessLookupError:
        return False


@dataclass
class Node:
    name: str
    proc: subprocess.Popen
    resources: dict = field(default_factory=dict)

    def pids(self) -> set[int]:
        """The node's processes: its process group (raylet, agents, workers), plus any descendant."""
        import psutil

        out = set()
        for p in psutil.process_iter(["pid"]):
            try:
                if os.getpgid(p.pid) == self.proc.pid:
                    out.add(p.pid)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            out |= {c.pid for c in psutil.Process(self.proc.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
        return out

    def runs(self, title: str) -> bool:
        """Whether a process of this node has `title` in its command line (Ray sets `ray::RayTrainWorker...`)."""
        import psutil

        for pid in self.pids():
            try:
                if title in " ".join(psutil.Process(pid).cmdline()):
                    return True
            except psutil.NoSuchProcess:
                pass
        return False


class LoopbackCluster:
    def __init__(self, head_cpus: int = 0):
        self.temp_dir = tempfile.mkdtemp(prefix="gr-mn-", dir="/tmp")
        self.gcs_port = free_port()
        self.dash_port = free_port()
        self.nodes: dict[str, Node] = {}
        self._logs: list = []
        self._start(
            "head",
            [
                "--head",
                f"--port={self.gcs_port}",
                f"--dashboard-port={self.dash_port}",
                "--include-dashboard=true",
                "--dashboard-host=127.0.0.1",
                f"--ray-client-server-port={free_port()}",
                f"--temp-dir={self.temp_dir}",
                f"--num-cpus={head_cpus}",
            ],
            {},
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dash_port}"

    def _start(self, name: str, args: list[str], resources: dict) -> Node:
        cmd = [
            RAY,
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            "--object-store-memory=100000000",
            "--disable-usage-stats",
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            *args,
        ]
        if resources:
            cmd.append(f"--resources={json.dumps(resources)}")
        log = open(Path(self.temp_dir) / f"{name}.log", "wb")
        self._logs.append(log)
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
        node = self.nodes[name] = Node(name, proc, resources)
        return node

    def add_worker(self, name: str, num_cpus: int, resources: dict | None = None) -> Node:
        # Its own temp dir, as a real node has its own disk. By default a worker node takes the head's, so every
        # node's runtime-env agent unpacks a job's working_dir into the same folder, and Ray's working_dir plugin
        # unpacks with overwrite=True (rmtree, then extract): a second node setting up the same package deleted the
        # files under the head's running driver mid-import (`No module named 'jobs.common.train'`).
        temp = Path(self.temp_dir) / name
        temp.mkdir(exist_ok=True)
        args = [f"--address={self.address}", f"--num-cpus={num_cpus}", f"--temp-dir={temp}"]
        return self._start(name, args, resources or {})

    def wait_ready(self, n_nodes: int, timeout_s: float = 180.0) -> list[dict]:
        """Until `n_nodes` nodes are alive (state API on the dashboard); returns them."""
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            for node in self.nodes.values():
                if node.proc.poll() is not None:
                    tail = (Path(self.temp_dir) / f"{node.name}.log").read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"node {node.name} exited:\n{tail}")
            try:
                alive = [n for n in self.list_nodes() if n["state"] == "ALIVE"]
                if len(alive) >= n_nodes:
                    return alive
            except Exception as e:  # noqa: BLE001 - the dashboard comes up after the head
                last = e
            time.sleep(1.0)
        raise TimeoutError(f"{n_nodes} nodes not up after {timeout_s:g} s ({last}); logs in {self.temp_dir}")

    def list_nodes(self) -> list[dict]:
        from ray.util.state import list_nodes

        return [n.__dict__ if hasattr(n, "__dict__") else dict(n) for n in list_nodes(address=self.dashboard)]

    def train_worker_nodes(self) -> list[str]:
        """Node ids of every Ray Train worker actor the cluster has had (alive or dead)."""
        from ray.util.state import list_actors

        actors = list_actors(address=self.dashboard, filters=[("class_name", "=", "RayTrainWorker")], detail=True)
        return [a.node_id for a in actors]

    def node_id_of(self, name: str) -> str:
        """The Ray node id of node `name`, matched by its custom resources (each worker node has a unique one)."""
        want = self.nodes[name].resources
        for n in self.list_nodes():
            res = n.get("resources_total") or {}
            if want and all(res.get(k) == v for k, v in want.items()):
                return n["node_id"]
        raise KeyError(name)

    def kill_node(self, name: str) -> None:
        """A spot preemption: SIGKILL the node's whole process group at once (raylet, agents, workers)."""
        node = self.nodes[name]
        for pid in node.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kill_group(node.proc, timeout_s=5, sig0=signal.SIGKILL)

    def stop(self, timeout_s: float = 3.0) -> None:
        """SIGTERM every node's process group at once, SIGKILL what is left after `timeout_s` (a throwaway cluster:
        Ray's graceful shutdown of three nodes took ~15 s and saves nothing worth keeping)."""
        procs = [n.proc for n in self.nodes.values()]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(_group_alive(p) for p in procs):
            time.sleep(0.3)
        for proc in procs:
            kill_group(proc, timeout_s=5, sig0=signal.SIGKILL)
        for log in self._logs:
            log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def runtime_env_file(path: Path, data_dir: Path) -> Path:
    """A runtime env for `genrec submit` to the loopback cluster: this checkout as working_dir, local data dir."""
    path.write_text(
        json.dumps(
            {
                "working_dir": str(REPO_ROOT),
                "excludes": [".git", "/runs/", "**/__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis"],
                "env_vars": {
                    "RAY_USAGE_STATS_ENABLED": "0",
                    "HF_HUB_OFFLINE": "1",
                    "GENREC_DATA_DIR": str(data_dir),
                    "GENREC_NO_WORKING_DIR": "1",
                    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",  # as cluster/runtime_env.yaml
                },
            }
        )
    )
    return path


def genrec_submit(
    cluster: LoopbackCluster, job: str, sets: list[str], out: Path, env_file: Path, timeout_s: float = 600
) -> subprocess.Popen:
    """`genrec submit JOB --wait` as its own process (its stdout: the job's log, streamed)."""
    cmd = [sys.executable, "-m", "jobs.cli.main", "submit", job, "--address", cluster.dashboard, "--preset", "smoke"]
    for s in sets:
        cmd += ["--set", s]
    cmd += ["--out", str(out), "--runtime-env", str(env_file), "--wait", "--timeout", str(timeout_s)]
    env = _env()
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def record_fault(scenario: str, **figures: float) -> None:
    """A fault test's measured figures (survived, epochs lost, metric difference...), appended as one JSON line to
    $GENREC_FAULTS_RECORD when set: benchmarks/faults.py runs the fault tests and tabulates these."""
    path = os.environ.get("GENREC_FAULTS_RECORD")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"scenario": scenario, **figures}) + "\n")
