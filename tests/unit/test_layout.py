"""The layer rules in pyproject.toml cover every workflow, and the tree keeps one home per concept."""

from __future__ import annotations

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from jobs.common.registry import job_names
from rec_core.paths import REPO_ROOT


def _contracts() -> dict[str, dict]:
    cfg = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["name"]: c for c in cfg["contracts"]}


def test_independence_contract_names_every_workflow():
    workflows = {f"jobs.{n}" for n in job_names()}
    contracts = _contracts()
    independent = next(c for c in contracts.values() if c["type"] == "independence")
    assert set(independent["modules"]) == workflows
    common = next(c for c in contracts.values() if c.get("source_modules") == ["jobs.common"])
    assert workflows <= set(common["forbidden_modules"])


def test_rec_core_may_not_import_ray():
    rec = next(c for c in _contracts().values() if c.get("source_modules") == ["rec_core"])
    assert {"ray", "jobs", "data_pipelines"} <= set(rec["forbidden_modules"])


def test_one_home_for_the_semantic_id_code():
    """The modules the semantic-ID code was once copied across are gone for good."""
    gone = [
        "rec_core/quantizers",
        "rec_core/decoding.py",
        "rec_core/decoding_playlist.py",
        "rec_core/generative/codes.py",
        "rec_core/generative/vocab.py",
        "rec_core/playlist/codes.py",
        "jobs/benchmarks",
        "jobs/bench.py",
    ]
    assert [g for g in gone if (REPO_ROOT / g).exists()] == []
    for name in ("codes", "rqvae", "rqkmeans", "collisions", "quality", "trie"):
        assert (REPO_ROOT / "rec_core" / "semantic_ids" / f"{name}.py").exists()
