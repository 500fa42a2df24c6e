"""The DeepSpeed config the harness builds: ZeRO-Offload accepts our client (torch) AdamW."""

from jobs.common.config import TrainConfig
from jobs.common.train import deepspeed_config


def test_offload_accepts_the_client_optimizer():
    cfg = deepspeed_config(TrainConfig(deepspeed=True, zero_stage=3, offload_optimizer=True, batch_size=4))
    assert cfg["zero_optimization"] == {"stage": 3, "offload_optimizer": {"device": "cpu"}}
    assert cfg["zero_force_ds_cpu_optimizer"] is False and cfg["train_micro_batch_size_per_gpu"] == 4
    plain = deepspeed_config(TrainConfig(deepspeed=True, zero_stage=2))
    assert "offload_optimizer" not in plain["zero_optimization"] and "zero_force_ds_cpu_optimizer" not in plain


def test_cpu_deepspeed_compiles_no_shared_memory_op(tmp_path, monkeypatch):
    # A from-scratch compile costs 34 s and a killed one leaves a lock that hangs every later start.
    from deepspeed.comm.torch import build_shm_op

    from jobs.common.train import _cpu_allreduce_through_gloo

    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path / "ext"))
    _cpu_allreduce_through_gloo()
    assert build_shm_op() is None
    assert not (tmp_path / "ext").exists()
