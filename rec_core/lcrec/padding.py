"""Left padding, shared by training batches and beam-search prompts: every row ends at the last column, and positions
count from each row's first real token, as `generate` counts them for left-padded prompts. Training and decoding
must agree on both, or the model is evaluated on positions it was not trained on."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (ids [n, longest] with `pad_id` on the left, attention mask [n, longest])."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)  # a copy: the rows may be read-only views
        mask[i, width - len(r) :] = 1
    return ids, mask


def left_pad_positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids of a left-padded batch: 0 at each row's first real token (pads get 0 too)."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)
