"""The LC-Rec prompts, versioned: every template the model is trained and evaluated with lives here.

Tasks (LC-Rec, Zheng et al. 2024, plus the spec's item-enrich):
- seqrec: history as semantic IDs -> the next item's ID
- item2index: title -> ID;  index2item: ID -> title
- fusion: history as titles -> the next item's ID
- enrich: ID + title -> a held-out text field of the item (genres, tags, ...), scored with BLEU / ROUGE-L
- search: the item's keywords (its genres / tags / categories) -> its ID (LC-Rec's item search, with the item's own
  keywords standing in for the queries LC-Rec derived from reviews)
- preference: history as semantic IDs -> the three keywords most frequent in it (LC-Rec's preference task, with
  counted keywords standing in for GPT-written preferences)

Training examples are (prompt, target) pairs; the loss is on the target tokens only (`encode_example`).
Per-task ratios multiply each task's natural number of examples (seqrec and fusion: one per training position;
the item tasks: one per item): 0 drops the task, 0.5 samples half, 2 repeats each example twice (with new
templates). Evaluation always uses template 0 of a task, so scores are comparable across runs of one version.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rec_core.config import StrictModel

# Bump when a template changes: adapters trained under one version are evaluated with the same version.
PROMPT_VERSION = "lcrec-prompts-2"  # 2: + search, preference (the v1 templates are unchanged)

HEADER = "### Instruction:\n{instruction}\n### Response:\n"

TEMPLATES: dict[str, list[str]] = {
    "seqrec": [
        "The user interacted with these items in order: {history}. Which item will the user interact with next?",
        "Here is the user's history: {history}. Predict the next item.",
        "Given the items {history}, recommend the next item for this user.",
    ],
    "item2index": [
        'Which item has the title "{title}"?',
        'Give the ID of the item titled "{title}".',
    ],
    "index2item": [
        "What is the title of item {sid}?",
        "Tell me the title of the item {sid}.",
    ],
    "fusion": [
        "The user watched or bought these items in order: {titles}. Give the ID of the next item.",
        "History by title: {titles}. Which item comes next?",
    ],
    "enrich": [
        'Item {sid} is titled "{title}". Write its {field}.',
        'Describe the {field} of the item {sid} ("{title}").',
    ],
    "search": [
        "Find an item that matches: {keywords}.",
        'Which item fits the description "{keywords}"?',
    ],
    "preference": [
        "The user interacted with these items in order: {history}. What does the user like?",
        "Here is the user's history: {history}. Describe the user's preferences.",
    ],
}
TASKS = tuple(TEMPLATES)


class TaskRatios(StrictModel):
    """Multipliers on each task's natural example count (see the module docstring)."""

    seqrec: float = 1.0
    item2index: float = 1.0
    index2item: float = 0.5
    fusion: float = 0.5
    enrich: float = 0.5
    search: float = 0.5
    preference: float = 0.1


@dataclass
class ItemText:
    """Per item index: its SID text, its title (None for ID-only data) and the enrich reference field."""

    sids: list[str]
    titles: list[str] | None = None
    enrich_field: str | None = None  # e.g. "genres"
    enrich: list[str | None] | None = None  # the held-out reference text per item
    keywords: list[list[str]] | None = None  # per item: its genres / tags / categories (search and preference)


def render(task: str, template: int = 0, **fields) -> str:
    return HEADER.format(instruction=TEMPLATES[task][template].format(**fields))


def seqrec_prompt(history: Sequence[int], items: ItemText, max_history: int, template: int = 0) -> str:
    h = list(history)[-max_history:]
    return render("seqrec", template, history=", ".join(items.sids[i] for i in h))


def fusion_prompt(history: Sequence[int], items: ItemText, max_titles: int, template: int = 0) -> str:
    h = list(history)[-max_titles:]
    return render("fusion", template, titles="; ".join(f'"{items.titles[i]}"' for i in h))


def item2index_prompt(item: int, items: ItemText, template: int = 0) -> str:
    return render("item2index", template, title=items.titles[item])


def enrich_prompt(item: int, items: ItemText, template: int = 0) -> str:
    return render("enrich", template, sid=items.sids[item], title=items.titles[item], field=items.enrich_field)


def search_prompt(item: int, items: ItemText, template: int = 0) -> str:
    return render("search", template, keywords=", ".join(items.keywords[item]))


