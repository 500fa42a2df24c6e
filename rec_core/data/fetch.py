"""Getting one source file onto disk: copy from a mirror or download (urllib), normalise, hash.

Downloads go to data_dir/.downloads/ (a zip is fetched once and every member extracted from it) via a
temporary file renamed into place, so an interrupted download never looks complete.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from rec_core.data.errors import ChecksumError, DatasetUnavailableError
from rec_core.data.registry import DatasetSpec, SourceFile

log = logging.getLogger(__name__)
DOWNLOAD_TIMEOUT_S = 60
_CHUNK = 1 << 20


def _digest(h, path: Path) -> str:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    return _digest(hashlib.sha256(), path)


def git_blob_sha1(path: Path) -> str:
    """What `git hash-object` prints for the file."""
    return _digest(hashlib.sha1(f"blob {path.stat().st_size}\0".encode()), path)


def mirror_dir(spec: DatasetSpec, mirror: Path | None) -> Path | None:
    """The folder holding this dataset's files: mirror/<subpath>, or mirror itself when it *is* that folder."""
    if mirror is None:
        return None
    mirror = Path(mirror)
    for cand in (mirror / spec.mirror_subpath, mirror):
        if (cand / spec.files[0].path).is_file():
            return cand
    return None


def in_mirror(spec: DatasetSpec, mirror: Path | None) -> bool:
    d = mirror_dir(spec, mirror)
    return d is not None and all((d / f.path).is_file() for f in spec.files if not f.optional)


def _download(url: str, dest: Path) -> None:
    """urllib download to `dest` (atomic: temp file + rename). Errors name the URL."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            bar = _progress(total, dest.name)
            for block in iter(lambda: resp.read(_CHUNK), b""):
                out.write(block)
                if bar is not None:
                    bar.update(len(block))
            if bar is not None:
                bar.close()
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, ValueError) as e:
        Path(tmp).unlink(missing_ok=True)
        raise DatasetUnavailableError(
            f"download of {url} failed: {e} (offline? copy from a local mirror instead: "
            "`genrec data pull NAME --from DIR`, or set GENREC_MIRROR)"
        ) from e


def _progress(total: int | None, name: str):
    if not total or total < 4 * _CHUNK:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=f"download {name}")


def _url_cache_path(url: str, downloads: Path) -> Path:
    # One cache file per URL: zips shared by several members are downloaded once.
    tag = hashlib.sha256(url.encode()).hexdigest()[:12]
    return downloads / f"{tag}-{url.rstrip('/').rsplit('/', 1)[-1]}"


def _normalise_crlf(path: Path) -> None:
    data = path.read_bytes()
    if b"\r\n" in data:
        path.write_bytes(data.replace(b"\r\n", b"\n"))


def fetch_file(f: SourceFile, dest: Path, *, src_dir: Path | None, downloads: Path, dataset: str) -> str:
    """Put `f` at `dest` (from src_dir when given, else from its URL), normalise, verify. Returns the sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src_dir is not None:
        src = src_dir / f.path
        if not src.is_file():
            raise DatasetUnavailableError(
                f"{dataset}: {f.path} is not in the mirror {src_dir}; pull without a mirror to download it from {f.url}"
            )
        shutil.copyfile(src, dest)
    else:
        cached = _url_cache_path(f.url, downloads)
        if not cached.is_file():
            log.info("downloading %s", f.url)
            _download(f.url, cached)
        if f.member is None:
            shutil.copyfile(cached, dest)
        else:
            try:
                with zipfile.ZipFile(cached) as zf, zf.open(f.member) as src_fh, open(dest, "wb") as out:
                    shutil.copyfileobj(src_fh, out)
            except KeyError:
                raise DatasetUnavailableError(f"{dataset}: {f.url} has no member {f.member!r}") from None
            except zipfile.BadZipFile as e:
                cached.unlink(missing_ok=True)  # a corrupt download must not be reused
                raise DatasetUnavailableError(f"{dataset}: {f.url} is not a valid zip ({e})") from e
    if f.normalise == "crlf":
        _normalise_crlf(dest)
    actual = sha256_file(dest)
    origin = (src_dir / f.path) if src_dir is not None else f.url + (f"!{f.member}" if f.member else "")
    if f.sha256 is not None and actual != f.sha256:
        raise ChecksumError(origin, f.sha256, actual)
    if f.git_blob_sha1 is not None and (blob := git_blob_sha1(dest)) != f.git_blob_sha1:
        raise ChecksumError(origin, f.git_blob_sha1, blob, kind="git blob sha1")
    return actual
