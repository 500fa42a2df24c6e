"""Training batches for the LC-Rec model: encoded (input_ids, labels) pairs, right-padded; loss on targets only."""

from __future__ import annotations

import math

import numpy as np
import torch

from rec_core.lcrec.padding import left_pad, left_pad_positions


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
    """Left-padded batches: every target ends at the last column, so the loss needs the logits of the last
    columns only (`lcrec_loss`). Positions count from each row's first real token, as `generate` counts them for
    left-padded prompts at evaluation."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, batch):
        ids, mask = left_pad([x for x, _ in batch], self.pad_id)
        labels, _ = left_pad([y for _, y in batch], -100)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels, "position_ids": left_pad_positions(mask)}


def length_grouped_batches(
    lengths: np.ndarray, batch_size: int, seed: int = 0, window: int = 64, max_tokens: int | None = None
) -> list[np.ndarray]:
    """Batches of examples of similar length (the `group_by_length` idea of HF's Trainer): shuffle, sort each
    window of `window` batches by length, cut it into batches. LC-Rec mixes 30-token item prompts with 100-token
    histories; random batches pad the short ones to the longest, and padding costs as much as real tokens.

    `max_tokens`: a batch grows past `batch_size` while (examples x its longest) stays within this budget, so
    batches of short prompts carry as many tokens as those of long ones (a step has a fixed cost on CPU)."""
    order = np.random.default_rng(seed).permutation(len(lengths))
    span = batch_size * window
    batches = []
    for s in range(0, len(order), span):
        chunk = order[s : s + span]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        if not max_tokens:
            batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
            continue
        start = 0
        for end in range(1, len(chunk) + 1):  # sorted ascending: the newest example is the batch's longest
            n = end - start
            full = n >= batch_size and (n + 1) * int(lengths[chunk[min(end, len(chunk) - 1)]]) > max_tokens
            if end == len(chunk) or full:
                batches.append(chunk[start:end])
                start = end
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


def lcrec_loss(model, batch, device=None) -> torch.Tensor:
    """Mean cross-entropy over the target tokens, from the logits of the last columns only.

    The targets of a left-padded batch sit in its last columns, so the output head (vocabulary x hidden: a fifth
    of SmolLM2-135M's compute, more for Qwen's 151k vocabulary) runs on those columns instead of on every prompt
    token (transformers' `logits_to_keep`). Equal to the model's own full-logits loss (a unit test compares them)."""
    if device is not None:
        batch = {k: v.to(device) for k, v in batch.items()}
    labels = batch["labels"]
    targets = (labels != -100).any(0).nonzero()
    first = int(targets[0]) if len(targets) else labels.shape[1] - 1
    keep = min(labels.shape[1] - first + 1, labels.shape[1])  # + the column that predicts the first target token
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs, logits_to_keep=keep).logits
    shifted = labels[:, labels.shape[1] - keep + 1 :]
    return torch.nn.functional.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]), shifted.reshape(-1), ignore_index=-100
    )


def warmup_cosine(optimizer, warmup: int, total: int):
    """LC-Rec's schedule: linear warmup, then cosine to 0 over `total` steps."""

    def f(step):
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(total - warmup, 1))))

    from rec_core.generative.train import torch_optimizer

    return torch.optim.lr_scheduler.LambdaLR(torch_optimizer(optimizer), f)
