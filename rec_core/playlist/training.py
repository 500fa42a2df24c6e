"""Pieces of the training loop that need no Ray: the training recipe's extra pairs and target shuffling, and
the per-epoch validation decode.

Two recipe choices, both measured in BENCHMARKS.md (playlist section):
- **Shuffled targets.** A list's order (time of tagging or rating) says little; relevance is membership. Training
  on a fresh random order of each list every epoch teaches the decoder "which items belong to this text" at every
  position instead of one arbitrary order.
- **Genre pairs.** Catalogue knowledge the training lists only hint at: for every set of one or two genres, the
  text written the way session titles are ("comedy drama") -> the genre set's most popular movies in the
  *training* lists. A pair whose text is a held-out (valid/test) text is never made, so no held-out text is seen.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable

import torch

from rec_core.playlist.metrics import list_metrics
from rec_core.playlist.model import PairCollator, PlaylistT5, build_constraint


def group_by_text(pairs) -> dict[str, list[list[int]]]:
    out: dict[str, list[list[int]]] = defaultdict(list)
    for text, items, *_ in pairs:
        out[text].append(list(items))
    return out


def genre_pairs(
    train_pairs: Iterable[tuple[str, list[int]]],
    item_genres: dict[int, list[str]],
    held_out_texts: set[str],
    length: int,
    min_items: int = 3,
) -> list[tuple[str, list[int]]]:
    """(genre-set text, its most popular training-list movies) for every 1- and 2-genre set with >= min_items
    movies, skipping held-out texts. Popularity = number of training lists containing the movie (ties: item id)."""
    pop = Counter(i for _, items in train_pairs for i in set(items))
    ranked = sorted(pop, key=lambda i: (-pop[i], i))
    names = sorted({g for gs in item_genres.values() for g in gs})
    genre_sets = {i: set(item_genres.get(i, ())) for i in ranked}
    out = []
    for a_i, a in enumerate(names):
        for b in names[a_i:]:
            wanted = {a, b}
            text = " ".join(g.lower() for g in sorted(wanted))  # the session-title format (corpus.session_title)
            if text in held_out_texts:
                continue
            items = [i for i in ranked if wanted <= genre_sets[i]][:length]
            if len(items) >= min_items:
                out.append((text, items))
    return out


class ShuffledTargets:
    """Collate wrapper: each list in a batch in a fresh random order (seeded, so a resumed run is repeatable)."""

    def __init__(self, collate, seed: int):
        self.collate, self.rng = collate, random.Random(seed)

    def __call__(self, rows: list[tuple]) -> dict:
        # rows may carry a third field (the text's retrieved candidates): passed on as it is
        return self.collate([(r[0], self.rng.sample(list(r[1]), len(r[1])), *r[2:]) for r in rows])


@torch.no_grad()
def valid_metrics(
    model: PlaylistT5, collate: PairCollator, vocab, valid_pairs, length: int, batch: int = 32
) -> dict[str, float]:
    """Greedy constrained lists for the valid texts -> valid/recall@10, valid/ndcg@10 (cheap enough per epoch).
    `valid_pairs` rows are (text, items) or, for a model that reads candidates, (text, items, candidates)."""
    if not valid_pairs:
        return {}
    by_text = group_by_text(valid_pairs)
    cands = {r[0]: r[2] for r in valid_pairs if len(r) > 2}
    texts = sorted(by_text)
    constraint = build_constraint(vocab, length)
    dev = next(model.parameters()).device
    preds: dict[str, list[int]] = {}
    for s in range(0, len(texts), batch):
        chunk = texts[s : s + batch]
        enc = collate.encode_inputs(chunk, [cands[t] for t in chunk] if collate.candidates else None)
        enc = {k: v.to(dev) for k, v in enc.items()}
        out = model.generate_lists(
            enc["input_ids"], enc["attention_mask"], constraint, mode="greedy", cand_ids=enc.get("cand_ids")
        )
        for t, seq in zip(chunk, out.tolist()):
            preds[t] = vocab.decode_list(seq[1:])[0]
    p, y = zip(*[(preds[t], items) for t in texts for items in by_text[t]])
    m = list_metrics(p, y, ks=(10,))
    return {f"valid/{k}": v for k, v in m.items()}
