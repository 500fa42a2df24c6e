"""pull() end to end without the mirror: downloads over a local HTTP server and file:// URLs, checksum
rejection, atomic output. Synthetic files in the real formats, so these run in CI without any data."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import json
import threading
import zipfile
from pathlib import Path

import pytest

from rec_core.data import SPECS, ChecksumError, DatasetUnavailableError, is_pulled, load_dataset, pull
from rec_core.data.registry import SourceFile

U_DATA = "1\t10\t4\t881250949\n1\t20\t3\t881250950\n2\t10\t5\t881250951\n"
U_ITEM = "10|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n" + \
         "20|Caf\xe9 (1996)|01-Jan-1996||http://y|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"  # fmt: skip
U_GENRE = "".join(f"g{k}|{k}\n" for k in range(19)) + "\n"
U_USER = "1|24|M|technician|85711\n2|53|F|other|94043\n"
ML100K = {
    "u.data": U_DATA.encode(),
    "u.item": U_ITEM.encode("latin-1"),
    "u.genre": U_GENRE.encode(),
    "u.user": U_USER.encode(),
}


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class _Server:
    def __init__(self, root: Path):
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def log_message(self, *a):  # keep test output clean
                pass

            def do_GET(self):
                outer.requests.append(self.path)
                super().do_GET()

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def ml100k_server(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    with zipfile.ZipFile(root / "ml-100k.zip", "w") as zf:
        for n, b in ML100K.items():
            zf.writestr(f"ml-100k/{n}", b)
    with _Server(root) as srv:
        spec = SPECS["ml-100k"]
        files = tuple(
            dataclasses.replace(f, url=f"{srv.url}/ml-100k.zip", sha256=sha(ML100K[f.path])) for f in spec.files
        )
        monkeypatch.setitem(SPECS, "ml-100k", dataclasses.replace(spec, files=files))
        yield srv


def leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir() if p.name != ".downloads") if data_dir.exists() else []


def test_download_zip_over_http(ml100k_server, tmp_path):
    data_dir = tmp_path / "data"
    ds = load_dataset("ml-100k", data_dir)  # no mirror: downloads
    assert ds.stats() == {"users": 2, "items": 2, "interactions": 3}
    assert ds.items.set_index("item_id").loc[20, "title"] == "Café (1996)"
    assert list(ds.items.set_index("item_id").loc[10, "genres"]) == ["g3", "g4", "g5"]
    assert ds.meta["source"] == "download" and all(f["verified"] for f in ds.meta["files"])
    assert ml100k_server.requests == ["/ml-100k.zip"]  # one zip download for four members
    pull("ml-100k", data_dir)  # already present: no new request
    assert ml100k_server.requests == ["/ml-100k.zip"]
    pull("ml-100k", data_dir, force=True)  # the zip is cached under .downloads
    assert ml100k_server.requests == ["/ml-100k.zip"] and is_pulled("ml-100k", data_dir)
    assert leftovers(data_dir) == ["ml-100k"]


def test_checksum_mismatch_on_download_leaves_nothing(ml100k_server, tmp_path, monkeypatch):
    spec = SPECS["ml-100k"]
    bad = tuple(dataclasses.replace(f, sha256="0" * 64) if f.path == "u.item" else f for f in spec.files)
    monkeypatch.setitem(SPECS, "ml-100k", dataclasses.replace(spec, files=bad))
    data_dir = tmp_path / "data"
    with pytest.raises(ChecksumError) as ei:
        pull("ml-100k", data_dir)
    msg = str(ei.value)
    assert "ml-100k.zip!ml-100k/u.item" in msg and "0" * 64 in msg and sha(ML100K["u.item"]) in msg
    assert leftovers(data_dir) == []


def test_checksum_mismatch_keeps_previous_good_copy(ml100k_server, tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    pull("ml-100k", data_dir)
    before = (data_dir / "ml-100k" / "meta.json").read_text()
    spec = SPECS["ml-100k"]
    monkeypatch.setitem(
        SPECS,
        "ml-100k",
        dataclasses.replace(spec, files=tuple(dataclasses.replace(f, sha256="f" * 64) for f in spec.files)),
    )
    with pytest.raises(ChecksumError):
        pull("ml-100k", data_dir, force=True)
    assert (data_dir / "ml-100k" / "meta.json").read_text() == before and leftovers(data_dir) == ["ml-100k"]


def test_file_url_download(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    spec = SPECS["uci_sentiment"]
    files = []
    for k, f in enumerate(spec.files):
        body = f"Great phone 'really\"\t1\nAwful {k}.\t0\n".encode()
        (src / f.path).write_bytes(body)
        files.append(SourceFile(f.path, (src / f.path).as_uri(), sha(body)))
    monkeypatch.setitem(SPECS, "uci_sentiment", dataclasses.replace(spec, files=tuple(files)))
    ds = load_dataset("uci_sentiment", tmp_path / "data")
    s = ds.table("sentences")
    assert len(s) == 6 and s.label.tolist() == [1, 0] * 3 and s.text[0] == "Great phone 'really\""  # QUOTE_NONE
    assert ds.stats()["sentences"] == 6


def test_unreachable_url_is_a_clear_error(tmp_path, monkeypatch):
    spec = SPECS["imdb_top_1000"]
    url = "http://127.0.0.1:9/imdb_top_1000.csv"  # discard port: connection refused
    monkeypatch.setitem(
        SPECS, "imdb_top_1000", dataclasses.replace(spec, files=(dataclasses.replace(spec.files[0], url=url),))
    )
    with pytest.raises(DatasetUnavailableError, match="download of http://127.0.0.1:9/imdb_top_1000.csv failed"):
        pull("imdb_top_1000", tmp_path / "data")
    assert leftovers(tmp_path / "data") == []
    assert (
        not any((tmp_path / "data" / ".downloads").glob("*")) if (tmp_path / "data" / ".downloads").exists() else True
    )


def test_corrupt_zip_is_not_cached(tmp_path, monkeypatch):
    root = tmp_path / "www"
    root.mkdir()
    (root / "ml-100k.zip").write_bytes(b"PK\x03\x04 this is not a zip")
    with _Server(root) as srv:
        spec = SPECS["ml-100k"]
        monkeypatch.setitem(
            SPECS,
            "ml-100k",
            dataclasses.replace(
                spec, files=tuple(dataclasses.replace(f, url=f"{srv.url}/ml-100k.zip") for f in spec.files)
            ),
        )
        with pytest.raises(DatasetUnavailableError, match="is not a valid zip"):
            pull("ml-100k", tmp_path / "data")
    assert not list((tmp_path / "data" / ".downloads").glob("*ml-100k.zip"))


def test_crlf_normalised_before_hashing(tmp_path, monkeypatch):
    """RDRec ships sequential.txt with CRLF; the registry hash is of the LF version."""
    seq_lf = b"1 1 2 3\n2 2 3 1\n"
    maps = json.dumps({"id2user": {"1": "U1", "2": "U2"}, "id2item": {"1": "A1", "2": "A2", "3": "A3"}}).encode()
    names = b"A1 red lipstick\nA2 \nA3 blue nail polish\n"
    src = tmp_path / "src"
    src.mkdir()
    (src / "sequential.txt").write_bytes(seq_lf.replace(b"\n", b"\r\n"))
    (src / "datamaps.json").write_bytes(maps)
    (src / "names.txt").write_bytes(names)
    spec = SPECS["beauty"]
    files = (
        dataclasses.replace(spec.files[0], url=(src / "sequential.txt").as_uri(), sha256=sha(seq_lf)),
        dataclasses.replace(spec.files[1], url=(src / "datamaps.json").as_uri(), sha256=sha(maps)),
        dataclasses.replace(spec.files[2], url=(src / "names.txt").as_uri(), sha256=sha(names)),
    )
    monkeypatch.setitem(SPECS, "beauty", dataclasses.replace(spec, files=files))
    ds = load_dataset("beauty", tmp_path / "data")
    assert ds.stats() == {"users": 2, "items": 3, "interactions": 6}
    assert ds.items.title.tolist() == ["red lipstick", "", "blue nail polish"]
    assert ds.interactions[ds.interactions.user_id == 2].item_id.tolist() == [2, 3, 1]


def test_concurrent_pulls_agree(ml100k_server, tmp_path):
    """Two workers pulling the same dataset at once (e.g. Ray Train workers): both succeed, one copy remains."""
    data_dir = tmp_path / "data"
    results, errors = [], []

    def work():
        try:
            results.append(load_dataset("ml-100k", data_dir).stats())
        except Exception as e:  # surfaced below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [{"users": 2, "items": 2, "interactions": 3}] * 3
    assert leftovers(data_dir) == ["ml-100k"]


def test_ml_1m_download_records_unverified_hash(tmp_path, monkeypatch):
    """ml-1m's ratings.dat has no reference hash: the pull records what it got and marks it unverified."""
    files = {
        "ratings.dat": b"1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n",
        "movies.dat": (
            "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::Am\xe9lie (2001)::Comedy|Romance\n"
        ).encode("latin-1"),
        "users.dat": b"1::F::1::10::48067\n2::M::56::16::70072\n",
    }
    root = tmp_path / "www"
    root.mkdir()
    with zipfile.ZipFile(root / "ml-1m.zip", "w") as zf:
        for n, b in files.items():
            zf.writestr(f"ml-1m/{n}", b)
    spec = SPECS["ml-1m"]
    new = tuple(
        dataclasses.replace(
            f, url=(root / "ml-1m.zip").as_uri(), sha256=None if f.sha256 is None else sha(files[f.path])
        )
        for f in spec.files
    )
    monkeypatch.setitem(SPECS, "ml-1m", dataclasses.replace(spec, files=new))
    ds = load_dataset("ml-1m", tmp_path / "data")
    assert ds.stats() == {"users": 2, "items": 2, "interactions": 3}
    by_path = {f["path"]: f for f in ds.meta["files"]}
    assert by_path["ratings.dat"]["verified"] is False and by_path["ratings.dat"]["sha256"] == sha(files["ratings.dat"])
    assert by_path["movies.dat"]["verified"] is True
    items = ds.items.set_index("item_id")
    assert items.loc[661, "title"] == "Amélie (2001)" and list(items.loc[661, "genres"]) == ["Comedy", "Romance"]
    assert ds.table("users").set_index("user_id").loc[2, "age"] == 56


