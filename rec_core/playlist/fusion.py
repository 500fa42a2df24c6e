"""Keyword-prior fusion: the T5's decoding steered towards the items a text's keywords retrieve.

Shallow fusion (as an LM is fused into a translation model's beam search): every generated item gets a bonus
B_i = weight * s_i, where s_i is the item's share of the training lists whose text shares a word with it
(rec_core.playlist.baselines.WordPopularity.shares). A rare keyword (a tag: a few lists, most holding the item)
gives a large bonus; a genre word carried by hundreds of lists gives a small one and leaves the list to the T5.

An item is several semantic-ID tokens, and beam search prunes after each token, so the bonus is paid out along the
item's path: a token that extends the prefix p to p + t gets M(p + t) - M(p), where M(q) is the largest bonus of a
candidate under prefix q (0 off every candidate path). The payments telescope to exactly B_i for a finished
candidate and to 0 for any other item, and a beam sees a candidate's promise at its first token.

It is a `transformers` LogitsProcessor, applied after the list constraint inside `generate` (beam search adds it to
the log-probabilities it ranks beams by).
"""

from __future__ import annotations

import torch
from transformers import LogitsProcessor

TOP_ITEMS = 50  # candidates per text that carry a bonus


def bonus_table(
    shares: dict[int, float], tokens_of_item: dict, weight: float, top: int = TOP_ITEMS
) -> dict[tuple, float]:
    """A candidate's full token path -> its bonus, for the `top` items by share."""
    best = sorted(((s, i) for i, s in shares.items() if i in tokens_of_item), key=lambda x: (-x[0], x[1]))[:top]
    return {tuple(tokens_of_item[item]): weight * share for share, item in best}


class KeywordPriorFusion(LogitsProcessor):
    """Adds each row's keyword-prior payments to the scores. `tables[b]` is text b's bonus_table; rows of the
    generate batch are text-major (`rows_per_text` = num_beams in beam search, 1 otherwise). Items the row has
    already generated are no longer candidates: the list constraint forbids repeating them, so a prefix must not
    promise their bonus."""

    def __init__(self, tables: list[dict[tuple, float]], depth: int, start_tokens: int = 1, rows_per_text: int = 1):
        self.tables, self.depth, self.start, self.rows_per_text = tables, depth, start_tokens, rows_per_text

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        bonus = torch.zeros_like(scores)
        for row, seq in enumerate(input_ids.tolist()):
            table = self.tables[row // self.rows_per_text]
            if not table:
                continue
            gen = seq[self.start :]
            cut = len(gen) - len(gen) % self.depth
            used = {tuple(gen[k : k + self.depth]) for k in range(0, cut, self.depth)}
            prefix, n = tuple(gen[cut:]), len(gen) - cut
            paid, best_next = 0.0, {}
            for path, b in table.items():
                if path[:n] != prefix or path in used:
                    continue
                if n:
                    paid = max(paid, b)  # M(prefix): what this item has been paid so far (nothing at its start)
                best_next[path[n]] = max(best_next.get(path[n], 0.0), b)
            if not paid and not best_next:
                continue
            bonus[row] -= paid  # leaving the candidate paths gives back what this item was paid so far
            for tok, b in best_next.items():
                bonus[row, tok] += b
        return scores + bonus
