"""Job `rag_index`: movie catalogue (MovieLens + TMDB 5000) -> Ray Data embeddings -> SQLite + faiss index.

Re-running with the same `index_dir` is incremental: only movies that are new or whose text changed are
embedded again, and the faiss index is updated in place (or rebuilt when its type must change).
The index directory also gets a cheap sentiment scorer (logistic regression on frozen sentence
embeddings of the UCI review sentences), so the chat works before `rag_sentiment` has been run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from data_pipelines.rag_index import RagEmbedConfig, embed_movie_texts
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from rec_core.config import JobConfig
from rec_core.rag import catalogue as cat
from rec_core.rag.index import IndexConfig, VectorIndex
from rec_core.rag.recommender import INDEX_FILE, META_FILE, SENTIMENT_FILE, STORE_FILE
from rec_core.rag.store import MovieStore


class Config(JobConfig):
    sources: list[Literal["movielens", "tmdb"]] = Field(default_factory=lambda: ["movielens", "tmdb"])
    max_items: int | None = Field(None, ge=1, description="keep only the N most popular movies (smoke runs)")
    index_dir: Path | None = Field(None, description="where the index lives (default <run>/index); an existing one is updated")
    embed: RagEmbedConfig = Field(default_factory=RagEmbedConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    sentiment_baseline: bool = Field(True, description="fit the frozen-embedding logistic regression sentiment scorer")
    sentiment_max_sentences: int | None = Field(None, ge=20, description="cap on review sentences used (smoke runs)")


def load_catalogue(cfg: Config, ctx: RunContext) -> pd.DataFrame:
    if ctx.mirror is None:
        raise UserFacingError("no data mirror found: set GENREC_MIRROR or mirror=<dir with ml-latest-small/ and tmdb_5000/>")
    try:
        raw = cat.read_raw_sources(ctx.mirror)
    except FileNotFoundError as e:
        raise UserFacingError(str(e)) from None
    use_ml, use_tmdb = "movielens" in cfg.sources, "tmdb" in cfg.sources
    df = cat.build_catalogue(raw["ml_movies"] if use_ml else None, raw["tmdb_movies"] if use_tmdb else None,
                             raw["ml_tags"] if use_ml else None, raw["ml_links"] if use_ml else None,
                             raw["ml_ratings"] if use_ml else None)
    if cfg.max_items:
        df = df.sort_values("popularity", ascending=False, kind="stable").head(cfg.max_items).sort_values("item_id")
    return cat.with_text(df)


def fit_sentiment_baseline(cfg: Config, ctx: RunContext, out: Path) -> dict:
    from rec_core.rag.encoder import SentenceEncoder
    from rec_core.rag.sentiment import FrozenLogRegSentiment, classification_metrics, fit_logreg, split_sentences

    df = cat.read_uci_sentiment(ctx.mirror)
    if cfg.sentiment_max_sentences:
        df = df.sample(n=min(cfg.sentiment_max_sentences, len(df)), random_state=cfg.seed)
    splits = split_sentences(df, seed=cfg.seed)
    train = pd.concat([splits["train"], splits["valid"]])
    frame = pd.DataFrame({"item_id": np.arange(len(train) + len(splits["test"])),
                          "text": list(train["text"]) + list(splits["test"]["text"])})
    frame["text_hash"] = ""
    emb = np.stack(embed_movie_texts(frame, cfg.embed)["embedding"].to_list())
    xtr, xte = emb[: len(train)], emb[len(train):]
    clf = fit_logreg(xtr, train["label"].to_numpy(), seed=cfg.seed)
    scorer = FrozenLogRegSentiment(None, clf.coef_[0], clf.intercept_[0])
    scorer.save(out / SENTIMENT_FILE)
    return classification_metrics(splits["test"]["label"].to_numpy(), clf.predict_proba(xte)[:, 1])


def run(cfg: Config, ctx: RunContext) -> JobResult:
    out = Path(cfg.index_dir) if cfg.index_dir else ctx.out_dir / "index"
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / META_FILE
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old.get("encoder") != cfg.embed.encoder:
            print(f"[rag_index] encoder changed ({old.get('encoder')} -> {cfg.embed.encoder}): every movie is re-embedded")
    t0 = time.perf_counter()
    catalogue = load_catalogue(cfg, ctx)
    with MovieStore(out / STORE_FILE) as store:
        store.upsert_movies(catalogue)
        stale = store.stale_items(cfg.embed.encoder)
        print(f"[rag_index] {len(catalogue)} movies, {len(stale)} to embed ({cfg.embed.num_actors} Ray Data actor(s))")
        t1 = time.perf_counter()
        emb = embed_movie_texts(stale, cfg.embed)
        embed_s = time.perf_counter() - t1
        if len(emb):
            store.upsert_embeddings(emb["item_id"].to_numpy(), np.stack(emb["embedding"].to_list()), cfg.embed.encoder,
                                    emb["text_hash"].tolist())
        all_ids, all_vecs = store.embeddings()
        index_path = out / INDEX_FILE
        if index_path.exists():
            index = VectorIndex.load(index_path)
            index.cfg = cfg.index
            vecs = np.stack(emb["embedding"].to_list()) if len(emb) else np.zeros((0, all_vecs.shape[1]), np.float32)
            upd = index.update(emb["item_id"].to_numpy(np.int64), vecs, all_ids, all_vecs)
            mode = "rebuilt" if upd.rebuilt else "incremental"
        else:
            index = VectorIndex.build(all_ids, all_vecs, cfg.index)
            mode = "built"
        index.save(index_path)
        store.set_meta("encoder", cfg.embed.encoder)
        n_store = store.count()
    meta = {"encoder": cfg.embed.encoder, "dim": int(all_vecs.shape[1]), "items": n_store, "index_kind": index.kind}
    meta_path.write_text(json.dumps(meta, indent=2))
    metrics = {"index": {"items": n_store, "embedded": len(emb), "vectors": index.ntotal, "embed_s": round(embed_s, 2),
                         "items_per_s": round(len(emb) / embed_s, 1) if len(emb) and embed_s > 0 else 0.0,
                         "kind_" + index.kind: 1, "rebuilt": int(mode != "incremental")}}
    if cfg.sentiment_baseline:
        metrics["sentiment_logreg"] = fit_sentiment_baseline(cfg, ctx, out)
    report = (f"Catalogue: {len(catalogue)} movies from {', '.join(cfg.sources)}; store now holds {n_store}.\n\n"
              f"Embedded {len(emb)} new or changed movies with `{cfg.embed.encoder}` in {embed_s:.1f} s; "
              f"faiss index `{index.kind}` ({mode}), {index.ntotal} vectors, dim {meta['dim']}.\n\n"
              f"Index directory: `{out}` (chat with `genrec rag chat --index {out}`).\n")
    if cfg.sentiment_baseline:
        s = metrics["sentiment_logreg"]
        report += f"\nSentiment scorer (logistic regression on frozen embeddings, held-out UCI sentences): accuracy {s['accuracy']:.3f}, F1 {s['f1']:.3f}.\n"
    print(f"[rag_index] done in {time.perf_counter() - t0:.1f} s -> {out}")
    return JobResult(metrics=metrics, report=report)


def resources(cfg: Config) -> dict:
    res = {"CPU": cfg.embed.num_actors * cfg.embed.cpus_per_actor}
    if cfg.embed.gpus_per_actor:
        res["GPU"] = cfg.embed.num_actors * cfg.embed.gpus_per_actor
    return res


JOB = Job(name="rag_index", config=Config, run=run, summary="RAG: embed MovieLens + TMDB movies (Ray Data) into SQLite + faiss",
          resources=resources, in_demo=True, demo_order=50)

if __name__ == "__main__":
    JOB.main()
