"""The query path: message -> input checks -> per-mention preferences -> constrained retrieval -> checked LLM answer.

Preferences (rec_core.rag.preferences): each mentioned title and genre gets the sentiment of its own span.
Retrieval query: q = normalise(w_liked * mean(liked movie vectors) - w_dislike * mean(disliked movie vectors));
with no liked title, the positive free text of the message (titles and negative spans cut out) plus the liked
genres is embedded instead. Candidates are re-ranked with a bonus for liked genres and a penalty for resembling
a disliked movie (max cosine to any of them), and hard-filtered: no mentioned title, no disliked title's
franchise, no excluded genre. When the best candidate's similarity to the positive part of the query is below
`similarity_threshold`, the catalogue has nothing close: the LLM answers alone and the reply says so.
The LLM's answer is checked (rec_core.rag.llm.check_llm_answer): repeated lines and lines naming movies outside
the recommendations are dropped.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from rec_core.config import StrictModel
from rec_core.rag.index import VectorIndex, normalise
from rec_core.rag.llm import LLMBackend, LLMConfig, LLMError, check_llm_answer
from rec_core.rag.preferences import (
    GENRE_GROUPS,
    Preferences,
    cue_polarity,
    genre_set,
    parse_preferences,
    split_spans,
)
from rec_core.rag.prompt import build_messages
from rec_core.rag.safety import check_input
from rec_core.rag.store import MovieStore
from rec_core.rag.titles import TitleMatcher

STORE_FILE, INDEX_FILE, SENTIMENT_FILE, META_FILE = (
    "movies.sqlite",
    "movies.faiss",
    "sentiment_logreg.npz",
    "index_meta.json",
)


class QueryConfig(StrictModel):
    top_k: int = Field(5, ge=1, le=50)
    candidates: int = Field(60, ge=1, description="neighbours fetched before re-ranking")
    similarity_threshold: float = Field(0.35, ge=-1, le=1, description="below this best cosine: LLM-only fallback")
    liked_weight: float = Field(1.0, ge=0)
    text_weight: float = Field(
        0.5, ge=0, description="unused since retrieval reads the parsed preferences; kept for old configs"
    )
    dislike_weight: float = Field(
        0.5, ge=0, description="pushes the query away from disliked movies and penalises look-alikes"
    )
    genre_weight: float = Field(0.1, ge=0, description="bonus for a candidate in a genre the user asked for")
    popularity_weight: float = Field(
        0.05, ge=0, description="small prior for well-known movies (popularity percentile, 0..1)"
    )
    positive_threshold: float = Field(
        0.5, gt=0, lt=1, description="P(positive) at or above which a mentioned movie counts as liked"
    )
    max_input_chars: int = Field(1000, ge=1)
    min_title_score: float = Field(88.0, ge=50, le=100)
    use_llm: bool = Field(True, description="False: answer with the ranked list only (no LLM)")


class RagConfig(StrictModel):
    index_dir: Path | None = Field(None, description="output of `genrec run rag_index` (…/index)")
    sentiment_model: Path | None = Field(
        None, description="a `rag_sentiment` model dir; default: the index's frozen-embedding logistic regression"
    )
    query: QueryConfig = Field(default_factory=QueryConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)


@dataclass
class ChatReply:
    answer: str
    kind: str = "ok"  # ok | fallback | empty | too_long | sql_like | prompt_injection
    recommendations: list[dict] = field(default_factory=list)
    mentions: list[dict] = field(default_factory=list)
    liked_genres: list[str] = field(default_factory=list)
    excluded_genres: list[str] = field(default_factory=list)
    best_similarity: float | None = None
    summary: str = ""  # the mentions and genres as read from the message
    llm: str | None = None
    llm_answer: str | None = None  # the LLM's text after the repetition and catalogue checks
    llm_dropped: list[str] = field(default_factory=list)  # LLM lines removed by those checks
    llm_error: str | None = None
    timings_ms: dict = field(default_factory=dict)

    @property
    def fallback(self) -> bool:
        return self.kind == "fallback"

    def to_dict(self) -> dict:
        return {**asdict(self), "fallback": self.fallback}


class RagRecommender:
    def __init__(
        self, store: MovieStore, index: VectorIndex, encode, sentiment, llm: LLMBackend | None, cfg: QueryConfig
    ):
        self.store, self.index, self.encode, self.sentiment, self.llm, self.cfg = (
            store,
            index,
            encode,
            sentiment,
            llm,
            cfg,
        )
        titles = store.titles()
        self.matcher = TitleMatcher(titles, min_score=cfg.min_title_score)
        # catalogue popularity is already a 0..1 percentile
        self.pop_prior = dict(zip(titles["item_id"].astype(int), titles["popularity"].fillna(0).astype(float)))

    # ---- preferences and retrieval -------------------------------------------------------
    def parse(self, text: str) -> Preferences:
        """Titles and genres the message mentions, each with the sentiment of its own span."""
        return parse_preferences(text, self.matcher.extract(text), self.sentiment, self.cfg.positive_threshold)

    def classify_mentions(self, text: str) -> list[dict]:
        return self.parse(text).mentions

    def _query_text(self, text: str, prefs: Preferences) -> str:
        """The words of the message that describe what the user wants: the spans without a negative cue, with
        the titles cut out ("a slow-burn space thriller"). Empty when it has fewer than two words."""
        spans = split_spans(text, [(m["start"], m["end"]) for m in prefs.mentions])
        keep = " ".join(sp.text for sp in spans if cue_polarity(sp.text) >= 0)
        for m in sorted(prefs.mentions, key=lambda m: -len(m["span"])):
            keep = keep.replace(m["span"], " ")
        keep = re.sub(r"\s+", " ", keep).strip()
        return keep if len(re.findall(r"[A-Za-z]{3,}", keep)) >= 2 else ""

    def retrieve(self, text: str, prefs: Preferences) -> tuple[list[dict], float]:
        """Ranked recommendations that satisfy the constraints, and the best positive similarity.

        The query comes from the parsed preferences: the liked titles' vectors, else the liked genres and the
        message's positive free text (never the disliked spans, so 'Hated Titanic' cannot match 'Titans')."""
        c = self.cfg
        liked = [m["item_id"] for m in prefs.liked]
        disliked = [m["item_id"] for m in prefs.disliked]
        positive = np.zeros(self.index.dim, np.float32)
        if liked:
            _, lv = self.store.embeddings(liked)
            if len(lv):
                positive += c.liked_weight * normalise(normalise(lv).mean(0))[0]
        if not positive.any():
            words = self._query_text(text, prefs)
            if prefs.liked_genres:
                words = (words + ". " if words else "") + "Genres: " + ", ".join(prefs.liked_genres)
            if words:
                positive += self.encode([words])[0]
        if not positive.any():
            return [], -1.0
        q_pos = normalise(positive)[0]
        dv = None
        q = q_pos
        if disliked and len(self.store.embeddings(disliked)[0]):
            _, dv = self.store.embeddings(disliked)
            dv = normalise(dv)
            q = normalise(q_pos - c.dislike_weight * normalise(dv.mean(0))[0])[0]
        constrained = bool(prefs.disliked or prefs.excluded_genres)
        k = c.candidates + len(prefs.mentions)
        if constrained:  # the filter may drop most neighbours (a whole genre): look further
            k = max(k, c.candidates * 10)
        _, ids = self.index.search(q, k)
        cand = [int(i) for i in ids[0] if i >= 0]
        meta = {m["item_id"]: m for m in self.store.movies(cand)}
        cand = [i for i in cand if i in meta and prefs.allows(meta[i])]
        if not cand:
            return [], -1.0
        cid, cv = self.store.embeddings(cand)
        cv = normalise(cv)
        sim = cv @ q_pos
        score = sim + c.popularity_weight * np.array([self.pop_prior.get(int(i), 0.0) for i in cid])
        if prefs.liked_genres:
            want = set().union(*(GENRE_GROUPS.get(g, {g}) for g in prefs.liked_genres))
            score += c.genre_weight * np.array(
                [len(genre_set(meta[int(i)].get("genres")) & want) > 0 for i in cid], np.float32
            )
        if dv is not None:
            score -= c.dislike_weight * np.clip((cv @ dv.T).max(1), 0, None)
        order = np.argsort(-score, kind="stable")[: c.top_k]
        recs = [
            {**meta[int(cid[j])], "similarity": round(float(sim[j]), 4), "score": round(float(score[j]), 4)}
            for j in order
        ]
        return recs, float(sim.max())

    def _movie(self, item_id: int) -> dict | None:
        got = self.store.movies([item_id])
        return got[0] if got else None

    # ---- the whole turn ------------------------------------------------------------------
    def answer(self, text: str | None) -> ChatReply:
        t0 = time.perf_counter()
        check = check_input(text, self.cfg.max_input_chars)
        if not check.ok:
            return ChatReply(answer=check.reply, kind=check.kind)
        text = check.text
        prefs = self.parse(text)
        recs, best = self.retrieve(text, prefs)
        t1 = time.perf_counter()
        fallback = not recs or best < self.cfg.similarity_threshold
        liked = [_label(m) for m in prefs.liked]
        disliked = [_label(m) for m in prefs.disliked]
        reply = ChatReply(
            answer="",
            kind="fallback" if fallback else "ok",
            recommendations=[] if fallback else recs,
            mentions=prefs.mentions,
            liked_genres=prefs.liked_genres,
            excluded_genres=prefs.excluded_genres,
            best_similarity=None if best < -0.99 else round(best, 4),
        )
        if self.llm is not None and self.cfg.use_llm:
            reply.llm = self.llm.name
            try:
                raw = self.llm.complete(
                    build_messages(
                        text, liked, disliked, None if fallback else recs, excluded_genres=prefs.excluded_genres
                    )
                )
            except LLMError as e:
                reply.llm_error = str(e)
            else:
                checked = check_llm_answer(
                    raw, self.matcher, prefs, reply.recommendations, fallback=fallback, lookup=self._movie
                )
                reply.llm_answer, reply.llm_dropped = checked.text, checked.dropped
        t2 = time.perf_counter()
        reply.summary = summary_line(reply)
        reply.answer = compose_answer(reply, reply.llm_answer, self.cfg.similarity_threshold)
        reply.timings_ms = {
            "retrieval": round((t1 - t0) * 1e3, 2),
            "llm": round((t2 - t1) * 1e3, 2),
            "total": round((t2 - t0) * 1e3, 2),
        }
        return reply


