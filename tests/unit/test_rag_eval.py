"""Retrieval evaluation on synthetic behaviour with a learnable pattern, latency helpers, the tune space."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rec_core.rag.eval import (
    evaluate_retrieval,
    latency_queries,
    liked_matrix,
    percentiles_ms,
    relevant_sets,
    set_metrics,
)


def _clustered(n_items=120, n_clusters=8, n_users=400, seed=0):
    """Users like movies of one genre cluster; popularity is skewed inside each cluster. Embeddings that
    encode the cluster should beat popularity on popularity-normalised relevance, and random everywhere."""
    rng = np.random.default_rng(seed)
    cl = np.arange(n_items) % n_clusters
    weight = 1.0 / (1 + np.arange(n_items) // n_clusters)
    rows = []
    for u in range(n_users):
        members = np.flatnonzero(cl == u % n_clusters)
        p = weight[members] / weight[members].sum()
        for i in rng.choice(members, size=6, replace=False, p=p):
            rows.append((u, int(i), 5.0))
        rows.append((u, int(rng.integers(n_items)), 2.0))  # a dislike: never counts as a like
    centres = rng.normal(size=(n_clusters, 16))
    v = centres[cl] + 0.3 * rng.normal(size=(n_items, 16))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"]), np.arange(n_items) + 1000, v.astype(np.float32)


def test_embedding_retrieval_beats_random_and_popularity_on_a_learnable_pattern():
    ratings, _, v = _clustered()
    ratings["item_id"] += 1000
    ids = np.arange(120) + 1000
    res = evaluate_retrieval(ratings, ids, v, popularity_prior=np.linspace(1, 0, 120), n_seeds=60, min_likers=5)
    j = res["jaccard"]
    assert j["embedding"]["recall@10"] > 2 * j["random"]["recall@10"]
    assert j["embedding"]["ndcg@10"] > j["popularity"]["ndcg@10"]
    assert res["seeds"] == 60 and "embedding+popularity prior" in j


def test_relevance_excludes_seed_and_respects_min_co_likes():
    ratings = pd.DataFrame({"user_id": [0, 0, 1, 1, 2], "item_id": [1, 2, 1, 2, 3], "rating": [5, 5, 4, 4, 5.0]})
    likes = liked_matrix(ratings, np.array([1, 2, 3]))
    assert likes.shape == (3, 3)
    rel = relevant_sets(likes, np.array([0]), "co_likes", n_relevant=5, min_co_likes=2)
    assert rel[0].tolist() == [1]


def test_set_metrics():
    assert set_metrics(np.array([5, 1, 2]), np.array([1, 9]), k=2) == pytest.approx(
        (0.5, (1 / np.log2(3)) / (1 + 1 / np.log2(3)))
    )
    assert set_metrics(np.array([1, 9]), np.array([1, 9]), k=2) == (1.0, 1.0)


def test_latency_helpers():
    p = percentiles_ms([0.001] * 19 + [0.1])
    assert p["p50_ms"] == pytest.approx(1.0) and p["p95_ms"] > p["p50_ms"] and p["n"] == 20
    qs = latency_queries(["Alien", "Heat", "Up"], 7)
    assert len(qs) == 7 and all(("Alien" in q) or ("Heat" in q) or ("Up" in q) for q in qs)


def test_tune_space_resolves_against_the_job_config():
    from jobs.rag_sentiment import JOB
    from tune_spaces import rag_sentiment as space

    cfg = JOB.resolve("smoke")
    keys = space.param_space(cfg)
    assert set(keys) == {"train.lr", "train.epochs", "model.lora_rank", "train.lr_schedule", "train.warmup_frac"}
    assert space.METRIC == "valid/accuracy"
    probe = JOB.resolve("smoke", None, ["train.lr=0.001", "train.epochs=2", "model.lora_rank=8"])
    assert probe.model.lora_rank == 8 and space.scheduler(cfg) is not None


def test_chat_eval_scores_mentions_and_leaks():
    from types import SimpleNamespace

    from benchmarks.rag import figures, render_chat
    from rec_core.rag.eval import chat_eval, load_chat_cases

    cases = [
        {"message": "a", "liked": ["Alien"], "disliked": ["Transformers"], "excluded_genres": [], "split": "dev"},
        {"message": "b", "liked": ["Amelie"], "disliked": [], "excluded_genres": ["Horror"], "split": "dev"},
    ]
    replies = {
        "a": SimpleNamespace(
            mentions=[{"title": "Alien", "sentiment": "liked"}, {"title": "Transformers", "sentiment": "liked"}],
            recommendations=[{"title": "Transformers: Dark of the Moon", "genres": "Action"}],
            excluded_genres=[],
        ),
        "b": SimpleNamespace(
            mentions=[{"title": "Amelie (Fabuleux destin d'Amélie Poulain, Le)", "sentiment": "liked"}],
            recommendations=[{"title": "Chocolat", "genres": "Drama, Romance"}],
            excluded_genres=["Horror"],
        ),
    }
    r = chat_eval(replies.__getitem__, cases)
    assert r["mention_sentiment_accuracy"] == 2 / 3 and r["spurious_mentions"] == 0
    assert r["disliked_title_leak_rate"] == 1.0 and r["excluded_genre_leak_rate"] == 0.0
    assert r["excluded_genre_recall"] == 1.0 and len(r["failures"]) == 1
    figs = figures(render_chat({"all": r, "dev": r}))
    assert figs["chat/mention_sentiment_accuracy"] == 0.667 and figs["chat/disliked_title_leak_rate"] == 1.0
    assert figs["chat/excluded_genre_leak_rate"] == 0.0 and figs["chat/dev/messages"] == 2
    # the versioned test set: at least 50 messages, each with something to score
    cases = load_chat_cases()
    assert len(cases) >= 50 and all(c["liked"] or c["disliked"] for c in cases)


def test_bench_sentiment_rows_name_each_seed_and_the_ensemble():
    from benchmarks.rag import figures, render

    sen = {"sizes/train": 2100, "sizes/valid": 300, "sizes/test": 600, "train/workers": 2, "train/epochs": 3}
    sen.update({"test/accuracy": 0.917, "test/f1": 0.916, "lora/train/epochs": 5, "lora/ensemble": 3})
    sen.update({"lora/test/accuracy": 0.935, "lora/test/f1": 0.936})
    for k, acc in enumerate([0.928, 0.925, 0.93]):
        sen.update({f"lora/test_by_member/{k}/accuracy": acc, f"lora/test_by_member/{k}/f1": acc})
    one = {"minilm": {"recall@10": 0.1, "ndcg@10": 0.1}}
    ret = {"seeds": 3, "candidates": 10, "jaccard": one, "co_likes": one}
    lat = {"retrieval": {"p50_ms": 1, "p95_ms": 2, "n": 3}, "fallback_rate": 0.0}
    figs = figures(render({"index/items": 10}, sen, ret, lat, False, "cmd"))
    assert figs["sentiment/lora_r16/accuracy"] == 0.928  # training seed 0 alone: the row earlier runs reported
    assert figs["sentiment/lora_r16_seed1/accuracy"] == 0.925 and figs["sentiment/lora_r16_seed2/accuracy"] == 0.93
    assert figs["sentiment/lora_r16_mean3/accuracy"] == 0.935 and figs["sentiment/ddp_finetune/accuracy"] == 0.917
