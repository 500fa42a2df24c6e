"""Semantic IDs: the codes contract (codes.py), the quantizers that make codes (rqvae.py, rqkmeans.py), collision
handling (collisions.py), quality metrics (quality.py) and the trie that keeps decoding on valid IDs (trie.py).
Plain PyTorch / numpy / faiss; never imports Ray."""