def _label(m: dict) -> str:
    return f"{m['title']} ({m['year']})" if m.get("year") else m["title"]


def summary_line(reply: ChatReply) -> str:
    """'You mentioned: …' with each title's sentiment, and the genres asked for or excluded."""
    parts = []
    if reply.mentions:
        parts.append("You mentioned: " + ", ".join(f"{_label(m)} ({m['sentiment']})" for m in reply.mentions) + ".")
    if reply.liked_genres:
        parts.append("Genres you asked for: " + ", ".join(reply.liked_genres) + ".")
    if reply.excluded_genres:
        parts.append("Leaving out: " + ", ".join(reply.excluded_genres) + ".")
    return " ".join(parts)


def compose_answer(reply: ChatReply, llm_text: str | None, threshold: float) -> str:
    """The whole answer as text (terminal, JSON). The web page shows `summary`, the list and `llm_answer`
    instead, so the list appears once."""
    parts = [reply.summary] if reply.summary else []
    if reply.fallback:
        best = "no usable query" if reply.best_similarity is None else f"best similarity {reply.best_similarity:.2f}"
        parts.append(
            f"No catalogue movie is close enough ({best} < threshold {threshold:.2f}), "
            + (
                "so this answer comes from the language model alone:"
                if llm_text
                else "and no language model answer is available."
            )
        )
        if llm_text:
            parts.append(llm_text)
    else:
        parts.append("Recommendations from the catalogue:")
        parts.extend(
            f"{i}. {_label(r)}" + (f" [{r['genres']}]" if r.get("genres") else "")
            for i, r in enumerate(reply.recommendations, 1)
        )
        if llm_text:
            parts.append(llm_text)
    if reply.llm_error:
        parts.append(f"(The language model was unavailable: {reply.llm_error})")
    return "\n".join(parts)


