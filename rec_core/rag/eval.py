"""Retrieval quality from MovieLens behaviour, and query latency.

Protocol (item-to-item): for a seed movie s, the users who liked it (rating >= like_threshold) define
what "similar" means. A movie m is relevant to s when enough of those users also liked m; the
relevant set is the top `n_relevant` movies by
  - "co_likes": the raw number of shared likers (favours popular movies), or
  - "jaccard":  shared likers / union of likers (corrects for popularity),
keeping only movies with at least `min_co_likes` shared likers. Each method ranks all catalogue
MovieLens movies except s; Recall@K = |top-K ∩ relevant| / |relevant|, NDCG@K with binary gains.
Methods: embedding retrieval (cosine of the indexed MiniLM vectors), embedding + the small popularity
prior the chat uses, most-popular (by number of likers), random.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp


def liked_matrix(ratings: pd.DataFrame, item_ids: np.ndarray, like_threshold: float = 4.0) -> sp.csr_matrix:
    """users x items (in `item_ids` order) binary matrix of likes."""
    col = {int(i): k for k, i in enumerate(item_ids)}
    r = ratings[(ratings["rating"] >= like_threshold) & ratings["item_id"].isin(col)]
    users = {u: k for k, u in enumerate(sorted(r["user_id"].unique()))}
    rows = r["user_id"].map(users).to_numpy()
    cols = r["item_id"].map(col).to_numpy()
    return sp.csr_matrix((np.ones(len(r), np.float32), (rows, cols)), shape=(len(users), len(item_ids)))


def relevant_sets(
    likes: sp.csr_matrix, seeds: np.ndarray, measure: str = "jaccard", n_relevant: int = 10, min_co_likes: int = 3
) -> list[np.ndarray]:
    """Column indices of each seed's relevant items (seed itself excluded)."""
    likes_csc = likes.tocsc()
    co = (likes_csc[:, seeds].T @ likes_csc).toarray()  # seeds x items shared likers
    n = np.asarray(likes.sum(0)).ravel()
    out = []
    for row, s in enumerate(seeds):
        c = co[row].copy()
        c[s] = 0
        score = c if measure == "co_likes" else c / np.maximum(n[s] + n - c, 1)
        score = np.where(c >= min_co_likes, score, -1)
        top = np.argsort(-score, kind="stable")[:n_relevant]
        out.append(top[score[top] > 0])
    return out


def set_metrics(ranked: np.ndarray, relevant: np.ndarray, k: int) -> tuple[float, float]:
    top = ranked[:k]
    rel = set(relevant.tolist())
    hits = np.array([int(i) in rel for i in top], dtype=np.float64)
    recall = hits.sum() / max(len(rel), 1)
    dcg = (hits / np.log2(np.arange(2, len(top) + 2))).sum()
    idcg = (1 / np.log2(np.arange(2, min(len(rel), k) + 2))).sum()
    return float(recall), float(dcg / idcg) if idcg > 0 else 0.0


