import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def ray_local():
    """One embedded 2-CPU Ray for the whole session: starting Ray costs seconds."""
    from jobs.common.runtime import init_ray, shutdown
    from rec_core.config import RuntimeConfig

    ray = init_ray(RuntimeConfig(num_cpus=2, num_gpus=0, object_store_gb=1.0))
    yield ray
    shutdown()