def preference_target(history: Sequence[int], items: ItemText, allowed: set[int] | None = None, top: int = 3) -> str:
    """The `top` keywords most frequent over the history's items (ties: the most recent first); items outside
    `allowed` do not count (their keywords are held out for item-enrich)."""
    counts: dict[str, tuple[int, int]] = {}
    for pos, i in enumerate(history):
        if allowed is not None and i not in allowed:
            continue
        for k in items.keywords[i]:
            n, _ = counts.get(k, (0, 0))
            counts[k] = (n + 1, pos)
    best = sorted(counts, key=lambda k: (-counts[k][0], -counts[k][1]))[:top]
    return ", ".join(best)


def _count(ratio: float, n: int, rng) -> np.ndarray:
    """Indices 0..n-1 chosen `ratio` times over (whole repeats, then a random share)."""
    whole, frac = int(ratio), ratio - int(ratio)
    picks = [np.arange(n)] * whole
    if frac > 0:
        picks.append(rng.choice(n, size=int(round(frac * n)), replace=False))
    return np.concatenate(picks) if picks else np.zeros(0, np.int64)


def training_examples(
    train_seqs: dict | Sequence[Sequence[int]],
    items: ItemText,
    ratios: TaskRatios,
    max_history: int = 20,
    fusion_titles: int = 10,
    enrich_items: Sequence[int] | None = None,
    seed: int = 0,
) -> list[tuple[str, str, str]]:
    """-> [(task, prompt, target)], shuffled. `train_seqs`: each user's training items (time order);
    `enrich_items`: the items whose enrich examples may be trained on (the rest are held out for BLEU/ROUGE)."""
    rng = np.random.default_rng(seed)
    seqs = list(train_seqs.values()) if isinstance(train_seqs, dict) else list(train_seqs)
    positions = [(u, t) for u, s in enumerate(seqs) for t in range(1, len(s))]
    n_items = len(items.sids)
    out: list[tuple[str, str, str]] = []

    def tpl(task):
        return int(rng.integers(len(TEMPLATES[task])))

    for j in _count(ratios.seqrec, len(positions), rng):
        u, t = positions[j]
        s = seqs[u]
        out.append(("seqrec", seqrec_prompt(s[:t], items, max_history, tpl("seqrec")), items.sids[s[t]]))
    if items.titles is not None:
        for i in _count(ratios.item2index, n_items, rng):
            out.append(("item2index", item2index_prompt(i, items, tpl("item2index")), items.sids[i]))
        for i in _count(ratios.index2item, n_items, rng):
            out.append(("index2item", render("index2item", tpl("index2item"), sid=items.sids[i]), items.titles[i]))
        for j in _count(ratios.fusion, len(positions), rng):
            u, t = positions[j]
            s = seqs[u]
            out.append(("fusion", fusion_prompt(s[:t], items, fusion_titles, tpl("fusion")), items.sids[s[t]]))
        if items.enrich is not None:
            pool = np.asarray(
                [i for i in (range(n_items) if enrich_items is None else enrich_items) if items.enrich[i]], np.int64
            )
            for j in _count(ratios.enrich, len(pool), rng):
                i = int(pool[j])
                out.append(("enrich", enrich_prompt(i, items, tpl("enrich")), items.enrich[i]))
    if items.keywords is not None:
        allowed = set(range(n_items) if enrich_items is None else (int(i) for i in enrich_items))
        pool = np.asarray([i for i in sorted(allowed) if items.keywords[i]], np.int64)
        for j in _count(ratios.search, len(pool), rng):
            i = int(pool[j])
            out.append(("search", search_prompt(i, items, tpl("search")), items.sids[i]))
        for j in _count(ratios.preference, len(positions), rng):
            u, t = positions[j]
            h = list(seqs[u][:t])[-max_history:]
            target = preference_target(h, items, allowed)
            if target:
                prompt = render("preference", tpl("preference"), history=", ".join(items.sids[i] for i in h))
                out.append(("preference", prompt, target))
    order = rng.permutation(len(out))
    return [out[k] for k in order]


def encode_example(tokenizer, prompt: str, target: str, max_len: int) -> tuple[list[int], list[int]]:
    """-> (input_ids, labels): labels are -100 on the prompt, so the loss is on the target (+ EOS) only. Too long:
    the prompt is cut from the left (the oldest history goes first), the target is kept whole."""
    p = prompt_ids(tokenizer, prompt)
    t = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    keep = max(max_len - len(t), 1)
    p = p[-keep:]
    return p + t, [-100] * len(p) + t


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    """A prompt's token ids exactly as training saw them (BOS first when the tokenizer has a distinct one)."""
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if tokenizer.bos_token_id is not None and tokenizer.bos_token_id != tokenizer.eos_token_id:
        p = [tokenizer.bos_token_id] + p
    return p
