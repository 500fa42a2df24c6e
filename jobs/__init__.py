"""Thin job entrypoints (`python -m jobs.<name>`) and the `genrec` CLI."""
