"""Imports of dependencies that come from an extra, with an error that says which extra to install."""

from __future__ import annotations


def import_faiss():
    """faiss comes from the `cpu` (faiss-cpu) or the `gpu` (faiss-gpu) extra; exactly one of them is installed."""
    try:
        import faiss
    except ImportError as e:
        raise ImportError(
            "faiss is not installed: install this project with one of its faiss extras, "
            "`pip install -e '.[cpu]'` (faiss-cpu) or `pip install -e '.[gpu]'` (faiss-gpu)"
        ) from e
    return faiss
