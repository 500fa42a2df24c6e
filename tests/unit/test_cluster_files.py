"""The declarative cluster files parse, match the schemas they are written for, and keep the
promises their comments make (head runs no work, workers scale from zero, one Ray version)."""

from __future__ import annotations

import json
import re
import shlex
import zipfile
from pathlib import Path

import pytest
import yaml

from jobs.common import runtime
from jobs.common.config import JobConfig, RuntimeConfig, resolve_config
from jobs.common.submit import entrypoint_job, load_runtime_env, rayjob_entrypoints
from rec_core.paths import REPO_ROOT

CLUSTER = REPO_ROOT / "cluster"
KUBERAY = CLUSTER / "kuberay"
LAUNCHER_FILES = [CLUSTER / "aws.yaml", CLUSTER / "gcp.yaml"]
RAYJOB_FILES = sorted(KUBERAY.glob("rayjob-*.yaml"))
# The jobs the RayJob files launch; each must exist as jobs/<name>.py on main.
EXPECTED_RAYJOBS = {"demo", "semantic_ids", "tiger", "rater", "rag_index", "ncf"}


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_every_yaml_under_cluster_parses():
    files = sorted(CLUSTER.rglob("*.yaml"))
    assert len(files) >= 10, files
    for f in files:
        docs = load_all(f)
        assert docs, f"{f} holds no document"
        assert all(isinstance(d, dict) for d in docs), f


# ---------------------------------------------------------------------------------------------
# local.yaml / runtime_env.yaml


def test_local_yaml_is_the_runtime_default_and_a_valid_config_layer():
    data = yaml.safe_load((CLUSTER / "local.yaml").read_text())
    assert set(data) == {"runtime"}
    assert set(data["runtime"]) == set(RuntimeConfig.model_fields)
    assert RuntimeConfig.model_validate(data["runtime"]) == RuntimeConfig()
    # Usable as `--config cluster/local.yaml` for any job.
    assert resolve_config(JobConfig, data).runtime == RuntimeConfig()
    # The comment's numbers are runtime.py's numbers.
    assert runtime._SMALL_STORE_GB == 2.0 and runtime._SMALL_MACHINE_GB == 64


def test_runtime_env_resolves_and_is_accepted_by_ray():
    from ray.runtime_env import RuntimeEnv

    env = load_runtime_env(CLUSTER / "runtime_env.yaml")
    assert Path(env["working_dir"]) == REPO_ROOT
    assert env["env_vars"]["RAY_USAGE_STATS_ENABLED"] == "0"
    assert "GENREC_DATA_DIR" in env["env_vars"]
    # A submitted job carries working_dir: the driver must not upload the checkout again.
    assert env["env_vars"]["GENREC_NO_WORKING_DIR"] == "1"
    RuntimeEnv(**env)  # Ray's own validation of every field


def test_runtime_env_excludes_ship_code_but_not_data(tmp_path):
    """Package a synthetic checkout with Ray's own packager and the file's excludes."""
    from ray._private.runtime_env.packaging import create_package

    keep = ["rec_core/data/loader.py", "jobs/presets/tiger/gpu.yaml", "jobs/tiger.py", "cluster/runtime_env.yaml"]
    drop = [
        ".git/config",
        "runs/tiger-1/metrics.json",
        "emb/items.parquet",
        "ckpt/model.safetensors",
        "rec_core/__pycache__/x.cpython-311.pyc",
        ".venv/bin/python",
        "m/model.gguf",
    ]
    for rel in keep + drop:
        (tmp_path / "repo" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "repo" / rel).write_text("x")
    excludes = yaml.safe_load((CLUSTER / "runtime_env.yaml").read_text())["excludes"]
    zpath = tmp_path / "pkg.zip"
    create_package(str(tmp_path / "repo"), zpath, include_gitignore=False, excludes=excludes)
    names = {n.rstrip("/") for n in zipfile.ZipFile(zpath).namelist()}
    for rel in keep:
        assert rel in names, f"{rel} must be shipped"
    for rel in drop:
        assert rel not in names, f"{rel} must not be shipped"


# ---------------------------------------------------------------------------------------------
# Ray cluster launcher (aws.yaml, gcp.yaml)


@pytest.mark.parametrize("path", LAUNCHER_FILES, ids=lambda p: p.name)
def test_launcher_config_matches_rays_schema(path):
    jsonschema = pytest.importorskip("jsonschema")
    import ray.autoscaler

    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    cfg = yaml.safe_load(path.read_text())
    jsonschema.validate(cfg, schema)
    # What `ray up` does before launching: merge the provider defaults, then validate again.
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(cfg))


@pytest.mark.parametrize("path", LAUNCHER_FILES, ids=lambda p: p.name)
def test_launcher_shape(path):
    cfg = yaml.safe_load(path.read_text())
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert head["resources"] == {"CPU": 0}, "no tasks or actors on the head"
    workers = {k: v for k, v in types.items() if k != cfg["head_node_type"]}
    assert len(workers) == 2
    for name, t in workers.items():
        assert t["min_workers"] == 0 and t["max_workers"] >= 1, name
        assert t["max_workers"] <= cfg["max_workers"], name
    gpu = [t for t in workers.values() if t["resources"].get("GPU", 0) >= 1]
    cpu = [t for t in workers.values() if not t["resources"].get("GPU")]
    assert len(gpu) == 1 and len(cpu) == 1
    assert gpu[0]["docker"]["worker_image"].endswith("-gpu")
    assert cfg["docker"]["image"].endswith("-cpu")
    # The project reaches every node and is installed there.
    ((remote, local),) = cfg["file_mounts"].items()
    assert local == "."
    assert any(f"pip install -q -e {remote}" in c for c in cfg["setup_commands"])
    assert any("torch==" in c for c in cfg["setup_commands"])


