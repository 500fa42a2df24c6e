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

from data_pipelines.embed import EmbedConfig
from data_pipelines.rag_index import embed_texts, rag_embed_config
from jobs.common.config import JobConfig
from jobs.common.job import Job, JobResult, RunContext, UserFacingError
from rec_core.rag import catalogue as cat
from rec_core.rag.index import IndexConfig, VectorIndex
from rec_core.rag.recommender import INDEX_FILE, META_FILE, SENTIMENT_FILE, STORE_FILE
from rec_core.rag.store import MovieStore


class Config(JobConfig):
    sources: list[Literal["movielens", "tmdb"]] = Field(default_factory=lambda: ["movielens", "tmdb"])
    max_items: int | None = Field(None, ge=1, description="keep only the N most popular movies (smoke runs)")
    index_dir: Path | None = Field(
        None, description="where the index lives (default <run>/index); an existing one is updated"
    )
    embed: EmbedConfig = Field(default_factory=rag_embed_config, description="the shared Ray Data embedding stage")
    index: IndexConfig = Field(default_factory=IndexConfig)
    sentiment_baseline: bool = Field(True, description="fit the frozen-embedding logistic regression sentiment scorer")
    sentiment_max_sentences: int | None = Field(None, ge=20, description="cap on review sentences used (smoke runs)")
    eval_seeds: int = Field(
        300,
        ge=0,
        description="retrieval quality from MovieLens behaviour: seed movies whose co-liked movies the index should "
        "retrieve, against popularity and random rankings (rec_core.rag.eval; 0: skip; needs the movielens source)",
    )


def load_catalogue(cfg: Config, ctx: RunContext) -> pd.DataFrame:
    from rec_core.data import DataError

    try:
        df = cat.load_catalogue(ctx.data_dir, ctx.mirror, cfg.sources)
    except DataError as e:
        raise UserFacingError(str(e)) from None
    if cfg.max_items:
        df = df.sort_values("popularity", ascending=False, kind="stable").head(cfg.max_items).sort_values("item_id")
    return cat.with_text(df)


