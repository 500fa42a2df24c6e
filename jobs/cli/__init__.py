"""The `genrec` command line: `main.py` (the typer app and `main()`), with the sub-commands for datasets
(`data.py`), playlists (`playlist.py`) and the RAG chat (`rag.py`). Not a job: the registry skips packages."""
