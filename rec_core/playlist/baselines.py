"""Baselines for text -> list: popularity (one list for every text) and MiniLM text-to-item similarity."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np


def popularity_list(
    train_lists: Sequence[Sequence[int]], length: int, catalogue: Sequence[int] | None = None
) -> list[int]:
    """The `length` items that occur in most training lists (ties: smaller item id)."""
    allowed = set(catalogue) if catalogue is not None else None
    counts = Counter(i for lst in train_lists for i in set(lst) if allowed is None or i in allowed)
    return [i for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:length]]


def item_text(row) -> str:
    """What the retrieval baseline and the semantic IDs read about a movie: title and genres (never tags,
    which are the held-out texts of the tag source)."""
    genres = row.get("genres")
    genres = list(genres) if genres is not None and not isinstance(genres, float) else []
    return f"{row['title']}. Genres: {', '.join(genres)}" if genres else str(row["title"])


class TextRetrieval:
    """Cosine similarity between a sentence embedding of the text and of each item's text.

    `encode`: texts -> float32 [n, d], the encoder the item vectors came from (rec_core.encoders.SentenceEncoder)."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], item_ids: Sequence[int], item_emb: np.ndarray):
        self.encode = encode
        self.item_ids = np.asarray(item_ids)
        emb = np.asarray(item_emb, dtype=np.float32)
        self.item_emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)

    def lists(self, texts: Sequence[str], length: int) -> list[list[int]]:
        q = np.asarray(self.encode(list(texts)), dtype=np.float32)
        q /= np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        scores = q @ self.item_emb.T
        top = np.argsort(-scores, axis=1, kind="stable")[:, :length]
        return [[int(self.item_ids[j]) for j in row] for row in top]


class WordPopularity:
    """Keyword popularity: the most frequent items among training lists whose text shares a word with the query
    (words = lower-case whitespace tokens); overall popularity when no word matches. A strong, honest reference
    for session titles, which are made of genre and tag words."""

    def __init__(self, train_texts: Sequence[str], train_lists: Sequence[Sequence[int]]):
        self.by_word: dict[str, Counter] = {}
        self.overall: Counter = Counter()
        for text, lst in zip(train_texts, train_lists):
            items = set(int(i) for i in lst)
            self.overall.update(items)
            for w in set(str(text).lower().split()):
                self.by_word.setdefault(w, Counter()).update(items)

    def lists(self, texts: Sequence[str], length: int) -> list[list[int]]:
        out = []
        for text in texts:
            counts: Counter = Counter()
            for w in set(str(text).lower().split()):
                counts.update(self.by_word.get(w, Counter()))
            counts = counts or self.overall
            out.append([i for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:length]])
        return out