def sentiment_frame(cfg: Config, ctx: RunContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train+valid, test) review sentences for the frozen-embedding scorer."""
    from rec_core.rag.sentiment import split_sentences

    df = cat.load_sentences(ctx.data_dir, ctx.mirror)
    if cfg.sentiment_max_sentences:
        df = df.sample(n=min(cfg.sentiment_max_sentences, len(df)), random_state=cfg.seed)
    splits = split_sentences(df, seed=cfg.seed)
    return pd.concat([splits["train"], splits["valid"]]), splits["test"]


def fit_sentiment_scorer(
    train: pd.DataFrame, test: pd.DataFrame, xtr: np.ndarray, xte: np.ndarray, seed: int, path: Path
) -> dict:
    from rec_core.rag.sentiment import FrozenLogRegSentiment, classification_metrics, fit_logreg

    clf = fit_logreg(xtr, train["label"].to_numpy(), seed=seed)
    FrozenLogRegSentiment(None, clf.coef_[0], clf.intercept_[0]).save(path)
    return classification_metrics(test["label"].to_numpy(), clf.predict_proba(xte)[:, 1])


def run(cfg: Config, ctx: RunContext) -> JobResult:
    out = Path(cfg.index_dir) if cfg.index_dir else ctx.out_dir / "index"
    out.mkdir(parents=True, exist_ok=True)
    meta_path = out / META_FILE
    if meta_path.exists():
        old = json.loads(meta_path.read_text())
        if old.get("encoder") != cfg.embed.encoder:
            print(
                f"[rag_index] encoder changed ({old.get('encoder')} -> {cfg.embed.encoder}): every movie is re-embedded"
            )
    t0 = time.perf_counter()
    catalogue = load_catalogue(cfg, ctx)
    with MovieStore(out / STORE_FILE) as store:
        store.upsert_movies(catalogue)
        stale = store.stale_items(cfg.embed.encoder)
        # review sentences ride in the same Ray Data pass (negative ids), so the encoder is loaded once
        sent_train = sent_test = None
        texts = stale[["item_id", "text"]]
        if cfg.sentiment_baseline:
            sent_train, sent_test = sentiment_frame(cfg, ctx)
            sent = pd.DataFrame(
                {
                    "item_id": -1 - np.arange(len(sent_train) + len(sent_test)),
                    "text": list(sent_train["text"]) + list(sent_test["text"]),
                }
            )
            texts = pd.concat([texts, sent], ignore_index=True)
        print(
            f"[rag_index] {len(catalogue)} movies, {len(stale)} to embed "
            f"(+{len(texts) - len(stale)} review sentences), "
            f"{cfg.embed.num_actors} Ray Data actor(s)"
        )
        t1 = time.perf_counter()
        ids, vecs, _ = embed_texts(texts, cfg.embed, out / "embeddings")
        embed_s = time.perf_counter() - t1
        is_movie = ids >= 0
        new_ids, new_vecs = ids[is_movie], vecs[is_movie] if len(ids) else vecs
        if len(new_ids):
            hashes = stale.set_index("item_id").loc[new_ids, "text_hash"].tolist()
            store.upsert_embeddings(new_ids, new_vecs, cfg.embed.encoder, hashes)
        all_ids, all_vecs = store.embeddings()
        if not len(all_ids):
            raise UserFacingError(
                "the catalogue is empty: no movie could be embedded (check `sources` and the data mirror)"
            )
        index_path = out / INDEX_FILE
        if index_path.exists():
            index = VectorIndex.load(index_path)
            index.cfg = cfg.index
            upd = index.update(new_ids, new_vecs, all_ids, all_vecs)
            mode = "rebuilt" if upd.rebuilt else "incremental"
        else:
            index = VectorIndex.build(all_ids, all_vecs, cfg.index)
            mode = "built"
        index.save(index_path)
        store.set_meta("encoder", cfg.embed.encoder)
        n_store = store.count()
    meta = {
        "encoder": cfg.embed.encoder,
        "max_length": cfg.embed.max_length,
        "dim": int(all_vecs.shape[1]),
        "items": n_store,
        "index_kind": index.kind,
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    metrics = {
        "index": {
            "items": n_store,
            "embedded": len(new_ids),
            "vectors": index.ntotal,
            "embed_s": round(embed_s, 2),
            "kind_" + index.kind: 1,
            "incremental": int(mode == "incremental"),
        }
    }
    if cfg.sentiment_baseline:
        sid = -1 - ids[~is_movie]
        order = np.argsort(sid)
        svec = vecs[~is_movie][order]
        metrics["sentiment_logreg"] = fit_sentiment_scorer(
            sent_train, sent_test, svec[: len(sent_train)], svec[len(sent_train) :], cfg.seed, out / SENTIMENT_FILE
        )
    if cfg.eval_seeds and "movielens" in cfg.sources:
        metrics["retrieval"] = retrieval_quality(cfg, ctx, out)
    report = (
        f"Catalogue: {len(catalogue)} movies from {', '.join(cfg.sources)}; store now holds {n_store}.\n\n"
        f"Embedded {len(new_ids)} new or changed movies with `{cfg.embed.encoder}` in {embed_s:.1f} s (Ray Data, "
        f"{cfg.embed.num_actors} actor(s)); faiss index `{index.kind}` ({mode}), {index.ntotal} vectors, "
        f"dim {meta['dim']}.\n\n"
        f"Index directory: `{out}` (chat with `genrec rag chat --index {out}`).\n"
    )
    if cfg.sentiment_baseline:
        s = metrics["sentiment_logreg"]
        report += (
            f"\nSentiment scorer (logistic regression on frozen embeddings, {len(sent_test)} held-out UCI sentences): "
            f"accuracy {s['accuracy']:.3f}, F1 {s['f1']:.3f}.\n"
        )
    if "retrieval" in metrics:
        r = metrics["retrieval"]
        report += (
            f"\nRetrieval from MovieLens behaviour ({r['seeds']} seed movies with enough likers, ranking "
            f"{r['candidates']} indexed MovieLens movies; relevant = the 10 movies most co-liked with the seed, "
            "popularity-corrected by Jaccard):\n\n| method | Recall@10 | NDCG@10 |\n|---|---:|---:|\n"
            + "\n".join(f"| {name} | {m['recall@10']:.4f} | {m['ndcg@10']:.4f} |" for name, m in r["jaccard"].items())
            + "\n"
        )
    print(f"[rag_index] done in {time.perf_counter() - t0:.1f} s -> {out}")
    return JobResult(metrics=metrics, report=report)


def retrieval_quality(cfg: Config, ctx: RunContext, index_dir: Path) -> dict:
    """Embedding retrieval vs popularity and random on the same seeds (rec_core.rag.eval.index_retrieval)."""
    from rec_core.data import load_dataset
    from rec_core.rag.eval import index_retrieval

    ratings = load_dataset("ml-latest-small", data_dir=ctx.data_dir, mirror=ctx.mirror).interactions
    r = index_retrieval(index_dir, ratings, n_seeds=cfg.eval_seeds, seed=cfg.seed, measures=("jaccard",))
    return {"seeds": r["seeds"], "candidates": r["candidates"], "jaccard": r["jaccard"]}


def resources(cfg: Config) -> dict:
    return cfg.embed.resources()


JOB = Job(
    name="rag_index",
    config=Config,
    run=run,
    summary="RAG: embed MovieLens + TMDB movies (Ray Data) into SQLite + faiss",
    resources=resources,
    in_demo=True,
    demo_order=50,
    headline=("retrieval/jaccard/embedding/ndcg@10", "retrieval/jaccard/popularity/ndcg@10"),
)

if __name__ == "__main__":
    JOB.main()
