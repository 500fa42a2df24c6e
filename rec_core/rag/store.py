"""SQLite store of movie metadata and embeddings.

Every statement is parameterised (`?` placeholders): user text never becomes SQL. Embeddings are stored
as float32 BLOBs beside the encoder name, so an index can be rebuilt from the database alone and an
incremental run re-embeds only movies whose text changed (`text_hash`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

_SCHEMA = """
CREATE TABLE IF NOT EXISTS movies (
    item_id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    year INTEGER,
    genres TEXT,
    overview TEXT,
    tags TEXT,
    source TEXT,
    popularity REAL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    item_id INTEGER PRIMARY KEY REFERENCES movies(item_id),
    encoder TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
MOVIE_FIELDS = ["item_id", "title", "year", "genres", "overview", "tags", "source", "popularity", "text", "text_hash"]


class StoreError(RuntimeError):
    pass


def _none_if_na(v):
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else v


class MovieStore:
    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        if read_only:
            if not self.path.exists():
                raise StoreError(f"movie store not found: {self.path} (build it with `genrec run rag_index`)")
            uri = f"file:{self.path}?mode=ro"
            self.conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, check_same_thread=False)
            self.conn.executescript(_SCHEMA)
        self.read_only = read_only

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- writes ---------------------------------------------------------------------------
    def upsert_movies(self, df: pd.DataFrame) -> int:
        missing = [c for c in MOVIE_FIELDS if c not in df.columns]
        if missing:
            raise StoreError(f"movie frame lacks columns {missing}")
        rows = [tuple(_none_if_na(r[c]) for c in MOVIE_FIELDS) for r in df[MOVIE_FIELDS].to_dict("records")]
        rows = [(int(r[0]), *r[1:2], None if r[2] is None else int(r[2]), *r[3:]) for r in rows]
        placeholders = ",".join("?" * len(MOVIE_FIELDS))
        updates = ",".join(f"{c}=excluded.{c}" for c in MOVIE_FIELDS[1:])
        with self.conn:
            self.conn.executemany(
                f"INSERT INTO movies ({','.join(MOVIE_FIELDS)}) VALUES ({placeholders}) "
                f"ON CONFLICT(item_id) DO UPDATE SET {updates}",
                rows,
            )
        return len(rows)

    def upsert_embeddings(
        self, item_ids: Sequence[int], vectors: np.ndarray, encoder: str, text_hashes: Sequence[str]
    ) -> int:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(item_ids) or len(text_hashes) != len(item_ids):
            raise StoreError(f"embeddings shape {vectors.shape} does not match {len(item_ids)} ids")
        rows = [
            (int(i), encoder, h, int(vectors.shape[1]), vectors[k].tobytes())
            for k, (i, h) in enumerate(zip(item_ids, text_hashes))
        ]
        with self.conn:
            self.conn.executemany(
                "INSERT INTO embeddings (item_id, encoder, text_hash, dim, vector) VALUES (?,?,?,?,?) "
                "ON CONFLICT(item_id) DO UPDATE SET encoder=excluded.encoder, text_hash=excluded.text_hash, "
                "dim=excluded.dim, vector=excluded.vector",
                rows,
            )
        return len(rows)

    def set_meta(self, key: str, value: str) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                (key, str(value)),
            )

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    # ---- reads ----------------------------------------------------------------------------
    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM movies").fetchone()[0])

    def stale_items(self, encoder: str) -> pd.DataFrame:
        """Movies with no embedding, or one from another encoder or an older text: what to (re-)embed."""
        return pd.read_sql_query(
            "SELECT m.item_id, m.text, m.text_hash FROM movies m LEFT JOIN embeddings e ON e.item_id = m.item_id "
            "WHERE e.item_id IS NULL OR e.encoder != ? OR e.text_hash != m.text_hash ORDER BY m.item_id",
            self.conn,
            params=(encoder,),
        )

    def embeddings(self, item_ids: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64, vectors float32 [n, d]); all of them, or those of `item_ids` in that order (missing skipped)."""
        if item_ids is None:
            rows = self.conn.execute("SELECT item_id, dim, vector FROM embeddings ORDER BY item_id").fetchall()
        else:
            ids = [int(i) for i in item_ids]
            rows = []
            for chunk in range(0, len(ids), 500):
                part = ids[chunk : chunk + 500]
                got = self.conn.execute(
                    f"SELECT item_id, dim, vector FROM embeddings WHERE item_id IN ({','.join('?' * len(part))})", part
                ).fetchall()
                by_id = {r[0]: r for r in got}
                rows.extend(by_id[i] for i in part if i in by_id)
        if not rows:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vecs = np.stack([np.frombuffer(r[2], dtype=np.float32, count=r[1]) for r in rows])
        return ids, vecs

    def movies(self, item_ids: Iterable[int]) -> list[dict]:
        """Metadata rows for `item_ids`, in that order (ids not in the store are skipped)."""
        ids = [int(i) for i in item_ids]
        if not ids:
            return []
        cols = MOVIE_FIELDS[:-2]
        got = {}
        for chunk in range(0, len(ids), 500):
            part = ids[chunk : chunk + 500]
            for r in self.conn.execute(
                f"SELECT {','.join(cols)} FROM movies WHERE item_id IN ({','.join('?' * len(part))})", part
            ).fetchall():
                got[r[0]] = dict(zip(cols, r))
        return [got[i] for i in ids if i in got]

    def titles(self) -> pd.DataFrame:
        """item_id, title, year, popularity for title matching."""
        return pd.read_sql_query("SELECT item_id, title, year, popularity FROM movies ORDER BY item_id", self.conn)

    def find_by_title(self, title: str, limit: int = 10) -> list[dict]:
        """Case-insensitive substring lookup; `title` is a bound parameter, wildcards in it are escaped."""
        pattern = "%" + title.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.conn.execute(
            "SELECT item_id, title, year FROM movies WHERE title LIKE ? ESCAPE '\\' ORDER BY popularity DESC LIMIT ?",
            (pattern, int(limit)),
        ).fetchall()
        return [dict(item_id=r[0], title=r[1], year=r[2]) for r in rows]
