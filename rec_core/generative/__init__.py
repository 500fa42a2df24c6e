"""Generative retrieval over semantic IDs (TIGER): T5 model, training samples, beam-search decoding, ranker.
The codes table, the token vocabulary and the trie are in rec_core.semantic_ids."""