def test_stale_schema_is_repulled(ml100k_server, tmp_path):
    data_dir = tmp_path / "data"
    pull("ml-100k", data_dir)
    meta_path = data_dir / "ml-100k" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["schema_version"] = 0  # written by an older release
    meta_path.write_text(json.dumps(meta))
    assert not is_pulled("ml-100k", data_dir)
    ds = load_dataset("ml-100k", data_dir)
    assert is_pulled("ml-100k", data_dir) and ds.meta["schema_version"] != 0
    assert ds.table_path("interactions").is_file() and leftovers(data_dir) == ["ml-100k"]


def test_optional_file_that_cannot_be_downloaded_is_skipped(tmp_path, monkeypatch, mirror):
    """Downloading Instruments: the 4 required files (file:// copies of the mirror's) must arrive; the optional
    item text is skipped with a warning when its URL fails, and the items come without text."""
    import pandas as pd

    spec = SPECS["instruments"]
    src = mirror / spec.mirror_subpath
    files = tuple(
        dataclasses.replace(f, url="http://127.0.0.1:9/Instruments.item.json")
        if f.optional
        else dataclasses.replace(f, url=(src / f.path).as_uri())
        for f in spec.files
    )
    assert sum(f.optional for f in files) == 1
    monkeypatch.setitem(SPECS, "instruments", dataclasses.replace(spec, files=files))
    items = pd.read_parquet(pull("instruments", tmp_path / "data") / "items.parquet")
    assert len(items) == 9922 and items["title"].isna().all()
    # A required file behind the same dead URL is still an error.
    files = tuple(
        dataclasses.replace(f, url="http://127.0.0.1:9/x") if f.path == "Instruments.item2id" else f for f in files
    )
    monkeypatch.setitem(SPECS, "instruments", dataclasses.replace(spec, files=files))
    with pytest.raises(DatasetUnavailableError, match="download of http://127.0.0.1:9/x failed"):
        pull("instruments", tmp_path / "data2")
