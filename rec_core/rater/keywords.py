"""Aesthetic keywords from a VLM reply, mapped onto a fixed vocabulary -> multi-hot / TF-IDF features.

A VLM asked for poster keywords answers in free text ("Dark, moody; neon lights and a lone figure.").
We split the reply into candidate phrases and fuzzy-match each against a fixed vocabulary, so that
near-misses ("moodiness", "neon-lit") still count and words outside the vocabulary are dropped (and
counted) rather than creating one-off columns.
"""

from __future__ import annotations

import re

import numpy as np
from rapidfuzz import fuzz, process

POSTER_PROMPT = (
    "Describe the visual style of this movie poster with 5 to 8 short aesthetic keywords "
    "(mood, colour palette, composition, typography). Answer with a comma-separated list only."
)

AESTHETIC_VOCAB = [
    "dark",
    "bright",
    "colorful",
    "monochrome",
    "muted",
    "vibrant",
    "neon",
    "pastel",
    "warm",
    "cold",
    "minimalist",
    "busy",
    "symmetrical",
    "close-up",
    "portrait",
    "silhouette",
    "landscape",
    "crowd",
    "action",
    "explosion",
    "romantic",
    "moody",
    "mysterious",
    "whimsical",
    "playful",
    "dramatic",
    "gritty",
    "elegant",
    "retro",
    "vintage",
    "futuristic",
    "fantasy",
    "horror",
    "comic",
    "animated",
    "illustrated",
    "photographic",
    "bold typography",
    "handwritten",
    "serif",
    "large title",
    "text-heavy",
    "blue",
    "red",
    "orange",
    "green",
    "yellow",
    "black",
    "white",
    "gold",
    "high contrast",
    "low key",
]

_SPLIT = re.compile(r"[,;\n/|]+|\.\s|\band\b|\d+\.\s*")


def split_reply(reply: str) -> list[str]:
    """Candidate phrases from a free-text reply: split on separators, strip bullets and quotes."""
    parts = []
    for chunk in _SPLIT.split(reply or ""):
        chunk = chunk.strip().strip("-*•\"'`.:()[]").strip().lower()
        if 0 < len(chunk) <= 40:
            parts.append(chunk)
    return parts


def parse_keywords(
    reply: str, vocab: list[str] = AESTHETIC_VOCAB, min_score: float = 85.0
) -> tuple[list[str], list[str]]:
    """(matched vocabulary keywords, unmatched phrases). Each phrase maps to at most one keyword;
    every single word of a multi-word phrase is also tried ("dark moody palette" -> dark, moody)."""
    matched: list[str] = []
    unmatched: list[str] = []
    for phrase in split_reply(reply):
        hits = set()
        for cand in {phrase, *phrase.split()}:
            best = process.extractOne(cand, vocab, scorer=fuzz.ratio, score_cutoff=min_score)
            if best is not None:
                hits.add(best[0])
        if hits:
            matched.extend(h for h in sorted(hits) if h not in matched)
        else:
            unmatched.append(phrase)
    return matched, unmatched


def keyword_matrix(
    keyword_lists: list[list[str]], vocab: list[str] = AESTHETIC_VOCAB, tfidf: bool = True
) -> np.ndarray:
    """Rows = posters, columns = vocabulary. Multi-hot, optionally IDF-weighted (smooth idf)."""
    index = {k: i for i, k in enumerate(vocab)}
    m = np.zeros((len(keyword_lists), len(vocab)), dtype=np.float32)
    for r, kws in enumerate(keyword_lists):
        for k in kws:
            if k in index:
                m[r, index[k]] = 1.0
    if tfidf and len(keyword_lists):
        df = m.sum(axis=0)
        idf = np.log((1 + len(keyword_lists)) / (1 + df)) + 1.0
        m = m * idf[None, :].astype(np.float32)
    return m


def keyword_column(k: str) -> str:
    return "kw_" + re.sub(r"[^a-z0-9]+", "_", k.lower()).strip("_")