def evaluate_retrieval(
    ratings: pd.DataFrame,
    item_ids: np.ndarray,
    vectors: np.ndarray,
    popularity_prior: np.ndarray | None = None,
    prior_weight: float = 0.05,
    n_seeds: int = 300,
    min_likers: int = 20,
    k: int = 10,
    n_relevant: int = 10,
    min_co_likes: int = 3,
    like_threshold: float = 4.0,
    seed: int = 0,
    measures: Sequence[str] = ("jaccard", "co_likes"),
) -> dict:
    """-> {measure: {method: {"recall@k", "ndcg@k"}}, "seeds": n}. vectors: L2-normalised rows for item_ids."""
    rng = np.random.default_rng(seed)
    likes = liked_matrix(ratings, item_ids, like_threshold)
    n_likers = np.asarray(likes.sum(0)).ravel()
    eligible = np.flatnonzero(n_likers >= min_likers)
    seeds = np.sort(rng.choice(eligible, size=min(n_seeds, len(eligible)), replace=False))
    sims = vectors[seeds] @ vectors.T
    pop_rank = np.argsort(-n_likers, kind="stable")
    rankers: dict[str, Callable[[int, int], np.ndarray]] = {
        "embedding": lambda row, s: np.argsort(-sims[row], kind="stable"),
        "popularity": lambda row, s: pop_rank,
        "random": lambda row, s: rng.permutation(len(item_ids)),
    }
    if popularity_prior is not None:
        rankers["embedding+popularity prior"] = lambda row, s: np.argsort(
            -(sims[row] + prior_weight * popularity_prior), kind="stable"
        )
    out: dict = {"seeds": int(len(seeds)), "candidates": int(len(item_ids))}
    for measure in measures:
        rel = relevant_sets(likes, seeds, measure, n_relevant, min_co_likes)
        res = {}
        for name, rank in rankers.items():
            rs, ns = [], []
            for row, (s, r) in enumerate(zip(seeds, rel)):
                if not len(r):
                    continue
                ranked = rank(row, s)
                ranked = ranked[ranked != s]
                rec, nd = set_metrics(ranked, r, k)
                rs.append(rec)
                ns.append(nd)
            res[name] = {f"recall@{k}": float(np.mean(rs)), f"ndcg@{k}": float(np.mean(ns))}
        out[measure] = res
        out[f"{measure}_seeds_with_relevant"] = int(sum(len(r) > 0 for r in rel))
    return out


def index_retrieval(
    index_dir,
    ratings: pd.DataFrame,
    n_seeds: int = 300,
    seed: int = 0,
    measures: Sequence[str] = ("jaccard", "co_likes"),
) -> dict:
    """`evaluate_retrieval` on the MovieLens movies of a built index (the ones with behaviour to judge by), with the
    popularity prior the chat uses."""
    from pathlib import Path

    from rec_core.rag.catalogue import TMDB_ID_OFFSET
    from rec_core.rag.recommender import STORE_FILE, QueryConfig
    from rec_core.rag.store import MovieStore

    with MovieStore(Path(index_dir) / STORE_FILE, read_only=True) as s:
        ids, vecs = s.embeddings()
        pop = s.titles().set_index("item_id")["popularity"]
    keep = ids < TMDB_ID_OFFSET
    ids, vecs = ids[keep], vecs[keep]
    return evaluate_retrieval(
        ratings,
        ids,
        vecs,
        popularity_prior=pop.loc[ids].to_numpy(np.float64),
        prior_weight=QueryConfig().popularity_weight,
        n_seeds=n_seeds,
        seed=seed,
        measures=measures,
    )


def percentiles_ms(samples_s: Sequence[float]) -> dict[str, float]:
    a = np.asarray(samples_s, dtype=np.float64) * 1e3
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p95_ms": round(float(np.percentile(a, 95)), 2),
        "n": int(len(a)),
    }


def query_latency(answer: Callable[[str], object], queries: Sequence[str], warmup: int = 2) -> dict[str, float]:
    """Wall time per `answer(query)` call after `warmup` untimed calls."""
    for q in queries[:warmup]:
        answer(q)
    times = []
    for q in queries:
        t0 = time.perf_counter()
        answer(q)
        times.append(time.perf_counter() - t0)
    return percentiles_ms(times)


def latency_queries(titles: Sequence[str], n: int, seed: int = 0) -> list[str]:
    """Chat-like messages naming catalogue movies, with likes, dislikes and free text."""
    rng = np.random.default_rng(seed)
    templates = [
        "I loved {a}",
        "I loved {a} but hated {b}",
        "Something like {a} please",
        "{a} was great, {b} was boring",
        "I enjoyed {a} and {b}, what next?",
        "a funny family movie, not like {a}",
    ]
    out = []
    for i in range(n):
        a, b = rng.choice(list(titles), size=2, replace=False)
        out.append(templates[i % len(templates)].format(a=a, b=b))
    return out


# ---- the chat: per-mention sentiment and constraint leaks -------------------------------------------
CHAT_EVAL_SET = Path(__file__).resolve().parent / "chat_eval_set.yaml"


