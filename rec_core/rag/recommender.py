"""The query path: message -> input checks -> titles + per-title sentiment -> steered retrieval -> LLM answer.

Retrieval query: q = normalise(w_liked * mean(liked movie vectors) + w_text * embed(message without the
titles) - w_dislike * mean(disliked movie vectors)). Candidates are then re-ranked with a penalty for
resembling a disliked movie (max cosine to any of them). When the best candidate's similarity to the
positive part of the query is below `similarity_threshold`, the catalogue has nothing close: the LLM
answers alone and the reply says so.
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
from rec_core.rag.llm import LLMBackend, LLMConfig, LLMError
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
    text_weight: float = Field(0.5, ge=0)
    dislike_weight: float = Field(
        0.5, ge=0, description="pushes the query away from disliked movies and penalises look-alikes"
    )
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
    best_similarity: float | None = None
    llm: str | None = None
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

    # ---- retrieval -----------------------------------------------------------------------
    def classify_mentions(self, text: str) -> list[dict]:
        mentions = self.matcher.extract(text)
        if not mentions:
            return []
        probs = self.sentiment([m.clause for m in mentions])
        return [
            dict(
                item_id=m.item_id,
                title=m.title,
                year=m.year,
                span=m.span,
                clause=m.clause,
                p_positive=round(float(p), 4),
                sentiment="liked" if p >= self.cfg.positive_threshold else "disliked",
            )
            for m, p in zip(mentions, probs)
        ]

    def retrieve(self, text: str, mentions: list[dict]) -> tuple[list[dict], float]:
        """Ranked recommendations and the best positive similarity."""
        c = self.cfg
        liked = [m["item_id"] for m in mentions if m["sentiment"] == "liked"]
        disliked = [m["item_id"] for m in mentions if m["sentiment"] == "disliked"]
        rest = text
        for m in sorted(mentions, key=lambda m: -len(m["span"])):
            rest = rest.replace(m["span"], " ")
        rest = re.sub(r"\s+", " ", rest).strip()
        positive = np.zeros(self.index.dim, np.float32)
        if liked:
            _, lv = self.store.embeddings(liked)
            if len(lv):
                positive += c.liked_weight * normalise(lv.mean(0))[0]
        # free text carries the taste when no liked title is named ("a slow-burn space thriller")
        if len(re.findall(r"\w+", rest)) >= 2:
            positive += (c.text_weight if liked else 1.0) * self.encode([rest])[0]
        if not positive.any():
            return [], -1.0
        q_pos = normalise(positive)[0]
        dv = None
        q = q_pos
        if disliked and len(self.store.embeddings(disliked)[0]):
            _, dv = self.store.embeddings(disliked)
            dv = normalise(dv)
            q = normalise(q_pos - c.dislike_weight * normalise(dv.mean(0))[0])[0]
        exclude = {m["item_id"] for m in mentions}
        _, ids = self.index.search(q, c.candidates + len(exclude))
        cand = [int(i) for i in ids[0] if i >= 0 and int(i) not in exclude]
        if not cand:
            return [], -1.0
        cid, cv = self.store.embeddings(cand)
        cv = normalise(cv)
        sim = cv @ q_pos
        score = sim + c.popularity_weight * np.array([self.pop_prior.get(int(i), 0.0) for i in cid])
        if dv is not None:
            score -= c.dislike_weight * np.clip((cv @ dv.T).max(1), 0, None)
        order = np.argsort(-score)[: c.top_k]
        meta = {m["item_id"]: m for m in self.store.movies(cid[order])}
        recs = []
        for j in order:
            m = meta.get(int(cid[j]))
            if m:
                recs.append({**m, "similarity": round(float(sim[j]), 4), "score": round(float(score[j]), 4)})
        return recs, float(sim.max())

    # ---- the whole turn ------------------------------------------------------------------
    def answer(self, text: str | None) -> ChatReply:
        t0 = time.perf_counter()
        check = check_input(text, self.cfg.max_input_chars)
        if not check.ok:
            return ChatReply(answer=check.reply, kind=check.kind)
        text = check.text
        mentions = self.classify_mentions(text)
        recs, best = self.retrieve(text, mentions)
        t1 = time.perf_counter()
        fallback = not recs or best < self.cfg.similarity_threshold
        liked = [_label(m) for m in mentions if m["sentiment"] == "liked"]
        disliked = [_label(m) for m in mentions if m["sentiment"] == "disliked"]
        reply = ChatReply(
            answer="",
            kind="fallback" if fallback else "ok",
            recommendations=[] if fallback else recs,
            mentions=mentions,
            best_similarity=None if best < -0.99 else round(best, 4),
        )
        llm_text = None
        if self.llm is not None and self.cfg.use_llm:
            reply.llm = self.llm.name
            try:
                llm_text = self.llm.complete(build_messages(text, liked, disliked, None if fallback else recs))
            except LLMError as e:
                reply.llm_error = str(e)
        t2 = time.perf_counter()
        reply.answer = compose_answer(reply, llm_text, self.cfg.similarity_threshold)
        reply.timings_ms = {
            "retrieval": round((t1 - t0) * 1e3, 2),
            "llm": round((t2 - t1) * 1e3, 2),
            "total": round((t2 - t0) * 1e3, 2),
        }
        return reply


def _label(m: dict) -> str:
    return f"{m['title']} ({m['year']})" if m.get("year") else m["title"]


def compose_answer(reply: ChatReply, llm_text: str | None, threshold: float) -> str:
    parts = []
    if reply.mentions:
        parts.append("You mentioned: " + ", ".join(f"{_label(m)} ({m['sentiment']})" for m in reply.mentions) + ".")
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
