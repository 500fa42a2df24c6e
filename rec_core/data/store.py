"""pull / load_dataset / list_datasets / stats over a local data dir of normalised Parquet.

Layout: data_dir/<name>/{interactions,items,<extra>}.parquet, meta.json, raw/ (verified source files).
A pull builds everything in data_dir/.tmp-<name>-*/ and renames it into place at the end, so an error
(bad checksum, malformed file, failed download) never leaves a half-written dataset behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rec_core.data.errors import DataError, DataFormatError, DatasetUnavailableError
from rec_core.data.fetch import fetch_file, in_mirror, mirror_dir
from rec_core.data.registry import SPECS, get_spec
from rec_core.data.schema import Parsed

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
_STANDARD = ("interactions", "items")


def _dataset_dir(name: str, data_dir: Path) -> Path:
    return Path(data_dir) / name


def is_pulled(name: str, data_dir: Path) -> bool:
    return _is_current(_dataset_dir(name, data_dir))


def _is_current(ds_dir: Path) -> bool:
    """A complete pull written by this schema version (an older layout is re-pulled)."""
    meta = ds_dir / "meta.json"
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("schema_version") == SCHEMA_VERSION
    except (OSError, json.JSONDecodeError):
        return False


def _counts(parsed_or_ds, spec) -> dict[str, int]:
    inter, items = parsed_or_ds.interactions, parsed_or_ds.items
    out = {
        "users": int(inter["user_id"].nunique()),
        # Items that occur in interactions (ml-latest-small: 9,724 rated of 9,742 listed); catalog size when
        # the dataset has no interactions.
        "items": int(inter["item_id"].nunique()) if len(inter) else int(len(items)),
        "interactions": int(len(inter)),
    }
    for t in spec.stat_tables:
        out[t] = int(len(parsed_or_ds.tables[t]))
    return out


def pull(name: str, data_dir: Path, mirror: Path | None = None, force: bool = False) -> Path:
    """Fetch (mirror copy or download), verify sha256, parse and write Parquet. Returns data_dir/<name>.

    With a mirror, every file must be in it (nothing silently falls back to the network).
    """
    spec = get_spec(name)
    data_dir = Path(data_dir)
    final = _dataset_dir(name, data_dir)
    if is_pulled(name, data_dir) and not force:
        return final
    src_dir = None
    if mirror is not None:
        src_dir = mirror_dir(spec, mirror)
        if src_dir is None:
            hint = " (download only: not in the development mirror)" if spec.download_only else ""
            raise DatasetUnavailableError(
                f"{name}{hint}: not found in mirror {mirror} (looked for {spec.mirror_subpath}/{spec.files[0].path}); "
                f"pull without --from to download from {spec.files[0].url}"
            )
    if final.is_dir() and not (final / "meta.json").is_file() and any(final.iterdir()):
        # _install would move this folder away. It is not a pull of ours: most likely data_dir is the mirror itself
        # (data_dir/<name> is then the mirror's own copy of the source files).
        raise DataError(
            f"{name}: {final} exists and is not a pulled dataset (no meta.json), so it is left alone; "
            f"give a data dir other than the folder that holds it" + (f" (the mirror is {mirror})" if mirror else "")
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=data_dir))
    try:
        hashes = {}
        raw = staging / "raw"
        for f in spec.files:
            if f.optional and src_dir is not None and not (src_dir / f.path).is_file():
                log.info("%s: optional %s is not in the mirror; going on without it", name, f.path)
                continue
            try:
                hashes[f.path] = fetch_file(
                    f, raw / f.path, src_dir=src_dir, downloads=data_dir / ".downloads", dataset=name
                )
            except DatasetUnavailableError as e:
                if not f.optional:
                    raise
                log.warning("%s: optional %s could not be fetched (%s); going on without it", name, f.path, e)
        try:
            parsed = spec.parser({p: raw / p for p in hashes})
        except DataFormatError as e:
            raise e.relocated(_origin_of(e.file, raw, spec, src_dir)) from None
        _write(parsed, staging)
        meta = {
            "name": name,
            "schema_version": SCHEMA_VERSION,
            "description": spec.description,
            "counts": _counts(parsed, spec),
            "catalog_items": int(len(parsed.items)),
            "tables": sorted(parsed.tables),
            "source": "mirror" if src_dir is not None else "download",
            "source_location": str(src_dir) if src_dir is not None else None,
            "files": [
                {
                    "path": f.path,
                    "url": f.url,
                    "member": f.member,
                    "sha256": hashes[f.path],
                    "verified": f.sha256 is not None or f.git_blob_sha1 is not None,
                }
                for f in spec.files
                if f.path in hashes
            ],
            "licence": spec.licence,
            "notes": {**spec.notes, **parsed.notes},
            "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (staging / "meta.json").write_text(json.dumps(meta, indent=2))
        _install(staging, final, replace=force)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final


def _origin_of(file: str, raw: Path, spec, src_dir: Path | None) -> str:
    """Map a staging copy back to where the user can look at it: the mirror file or the URL (+ zip member)."""
    try:
        rel = Path(file).relative_to(raw).as_posix()
    except ValueError:
        return file
    for f in spec.files:
        if f.path == rel:
            if src_dir is not None:
                return str(src_dir / f.path)
            return f.url + (f"!{f.member}" if f.member else "")
    return file


def _write(parsed: Parsed, out: Path) -> None:
    parsed.interactions.to_parquet(out / "interactions.parquet", index=False)
    parsed.items.to_parquet(out / "items.parquet", index=False)
    for t, df in parsed.tables.items():
        if t in _STANDARD:
            raise ValueError(f"extra table name {t!r} clashes with a standard table")
        df.to_parquet(out / f"{t}.parquet", index=False)


def _install(staging: Path, final: Path, replace: bool) -> None:
    """Swap the finished staging dir into place. Concurrent pulls (e.g. two Ray workers): first one wins,
    and a complete copy that appeared meanwhile is never moved away unless `replace` (--force)."""
    if not replace and _is_current(final):
        return
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}-{time.time_ns()}")
        os.rename(final, old)
    try:
        os.rename(staging, final)
    except OSError:
        if not (final / "meta.json").is_file():
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class Dataset:
    """A pulled dataset: the two standard tables, extra tables, and meta.json."""

    name: str
    path: Path
    interactions: pd.DataFrame
    items: pd.DataFrame
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def stats(self) -> dict[str, int]:
        return _counts(self, get_spec(self.name))

    def table_path(self, name: str) -> Path:
        """The Parquet file of a table (for ray.data.read_parquet and other readers)."""
        p = self.path / f"{name}.parquet"
        if not p.is_file():
            raise DataError(f"dataset {self.name} has no table file {p}")
        return p

    def table(self, name: str) -> pd.DataFrame:
        if name not in self.tables:
            raise DataError(
                f"dataset {self.name} has no table {name!r}; tables: {', '.join(sorted(self.tables)) or 'none'}"
            )
        return self.tables[name]


def _poster_paths(data_dir: Path, mirror: Path | None) -> pd.DataFrame | None:
    """movie_posters items with absolute image paths, pulling them from the mirror when it has them.

    Never downloads implicitly: without posters in data_dir or the mirror, image_path stays None.
    """
    if not is_pulled("movie_posters", data_dir):
        if mirror is None or not in_mirror(get_spec("movie_posters"), mirror):
            return None
        pull("movie_posters", data_dir, mirror)
    base = _dataset_dir("movie_posters", data_dir)
    posters = pd.read_parquet(base / "items.parquet", columns=["item_id", "tmdb_id", "poster_file"])
    posters["image_path"] = [str((base / p).resolve()) for p in posters["poster_file"]]
    return posters


def _object_column(values: list, like: pd.DataFrame) -> pd.Series:
    # object dtype keeps None for "no poster" (pandas 3 would infer a str column with NaN instead)
    return pd.Series(values, index=like.index, dtype=object)


def _attach_posters(name: str, items: pd.DataFrame, data_dir: Path, mirror: Path | None) -> pd.DataFrame:
    if name == "movie_posters":
        base = _dataset_dir(name, data_dir)
        items["image_path"] = _object_column([str((base / p).resolve()) for p in items["poster_file"]], items)
    elif name in ("ml-latest-small", "tmdb_5000"):
        posters = _poster_paths(data_dir, mirror)
        if posters is not None:
            key, pkey = ("item_id", "item_id") if name == "ml-latest-small" else ("item_id", "tmdb_id")
            lookup = dict(zip(posters[pkey], posters["image_path"]))
            items["image_path"] = _object_column([lookup.get(k) for k in items[key]], items)
    return items


def load_dataset(name: str, data_dir: Path, mirror: Path | None = None) -> Dataset:
    """Read data_dir/<name> (pulling it first when absent: from `mirror`, or downloading when mirror is None)."""
    spec = get_spec(name)
    data_dir = Path(data_dir)
    if not is_pulled(name, data_dir):
        pull(name, data_dir, mirror)
    base = _dataset_dir(name, data_dir)
    meta = json.loads((base / "meta.json").read_text())
    items = _attach_posters(name, pd.read_parquet(base / "items.parquet"), data_dir, mirror)
    tables = {t: pd.read_parquet(base / f"{t}.parquet") for t in meta.get("tables", [])}
    return Dataset(spec.name, base, pd.read_parquet(base / "interactions.parquet"), items, tables, meta)


def list_datasets(data_dir: Path, mirror: Path | None = None) -> list[dict]:
    return [
        {
            "name": s.name,
            "present": is_pulled(s.name, data_dir),
            "in_mirror": in_mirror(s, mirror),
            "download_only": s.download_only,
            "licence": s.licence,
            "description": s.description,
        }
        for s in SPECS.values()
    ]


def stats(name: str, data_dir: Path, mirror: Path | None = None) -> dict[str, int]:
    """Counts from meta.json (pulling first when absent); no Parquet read needed."""
    get_spec(name)
    if not is_pulled(name, data_dir):
        pull(name, data_dir, mirror)
    return json.loads((_dataset_dir(name, data_dir) / "meta.json").read_text())["counts"]


def released_sids(name: str, data_dir: Path | None = None, mirror: Path | None = None) -> pd.DataFrame:
    """The semantic IDs shipped with a dataset (instruments: 4 levels, industrial_scientific: 3): item_id, sid.

    data_dir / mirror default to rec_core.paths.default_data_dir() / default_mirror().
    """
    from rec_core.paths import default_data_dir, default_mirror

    spec = get_spec(name)
    if "released_sids" not in spec.stat_tables:
        raise DataError(f"dataset {name} has no released semantic IDs (only instruments, industrial_scientific)")
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    mirror = mirror if mirror is not None else default_mirror()
    return load_dataset(name, data_dir, mirror).table("released_sids")
