"""Find the movie titles a user mentions, fuzzily, and the clause each one sits in.

Candidate spans are the word n-grams of the message (up to the longest title's length) plus any quoted
text. Each span is scored against the normalised catalogue titles with rapidfuzz; the best
non-overlapping matches above a threshold win, longer spans first. One-word spans must match a title
exactly and be capitalised in the message, so "heat" in "I can't stand the heat" is not the movie Heat.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process

_WORD_RE = re.compile(r"[\w'’:&\-]+", re.UNICODE)
_CLAUSE_SPLIT = re.compile(
    r"[.!?;\n]+|,?\s+\b(?:but|however|whereas|although|though|while|yet)\b\s+"
    r"|,\s+(?=(?:not|no|except|definitely not)\b)",
    re.IGNORECASE,
)
_ARTICLE = re.compile(r"^(the|a|an)\s+")
_NUMBERED = re.compile(r"^(?:part|episode|chapter|vol|volume|book)\b")
# a fuzzy span that starts or ends with one of these is a phrase around a title, not a title
_EDGE_WORDS = {
    "the",
    "a",
    "an",
    "and",
    "or",
    "but",
    "of",
    "to",
    "in",
    "on",
    "like",
    "loved",
    "love",
    "liked",
    "hated",
    "hate",
    "i",
    "me",
    "my",
    "was",
    "is",
    "were",
    "not",
    "movie",
    "film",
    "really",
    "enjoyed",
    "watched",
    "than",
}
_COMMON_ONE_WORD = {
    "the",
    "it",
    "up",
    "her",
    "him",
    "me",
    "you",
    "this",
    "that",
    "love",
    "movie",
    "film",
    "movies",
    "films",
    "i",
}


def normalise_title(s: str) -> str:
    s = unicodedata.normalize("NFKD", str(s)).encode("ascii", "ignore").decode().lower()
    s = s.replace("&", " and ").replace("’", "'")
    s = re.sub(r"[^a-z0-9' ]+", " ", s)
    s = re.sub(r"\s+", " ", s).strip()
    return _ARTICLE.sub("", s)


def title_aliases(title: str) -> list[str]:
    """Normalised forms a user may write: the title, the title without / inside its brackets, its franchise
    prefix and its subtitle."""
    out = [normalise_title(title)]
    m = re.match(r"^(.*?)\s*\((.+)\)\s*$", str(title))
    if m:
        from rec_core.rag.catalogue import display_title

        out += [normalise_title(m.group(1)), normalise_title(display_title(m.group(2).removeprefix("a.k.a. ")))]
    # franchise prefix: "Star Wars: Episode IV - A New Hope" -> "star wars" (the most popular movie keeps it)
    head = str(title).split(":")[0]
    if ":" in str(title) and len(head.split()) >= 2:
        out.append(normalise_title(head))
    # subtitle: "Kingsman: The Golden Circle" -> "golden circle", "Star Wars: Episode I - The Phantom Menace" ->
    # "phantom menace", "The Hunger Games: Mockingjay - Part 2" -> "mockingjay part 2"; two words at least, and
    # not a bare "Part 2"
    bare = re.sub(r"\s*\(.*\)\s*$", "", str(title))
    for tail in (bare.split(":", 1)[1] if ":" in bare else "", bare.rsplit(" - ", 1)[1] if " - " in bare else ""):
        norm = normalise_title(tail)
        if len(norm.split()) >= 2 and not _NUMBERED.match(norm):
            out.append(norm)
    return [a for a in dict.fromkeys(out) if a]


@dataclass
class Mention:
    item_id: int
    title: str
    year: int | None
    span: str  # the text the user wrote
    score: float  # rapidfuzz score, 0..100
    clause: str  # the clause of the message that holds the span (for per-title sentiment)
    start: int
    end: int


class TitleMatcher:
    def __init__(self, titles: pd.DataFrame, min_score: float = 88.0, max_words: int | None = None):
        """titles: item_id, title, year, popularity (the store's `titles()` frame)."""
        df = titles.reset_index(drop=True)
        # MovieLens keeps alternative titles in brackets: "Amelie (Fabuleux destin d'Amélie Poulain, Le)"
        df["norm"] = [title_aliases(t) for t in df["title"]]
        df = df.explode("norm")
        df = df[df["norm"].str.len() > 0]
        df["alias"] = df.groupby(level=0).cumcount() > 0  # the title itself comes first in title_aliases
        # several movies can share a normalised title (remakes): a movie's own title beats another's alias
        # ("First Contact" vs "Star Trek: First Contact"), then the most popular is the match
        df = df.sort_values(["alias", "popularity"], ascending=[True, False], kind="stable").drop_duplicates("norm")
        self.norms: list[str] = df["norm"].tolist()
        self.rows = df[["item_id", "title", "year"]].to_dict("records")
        self.max_words = (
            min(max((len(n.split()) for n in self.norms), default=1), 10) if max_words is None else max_words
        )
        self.exact = {n: i for i, n in enumerate(self.norms)}
        self.min_score = min_score

    def _spans(self, text: str) -> list[tuple[int, int, str]]:
        words = [(m.start(), m.end(), m.group()) for m in _WORD_RE.finditer(text)]
        spans = []
        for i in range(len(words)):
            for n in range(1, self.max_words + 1):
                if i + n > len(words):
                    break
                s, e = words[i][0], words[i + n - 1][1]
                spans.append((s, e, text[s:e]))
        for m in re.finditer(r"[\"“”']([^\"“”']{2,120})[\"“”']", text):
            spans.append((m.start(1), m.end(1), m.group(1)))
        return spans

    def extract(self, text: str, max_mentions: int = 10) -> list[Mention]:
        if not self.norms or not text.strip():
            return []
        spans = self._spans(text)
        cands: list[tuple[float, int, int, int, str]] = []  # (score, length, start, title index, span)
        fuzzy_spans = []
        for s, e, span in spans:
            norm = normalise_title(span)
            if not norm:
                continue
            one_word = len(norm.split()) == 1
            if norm in self.exact:
                # short one-word titles ("Heat", "Up") are everyday words: only a capitalised mention counts
                last = span.split()[-1]
                capital = last[:1].isupper()
                if one_word and (norm in _COMMON_ONE_WORD or len(norm) < 3):
                    # "Up", "Her": a common word counts only when capitalised inside a sentence
                    starts_sentence = not text[:s].strip() or bool(re.search(r"[.!?:;]\s*$", text[:s]))
                    if not capital or starts_sentence or norm in {"i", "me", "the", "it", "this", "that"}:
                        continue
                elif one_word and len(norm) < 7 and not capital:
                    continue
                cands.append((100.0, e - s, s, self.exact[norm], span))
            elif (
                not one_word
                and len(norm) >= 8
                and not ({span.split()[0].lower(), span.split()[-1].lower()} & _EDGE_WORDS)
            ):
                fuzzy_spans.append((s, e, span, norm))
        if fuzzy_spans:
            scores = process.cdist(
                [f[3] for f in fuzzy_spans],
                self.norms,
                scorer=fuzz.ratio,
                score_cutoff=self.min_score,
                dtype=np.uint8,
                workers=1,
            )
            for row, (s, e, span, _) in enumerate(fuzzy_spans):
                j = int(scores[row].argmax())
                if scores[row, j] >= self.min_score:
                    cands.append((float(scores[row, j]), e - s, s, j, span))
        taken: list[tuple[int, int]] = []
        out: list[Mention] = []
        seen = set()
        # longest matched title first (so "The Matrix Reloaded" beats "The Matrix"), then the better score,
        # then the tighter span
        for score, length, start, j, span in sorted(cands, key=lambda c: (-len(self.norms[c[3]]), -c[0], c[1])):
            end = start + length
            if any(start < te and ts < end for ts, te in taken) or j in seen:
                continue
            taken.append((start, end))
            seen.add(j)
            row = self.rows[j]
            year = row["year"]
            out.append(
                Mention(
                    int(row["item_id"]),
                    row["title"],
                    None if pd.isna(year) else int(year),
                    span,
                    score,
                    clause_around(text, start, end),
                    start,
                    end,
                )
            )
        out.sort(key=lambda m: m.start)
        return out[:max_mentions]


def clause_around(text: str, start: int, end: int) -> str:
    """The clause (split at sentence ends and 'but'/'however'/...) that contains text[start:end]."""
    bounds = [0]
    for m in _CLAUSE_SPLIT.finditer(text):
        if m.start() >= end or m.end() <= start:
            bounds.extend([m.start(), m.end()])
    bounds.append(len(text))
    pieces = list(zip(bounds[0::2], bounds[1::2]))
    for s, e in pieces:
        if s <= start and end <= e:
            return text[s:e].strip()
    return text.strip()