def load_recommender(cfg: RagConfig, llm: LLMBackend | None = None, encode=None) -> RagRecommender:
    """Open an index directory written by `rag_index` and wire the query path."""
    from rec_core.encoders import SentenceEncoder
    from rec_core.rag.llm import make_llm
    from rec_core.rag.sentiment import FineTunedSentiment, FrozenLogRegSentiment

    if cfg.index_dir is None:
        raise FileNotFoundError(
            "no index directory given: build one with `genrec run rag_index` and pass index_dir=<run>/index"
        )
    d = Path(cfg.index_dir)
    meta_path = d / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} not found: {d} is not a rag_index output (run `genrec run rag_index`)")
    meta = json.loads(meta_path.read_text())
    store = MovieStore(d / STORE_FILE, read_only=True)
    index = VectorIndex.load(d / INDEX_FILE)
    encode = encode or SentenceEncoder(meta["encoder"], max_length=meta.get("max_length", 256))
    if cfg.sentiment_model is not None:
        sentiment = FineTunedSentiment(cfg.sentiment_model)
    elif (d / SENTIMENT_FILE).exists():
        sentiment = FrozenLogRegSentiment.load(d / SENTIMENT_FILE, encode)
    else:
        raise FileNotFoundError(f"no sentiment model: {d / SENTIMENT_FILE} is missing and sentiment_model is not set")
    if llm is None and cfg.query.use_llm:
        llm = make_llm(cfg.llm)
    return RagRecommender(store, index, encode, sentiment, llm, cfg.query)
