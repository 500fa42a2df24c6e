"""The base of every typed config section in rec_core: pydantic, unknown keys rejected, assignment validated.

Run-level configs (where a job runs, how it trains, presets and `--set` overrides) are not rec_core's concern:
they live in `jobs/common/config.py`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base for every config section: unknown keys are errors, assignment is validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())
