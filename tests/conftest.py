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
    """A small local Ray for integration tests, shut down at the end of the session."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, object_store_memory=1 * 2**30, include_dashboard=False)
    yield ray
    ray.shutdown()


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
