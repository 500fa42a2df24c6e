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
    for session titles, which are made of genre and tag words.

    `leave_own_text_out=True` scores a *training* text as if it were held out: the lists written under that exact
    text are taken out of the counts, which is what a held-out text meets at test time (whole texts are held out).
    The playlist T5 reads these lists as retrieved candidates (`model.candidates`)."""

    def __init__(self, train_texts: Sequence[str], train_lists: Sequence[Sequence[int]]):
        self.by_word: dict[str, Counter] = {}
        self.by_text: dict[str, Counter] = {}
        self.overall: Counter = Counter()
        self.lists_of_word: Counter = Counter()  # training lists under a text with the word
        self.lists_of_text: Counter = Counter()
        for text, lst in zip(train_texts, train_lists):
            items = set(int(i) for i in lst)
            self.overall.update(items)
            self.by_text.setdefault(str(text), Counter()).update(items)
            self.lists_of_text[str(text)] += 1
            for w in _words(text):
                self.by_word.setdefault(w, Counter()).update(items)
                self.lists_of_word[w] += 1

    def counts(self, text: str, leave_own_text_out: bool = False) -> Counter:
        words = _words(text)
        counts: Counter = Counter()
        for w in words:
            counts.update(self.by_word.get(w, Counter()))
        own = self.by_text.get(str(text), Counter()) if leave_own_text_out else Counter()
        if own:
            # each list under this text added 1 per word of it (and the words are the same set)
            counts.subtract({i: c * len(words) for i, c in own.items()})
            counts = +counts  # drop the items left at zero
        if not counts:
            counts = +(self.overall - own)
        return counts

    def shares(self, text: str, leave_own_text_out: bool = False) -> dict[int, float]:
        """Each counted item's share of the (word, list) matches behind `counts`: for a one-word text, the share of
        the lists under that word that hold the item. A rare word (a tag) gives shares near 1, a genre word that
        hundreds of lists carry gives small ones: how much the keywords alone say about the list."""
        words = _words(text)
        own = self.lists_of_text[str(text)] if leave_own_text_out else 0
        matched = sum(self.lists_of_word[w] for w in words) - own * len(words)
        counts = self.counts(text, leave_own_text_out)
        if matched <= 0:  # no word matched: counts fell back to overall popularity
            matched = sum(self.lists_of_text.values()) - own
        return {i: c / matched for i, c in counts.items()} if matched > 0 else {}

    def lists(self, texts: Sequence[str], length: int, leave_own_text_out: bool = False) -> list[list[int]]:
        out = []
        for text in texts:
            counts = self.counts(text, leave_own_text_out)
            out.append([i for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:length]])
        return out


def _words(text) -> set[str]:
    return set(str(text).lower().split())