def load_chat_cases(path=None) -> list[dict]:
    """The chat test set: message, liked, disliked, excluded_genres (lists, possibly empty), split ('dev': the
    rules were tuned on it; 'heldout': written afterwards and not tuned on)."""
    import yaml

    cases = yaml.safe_load(Path(path or CHAT_EVAL_SET).read_text())
    return [
        {
            "message": c["message"],
            "liked": list(c.get("liked") or []),
            "disliked": list(c.get("disliked") or []),
            "excluded_genres": list(c.get("excluded_genres") or []),
            "split": c.get("split", "dev"),
        }
        for c in cases
    ]


def _is_title(expected: str, title: str) -> bool:
    from rec_core.rag.titles import normalise_title, title_aliases

    return normalise_title(expected) in title_aliases(title)


def chat_eval(answer: Callable[[str], object], cases: Sequence[dict]) -> dict:
    """Run `answer(message)` (a RagRecommender.answer) on each case and score it.

    - mention sentiment accuracy: over the expected liked + disliked titles, the share found among the reply's
      mentions with the expected sentiment (a title not found counts as wrong); spurious mentions are counted apart;
    - disliked-title leak rate: among replies with recommendations whose case has a disliked title, the share whose
      list holds a disliked title or one of its franchise (`preferences.same_franchise` of the expected title);
    - excluded-genre leak rate: the same for a recommendation in an excluded genre (catalogue genre names of
      `preferences.GENRE_GROUPS`)."""
    from rec_core.rag.preferences import GENRE_GROUPS, franchise_key, genre_set, same_franchise

    n_mentions = correct = spurious = 0
    dis_cases = dis_leaks = gen_cases = gen_leaks = with_recs = 0
    genre_correct = genre_expected = 0
    failures = []
    for case in cases:
        reply = answer(case["message"])
        got = list(reply.mentions)
        wrong = []
        for want, label in [(t, "liked") for t in case["liked"]] + [(t, "disliked") for t in case["disliked"]]:
            n_mentions += 1
            hit = next((m for m in got if _is_title(want, m["title"])), None)
            if hit is not None and hit["sentiment"] == label:
                correct += 1
            else:
                wrong.append(f"{want}: expected {label}, got {hit['sentiment'] if hit else 'not found'}")
        expected_titles = case["liked"] + case["disliked"]
        spurious += sum(not any(_is_title(t, m["title"]) for t in expected_titles) for m in got)
        excluded = set(getattr(reply, "excluded_genres", []) or [])
        for g in case["excluded_genres"]:
            genre_expected += 1
            genre_correct += g in excluded
        recs = list(reply.recommendations)
        with_recs += bool(recs)
        leaks = []
        if recs and case["disliked"]:
            dis_cases += 1
            keys = [franchise_key(t) for t in case["disliked"]]
            bad = [
                r["title"]
                for r in recs
                if any(_is_title(t, r["title"]) for t in case["disliked"])
                or any(same_franchise(k, r["title"]) for k in keys)
            ]
            dis_leaks += bool(bad)
            leaks += [f"disliked/franchise: {t}" for t in bad]
        if recs and case["excluded_genres"]:
            gen_cases += 1
            names = set().union(*(GENRE_GROUPS.get(g, {g}) for g in case["excluded_genres"]))
            bad = [r["title"] for r in recs if genre_set(r.get("genres")) & names]
            gen_leaks += bool(bad)
            leaks += [f"excluded genre: {t}" for t in bad]
        if wrong or leaks:
            failures.append({"message": case["message"], "wrong": wrong, "leaks": leaks})
    return {
        "messages": len(cases),
        "mentions": n_mentions,
        "mention_sentiment_accuracy": correct / max(n_mentions, 1),
        "spurious_mentions": spurious,
        "excluded_genre_recall": genre_correct / max(genre_expected, 1),
        "replies_with_recommendations": with_recs,
        "disliked_title_leak_rate": dis_leaks / max(dis_cases, 1),
        "disliked_cases": dis_cases,
        "excluded_genre_leak_rate": gen_leaks / max(gen_cases, 1),
        "excluded_genre_cases": gen_cases,
        "failures": failures,
    }
