"""Training batches for the LC-Rec model: encoded (input_ids, labels) pairs, right-padded; loss on targets only."""

from __future__ import annotations

import math

import numpy as np
import torch


class EncodedExamples(torch.utils.data.Dataset):
    """Token id lists stored flat (two int32 arrays + offsets): cheap to ship to Ray workers."""

    def __init__(self, ids: np.ndarray, labels: np.ndarray, offsets: np.ndarray):
        self.ids, self.labels, self.offsets = ids, labels, offsets

    @classmethod
    def from_pairs(cls, pairs) -> EncodedExamples:
        lens = np.asarray([len(p[0]) for p in pairs], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)])
        ids = np.fromiter((t for p in pairs for t in p[0]), np.int32, count=int(offsets[-1]))
        labels = np.fromiter((t for p in pairs for t in p[1]), np.int32, count=int(offsets[-1]))
        return cls(ids, labels, offsets)

    def state(self) -> tuple:
        return self.ids, self.labels, self.offsets

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i):
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.ids[a:b], self.labels[a:b]

    def tokens(self) -> int:
        return int(self.offsets[-1])

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


class Collate:
    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch):
        width = max(len(x) for x, _ in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for r, (x, y) in enumerate(batch):
            ids[r, : len(x)] = torch.tensor(x, dtype=torch.long)  # a copy: the arrays may be read-only views
            labels[r, : len(y)] = torch.tensor(y, dtype=torch.long)
            mask[r, : len(x)] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def length_grouped_batches(lengths: np.ndarray, batch_size: int, seed: int = 0, window: int = 64) -> list[np.ndarray]:
    """Batches of examples of similar length (the `group_by_length` idea of HF's Trainer): shuffle, sort each
    window of `window` batches by length, cut it into batches. LC-Rec mixes 30-token item prompts with 100-token
    histories; random batches pad the short ones to the longest, and padding costs as much as real tokens."""
    order = np.random.default_rng(seed).permutation(len(lengths))
    span = batch_size * window
    batches = []
    for s in range(0, len(order), span):
        chunk = order[s : s + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    return batches


class GroupedBatches(torch.utils.data.Dataset):
    """Pre-formed batches as dataset items (load with `batch_size=1` and `CollateGrouped`): a DistributedSampler
    then deals whole batches to the ranks, and shuffles their order each epoch."""

    def __init__(self, examples: EncodedExamples, batches: list[np.ndarray]):
        self.examples, self.batches = examples, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, b):
        return [self.examples[int(i)] for i in self.batches[b]]


class CollateGrouped(Collate):
    def __call__(self, batch):
        (examples,) = batch
        return super().__call__(examples)


def padded_share(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Share of the batch tokens that are padding."""
    padded = sum(len(b) * int(lengths[b].max()) for b in batches if len(b))
    return 1.0 - float(lengths.sum()) / max(padded, 1)


def lcrec_loss(model, batch, device) -> torch.Tensor:
    return model(**{k: v.to(device) for k, v in batch.items()}).loss


def warmup_cosine(optimizer, warmup: int, total: int):
    """LC-Rec's schedule: linear warmup, then cosine to 0 over `total` steps."""

    def f(step):
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(total - warmup, 1))))

    from rec_core.generative.train import torch_optimizer

    return torch.optim.lr_scheduler.LambdaLR(torch_optimizer(optimizer), f)
