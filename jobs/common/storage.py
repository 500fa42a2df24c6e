"""Where Ray keeps a run's checkpoints and results: the run dir (default), another local / shared path, or an
S3-compatible bucket (`runtime.storage=s3://bucket/prefix`, `runtime.storage_endpoint=http://host:9000` for MinIO,
Ceph, moto...). Credentials come from the usual AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION) or the machine's role, as pyarrow's S3 filesystem reads them.

A run's checkpoints go to `<storage>/<run dir name>/<trainer's folder in the run dir>/<trainer name>` (a Tune
experiment: `<storage>/<--out name>/<experiment>`): re-running with the same `--out` name on any machine (a fresh
Ray, a new driver, an empty local disk) finds the checkpoints in the bucket and resumes from them.

The job runner sets it from the config for the run (`using(cfg.runtime)`; `configure` in each Tune trial); the one
Ray Train harness (`jobs.common.train.run_config`) and the Tune driver read `target()` from here.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Storage:
    """`uri`: None (the run dir), a local path, or s3://bucket/prefix; `endpoint`: an S3 endpoint override."""

    uri: str | None = None
    endpoint: str | None = None
    # The run dir of the job (`--out`) and its key in the storage: a trainer's run dir under it maps to
    # `<uri>/<root_key>/<its path below root>`; any other run dir to `<uri>/<its name>`.
    root: Path | None = None
    root_key: str | None = None

    @property
    def remote(self) -> bool:
        return bool(self.uri) and "://" in self.uri

    def target(self, run_dir: Path | str) -> tuple[str, object | None]:
        """(storage_path, storage_filesystem) for Ray's RunConfig: where the experiments of `run_dir` live."""
        run_dir = Path(run_dir)
        if not self.uri:
            return str(run_dir.resolve()), None
        key = self._key(run_dir)
        if not self.remote:
            return str(Path(os.path.expanduser(self.uri)).resolve() / key), None
        parts = urlsplit(self.uri)
        if parts.scheme != "s3":
            return f"{self.uri.rstrip('/')}/{key}", None  # gs://, hdfs://...: Ray resolves the filesystem itself
        return "/".join(p for p in (parts.netloc, parts.path.strip("/"), key) if p), s3_filesystem(self.endpoint)

    def remove(self, run_dir: Path | str, name: str) -> None:
        """Delete an experiment `name` (train.resume=false starts over)."""
        import shutil

        import pyarrow.fs as pafs

        path, fs = self.target(run_dir)
        if fs is None and not self.remote:
            shutil.rmtree(Path(path) / name, ignore_errors=True)
            return
        if fs is None:
            fs, path = pafs.FileSystem.from_uri(path)
        full = f"{path}/{name}"
        if fs.get_file_info(full).type != pafs.FileType.NotFound:
            fs.delete_dir(full)

    def _key(self, run_dir: Path) -> str:
        run_dir = run_dir.resolve()
        if self.root is not None:
            root = Path(self.root).resolve()
            if run_dir == root or root in run_dir.parents:
                rel = run_dir.relative_to(root).as_posix()
                return "/".join(p for p in (self.root_key or root.name, rel) if p and p != ".")
        return run_dir.name


def s3_filesystem(endpoint: str | None = None):
    """pyarrow's S3 filesystem, pointed at `endpoint` (http(s)://host:port) when given."""
    import pyarrow.fs as pafs

    kwargs: dict = {}
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
        kwargs["endpoint_override"] = parts.netloc
        kwargs["scheme"] = parts.scheme or "http"
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if region:
        kwargs["region"] = region
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        # Explicit keys travel with the (pickled) filesystem to Ray workers whose environment lacks them;
        # without them, each process uses the default chain (instance role, ~/.aws).
        kwargs["access_key"] = os.environ["AWS_ACCESS_KEY_ID"]
        kwargs["secret_key"] = os.environ["AWS_SECRET_ACCESS_KEY"]
        if os.environ.get("AWS_SESSION_TOKEN"):
            kwargs["session_token"] = os.environ["AWS_SESSION_TOKEN"]
    return pafs.S3FileSystem(**kwargs)


def configure(runtime, root: Path | None = None, root_key: str | None = None) -> Storage:
    """Set this process's storage from a RuntimeConfig (`runtime.storage`, `runtime.storage_endpoint`) for the
    run whose dir is `root` (its key in the storage: `root_key`, default the dir's name)."""
    global _CURRENT
    _CURRENT = Storage(runtime.storage or None, runtime.storage_endpoint or None, root, root_key)
    return _CURRENT


@contextlib.contextmanager
def using(runtime, root: Path | None = None):
    """`configure(runtime, root)` for the duration of a run, then back to what it was."""
    global _CURRENT
    saved = _CURRENT
    try:
        yield configure(runtime, root)
    finally:
        _CURRENT = saved


def current() -> Storage:
    return _CURRENT


def target(run_dir: Path | str) -> tuple[str, object | None]:
    return _CURRENT.target(run_dir)


_CURRENT = Storage()
