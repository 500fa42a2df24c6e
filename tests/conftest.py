"""Shared fixtures. Environment first: no test may wait on an unreachable model hub or phone home."""

from __future__ import annotations

import os

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["HF_HUB_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from rec_core.paths import default_mirror  # noqa: E402


def _start_ray():
    import torch

    from jobs.common.config import RuntimeConfig
    from jobs.common.runtime import init_ray

    return init_ray(RuntimeConfig(num_cpus=2, num_gpus=torch.cuda.device_count(), object_store_gb=1.0))


@pytest.fixture(scope="session")
def ray_local():
    """One embedded 2-CPU Ray for the whole session (starting Ray costs seconds), through the same
    runtime module the jobs use, so workers import this checkout exactly as in a real run. It holds the
    machine's GPUs too, so tests/gpu can share it when the whole suite runs on a GPU machine."""
    from jobs.common.runtime import shutdown

    yield _start_ray()
    shutdown()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_FAILED] = True
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture(autouse=True)
def _fresh_ray_after_a_failed_ray_test(request):
    """A Ray test that fails or times out can leave its actors running, holding the cluster's 2 CPUs, and then
    every later Ray test waits for them until its own timeout (one such cascade ran CI past 90 minutes). After a
    failure the cluster starts again: shutting the driver down ends every actor it started."""
    yield
    if "ray_local" in request.fixturenames and request.node.stash.get(_FAILED, False):
        from jobs.common.runtime import shutdown

        shutdown()
        _start_ray()


@pytest.fixture(scope="session")
def mirror() -> Path:
    """The local data mirror (GENREC_MIRROR, else ../shared/data). Skips the test when there is none."""
    m = default_mirror()
    if m is None or not Path(m).is_dir():
        pytest.skip("no data mirror: set GENREC_MIRROR or place the mirror at ../shared/data")
    return Path(m)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A session-wide data dir: each dataset is pulled and parsed at most once per test session."""
    return tmp_path_factory.mktemp("genrec-data")