def test_workers_are_spot_or_preemptible():
    aws = yaml.safe_load((CLUSTER / "aws.yaml").read_text())
    for name, t in aws["available_node_types"].items():
        if name != aws["head_node_type"]:
            assert t["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot", name
    gcp = yaml.safe_load((CLUSTER / "gcp.yaml").read_text())
    for name, t in gcp["available_node_types"].items():
        if name != gcp["head_node_type"]:
            sched = t["node_config"]["scheduling"]
            assert sched["preemptible"] is True and sched["automaticRestart"] is False, name


# ---------------------------------------------------------------------------------------------
# KubeRay


def _containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


def _check_cluster_spec(spec: dict, where: str) -> None:
    assert spec["enableInTreeAutoscaling"] is True, where
    assert spec["autoscalerOptions"]["version"] == "v2", where
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0", where
    head_env = {e["name"] for c in _containers(head["template"]) for e in c.get("env", [])}
    # KubeRay rejects autoscalerOptions.version together with the old env-var switch.
    assert "RAY_enable_autoscaler_v2" not in head_env, where
    groups = spec["workerGroupSpecs"]
    assert groups, where
    for g in groups:
        assert g["minReplicas"] == 0 and g.get("replicas", 0) == 0 and g["maxReplicas"] >= 1, (where, g["groupName"])
        for c in _containers(g["template"]):
            limits = c["resources"]["limits"]
            assert limits == c["resources"]["requests"], (where, g["groupName"])
            if g["groupName"] == "gpu":
                assert limits["nvidia.com/gpu"] == "1" and c["image"].endswith("-gpu"), where
            else:
                assert "nvidia.com/gpu" not in limits, where
    claims = {
        v["persistentVolumeClaim"]["claimName"]
        for t in [head["template"]] + [g["template"] for g in groups]
        for v in t["spec"].get("volumes", [])
        if "persistentVolumeClaim" in v
    }
    pvc = load_all(KUBERAY / "storage.yaml")[0]
    assert claims == {pvc["metadata"]["name"]}, where


def test_raycluster():
    (doc,) = load_all(KUBERAY / "raycluster.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayCluster")
    _check_cluster_spec(doc["spec"], "raycluster.yaml")
    assert {g["groupName"] for g in doc["spec"]["workerGroupSpecs"]} == {"cpu", "gpu"}


def test_storage_claim_is_shared():
    (pvc,) = load_all(KUBERAY / "storage.yaml")
    assert (pvc["apiVersion"], pvc["kind"]) == ("v1", "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]


@pytest.mark.parametrize("path", RAYJOB_FILES, ids=lambda p: p.name)
def test_rayjob(path):
    (doc,) = load_all(path)
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayJob")
    spec = doc["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] > 0
    env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert all(isinstance(v, str) for v in env["env_vars"].values())
    assert env["env_vars"]["GENREC_NO_WORKING_DIR"] == "1"  # the image has the project
    _check_cluster_spec(spec["rayClusterSpec"], path.name)
    argv = shlex.split(spec["entrypoint"])
    job = entrypoint_job(spec["entrypoint"])
    assert path.name == f"rayjob-{job}.yaml"
    assert argv[argv.index("--preset") + 1] == ("cpu" if job == "demo" else "gpu")
    assert "runtime.allow_autoscale=true" in argv  # workers start at 0
    gpu_groups = [g for g in spec["rayClusterSpec"]["workerGroupSpecs"] if g["groupName"] == "gpu"]
    assert bool(gpu_groups) == (job != "demo")


def test_rayjob_entrypoints_lists_file_and_job():
    pairs = rayjob_entrypoints(KUBERAY)
    assert {job for _, job in pairs} == EXPECTED_RAYJOBS
    assert all(f.parent == KUBERAY and f.name == f"rayjob-{job}.yaml" for f, job in pairs)


def test_rayjob_entrypoints_name_existing_jobs():
    """Every RayJob must launch a job module the registry knows (jobs land on main separately)."""
    from jobs.common.registry import job_names

    missing = sorted({job for _, job in rayjob_entrypoints(KUBERAY)} - set(job_names()))
    assert not missing, f"RayJob files launch jobs that do not exist: {missing}; jobs: {job_names()}"


def test_rayjob_presets_exist():
    """`--preset gpu` in a RayJob must name a preset file of that job, and the job must accept the
    entrypoint's overrides (checked by resolving its config exactly as the cluster will)."""
    from jobs.common.registry import get_job

    for f, job in rayjob_entrypoints(KUBERAY):
        argv = shlex.split(load_all(f)[0]["spec"]["entrypoint"])
        preset = argv[argv.index("--preset") + 1]
        sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
        j = get_job(job)
        assert preset in j.presets(), f"{f.name}: job {job!r} has no preset {preset!r} ({j.presets()})"
        j.resolve(preset, overrides=sets)


# ---------------------------------------------------------------------------------------------
# One Ray version everywhere


def test_one_ray_version_across_cluster_files():
    versions: set[str] = set()
    for f in list(CLUSTER.rglob("*.yaml")) + [CLUSTER / "docker" / "Dockerfile"]:
        text = f.read_text()
        versions |= set(re.findall(r"rayproject/ray:(\d+\.\d+\.\d+)-py\d+", text))
        versions |= set(re.findall(r"rayVersion:\s*\"?(\d+\.\d+\.\d+)", text))
    assert len(versions) == 1, versions
    (v,) = versions
    import ray

    # The cluster runs the Ray this project is developed and tested with.
    assert v.split(".")[:2] == ray.__version__.split(".")[:2]
