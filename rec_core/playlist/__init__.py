"""Text -> ordered item list generation ("playlists") with a T5 that emits semantic IDs. Never imports Ray.

    corpus.py     (text, item list) pairs from MovieLens tag applications and liked-rating sessions
    model.py      PlaylistT5: WordPiece text encoder -> T5 decoder over SID tokens; constrained generation
                  (codes, vocabulary and the no-repeat list constraint: rec_core.semantic_ids)
    metrics.py    Recall@K / NDCG@K of a generated list against a multi-item true list (overall and per source)
    baselines.py  popularity and MiniLM text-similarity retrieval

The job's driver steps (corpus + catalogue embeddings + codes, evaluation, report) are in jobs/playlist.py.
"""
