"""Shared fixtures. Environment first: no test may wait on an unreachable model hub or phone home."""

from __future__ import annotations

import os

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
os.environ["HF_HUB_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from rec_core.paths import default_mirror  # noqa: E402


@pytest.fixture(scope="session")
def ray_local():
    """One embedded 2-CPU Ray for the whole session (starting Ray costs seconds), through the same
    runtime module the jobs use, so workers import this checkout exactly as in a real run. It holds the
    machine's GPUs too, so tests/gpu can share it when the whole suite runs on a GPU machine."""
    import torch

    from jobs.common.config import RuntimeConfig
    from jobs.common.runtime import init_ray, shutdown

    ray = init_ray(RuntimeConfig(num_cpus=2, num_gpus=torch.cuda.device_count(), object_store_gb=1.0))
    yield ray
    shutdown()


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
