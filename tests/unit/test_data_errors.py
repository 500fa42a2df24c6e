"""Bad copies of real mirror files: truncated or malformed sources raise DataFormatError naming the file and
line/field; a modified file fails the checksum; nothing half-written is left behind."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from rec_core.data import SPECS, ChecksumError, DataError, DataFormatError, pull
from rec_core.data.fetch import sha256_file


def bad_mirror(tmp_path: Path, mirror: Path, name: str) -> Path:
    """A copy of one dataset's mirror folder, laid out like the real mirror."""
    spec = SPECS[name]
    dst = tmp_path / "mirror" / spec.mirror_subpath
    for f in spec.files:
        if f.optional and not (mirror / spec.mirror_subpath / f.path).is_file():
            continue
        (dst / f.path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(mirror / spec.mirror_subpath / f.path, dst / f.path)
    return tmp_path / "mirror"


def trust_copies(monkeypatch, name: str, root: Path) -> None:
    """Register the damaged copies' hashes so the test reaches the parser (checksums are tested separately)."""
    spec = SPECS[name]
    files = tuple(
        dataclasses.replace(f, sha256=sha256_file(root / spec.mirror_subpath / f.path), git_blob_sha1=None)
        if (root / spec.mirror_subpath / f.path).is_file()
        else f
        for f in spec.files
    )
    monkeypatch.setitem(SPECS, name, dataclasses.replace(spec, files=files))


def leftovers(data_dir: Path) -> list[str]:
    return sorted(p.name for p in data_dir.iterdir()) if data_dir.exists() else []


def test_modified_mirror_file_fails_checksum(tmp_path, mirror):
    root = bad_mirror(tmp_path, mirror, "ml-100k")
    path = root / "ml-100k" / "u.data"
    path.write_bytes(path.read_bytes().replace(b"\t5\t", b"\t4\t", 1))
    with pytest.raises(ChecksumError) as ei:
        pull("ml-100k", tmp_path / "data", root)
    e = ei.value
    assert e.file == str(path) and e.expected == SPECS["ml-100k"].files[0].sha256 and e.actual == sha256_file(path)
    assert str(path) in str(e) and e.expected in str(e) and e.actual in str(e)
    assert leftovers(tmp_path / "data") == []


def test_truncated_ratings_csv(tmp_path, mirror, monkeypatch):
    root = bad_mirror(tmp_path, mirror, "ml-latest-small")
    path = root / "ml-latest-small" / "ratings.csv"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 12])  # cut inside the last row: "610,170875,3" …
    trust_copies(monkeypatch, "ml-latest-small", root)
    with pytest.raises(DataFormatError) as ei:
        pull("ml-latest-small", tmp_path / "data", root)
    e = ei.value
    assert e.file == str(path) and e.line == 100837
    assert f"{path}, line 100837" in str(e)
    assert leftovers(tmp_path / "data") == []


def test_non_numeric_rating_names_field(tmp_path, mirror, monkeypatch):
    root = bad_mirror(tmp_path, mirror, "ml-latest-small")
    path = root / "ml-latest-small" / "ratings.csv"
    lines = path.read_text().split("\n")
    lines[41] = lines[41].replace(",", ",x", 2).replace(",x", ",", 1)  # third field gets an 'x'
    path.write_text("\n".join(lines))
    trust_copies(monkeypatch, "ml-latest-small", root)
    with pytest.raises(DataFormatError, match=r"ratings.csv, line 42, field 'rating': expected a number"):
        pull("ml-latest-small", tmp_path / "data", root)


def test_truncated_json(tmp_path, mirror, monkeypatch):
    root = bad_mirror(tmp_path, mirror, "instruments")
    path = root / "amazon_instruments_lcrec" / "Instruments.inter.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    trust_copies(monkeypatch, "instruments", root)
    with pytest.raises(DataFormatError, match=r"Instruments.inter.json, line \d+: invalid JSON") as ei:
        pull("instruments", tmp_path / "data", root)
    assert ei.value.line > 1000 and leftovers(tmp_path / "data") == []


def test_bad_item_id_in_sequence(tmp_path, mirror, monkeypatch):
    root = bad_mirror(tmp_path, mirror, "beauty")
    path = root / "amazon_p5_seq/beauty/sequential_data.txt"
    lines = path.read_text().split("\n")
    lines[4] = lines[4] + " 12x"
    lines[9] = lines[9] + " 99999"
    path.write_text("\n".join(lines))
    trust_copies(monkeypatch, "beauty", root)
    with pytest.raises(
        DataFormatError, match=r"sequential_data.txt, line 5, field 'item \d+': expected an integer, found '12x'"
    ):
        pull("beauty", tmp_path / "data", root)
    lines[4] = lines[4][:-4]
    path.write_text("\n".join(lines))
    trust_copies(monkeypatch, "beauty", root)
    with pytest.raises(DataFormatError, match=r"line 10, .*item 99999 is not in datamaps.json"):
        pull("beauty", tmp_path / "data", root)


def test_tmdb_bad_json_list_and_wrong_width(tmp_path, mirror, monkeypatch):
    root = bad_mirror(tmp_path, mirror, "tmdb_5000")
    path = root / "tmdb_5000/tmdb_5000_movies.csv"
    good = path.read_bytes().decode()  # not read_text(): it would turn the 3 bare '\r' in fields into new lines
    path.write_bytes(good.replace('""name"": ""Action""}', '""name"": ""Action""', 1).encode())
    trust_copies(monkeypatch, "tmdb_5000", root)
    with pytest.raises(DataFormatError, match=r"line 2, field 'genres': invalid JSON list"):
        pull("tmdb_5000", tmp_path / "data", root)
    lines = good.split("\n")
    path.write_bytes("\n".join(lines[:-2] + [lines[-2].rsplit(",", 3)[0]] + lines[-1:]).encode())  # drop 3 fields
    trust_copies(monkeypatch, "tmdb_5000", root)
    with pytest.raises(DataFormatError, match=r"line 4804: expected 20 fields, found 17"):
        pull("tmdb_5000", tmp_path / "data", root)


def test_u_item_wrong_width_and_uci_bad_label(tmp_path, mirror, monkeypatch):
    root = bad_mirror(tmp_path, mirror, "ml-100k")
    path = root / "ml-100k/u.item"
    lines = path.read_bytes().split(b"\n")
    lines[6] = lines[6].rsplit(b"|", 2)[0]
    path.write_bytes(b"\n".join(lines))
    trust_copies(monkeypatch, "ml-100k", root)
    with pytest.raises(DataFormatError, match=r"u.item, line 7: expected 24 fields separated by '\|', found 22"):
        pull("ml-100k", tmp_path / "data", root)

    root = bad_mirror(tmp_path / "uci", mirror, "uci_sentiment")
    path = root / "uci_sentiment_labelled_sentences/yelp_labelled.txt"
    lines = path.read_text().split("\n")
    lines[2] = lines[2][:-1] + "2"
    path.write_text("\n".join(lines))
    trust_copies(monkeypatch, "uci_sentiment", root)
    with pytest.raises(
        DataFormatError, match=r"yelp_labelled.txt, line 3, field 'label': label must be 0 or 1, found '2'"
    ):
        pull("uci_sentiment", tmp_path / "data", root)


def test_missing_file_in_mirror(tmp_path, mirror):
    from rec_core.data import DatasetUnavailableError

    root = bad_mirror(tmp_path, mirror, "ml-100k")
    (root / "ml-100k" / "u.user").unlink()
    with pytest.raises(DatasetUnavailableError, match=r"ml-100k: u.user is not in the mirror"):
        pull("ml-100k", tmp_path / "data", root)
    assert leftovers(tmp_path / "data") == []


def test_bad_sid_token_names_item(tmp_path, mirror, monkeypatch):
    root = bad_mirror(tmp_path, mirror, "instruments")
    path = root / "amazon_instruments_lcrec" / "Instruments.index.json"
    path.write_text(path.read_text().replace('"1": ["<a_171>"', '"1": ["<x_171>"', 1))
    trust_copies(monkeypatch, "instruments", root)
    with pytest.raises(DataFormatError) as ei:
        pull("instruments", tmp_path / "data", root)
    assert str(ei.value) == f"{path}, field '1': bad SID token '<x_171>' at level 0"


def _instruments_with_text(tmp_path: Path, mirror: Path, monkeypatch, drop: int | None = None) -> Path:
    """A copy of the Instruments mirror plus a synthetic Instruments.item.json (the real one is not mirrored),
    registered under its own git blob id."""
    import json

    from rec_core.data.fetch import git_blob_sha1

    root = bad_mirror(tmp_path, mirror, "instruments")
    meta = {
        str(i): {"title": f"Guitar part {i}", "description": "", "brand": "Acme", "categories": "Musical Instruments"}
        for i in range(9922)
        if i != drop
    }
    path = root / "amazon_instruments_lcrec" / "Instruments.item.json"
    path.write_text(json.dumps(meta))
    spec = SPECS["instruments"]
    files = tuple(dataclasses.replace(f, git_blob_sha1=git_blob_sha1(path)) if f.optional else f for f in spec.files)
    monkeypatch.setitem(SPECS, "instruments", dataclasses.replace(spec, files=files))
    return root


def test_instruments_item_text_is_joined_when_present(tmp_path, mirror, monkeypatch):
    import pandas as pd

    root = _instruments_with_text(tmp_path, mirror, monkeypatch)
    out = pull("instruments", tmp_path / "data", root)
    items = pd.read_parquet(out / "items.parquet")
    assert len(items) == 9922 and items["title"].tolist()[:2] == ["Guitar part 0", "Guitar part 1"]
    assert items["asin"].notna().all() and (items["brand"] == "Acme").all()


def test_instruments_item_text_with_other_ids_is_rejected(tmp_path, mirror, monkeypatch):
    root = _instruments_with_text(tmp_path, mirror, monkeypatch, drop=17)
    with pytest.raises(
        DataFormatError,
        match=r"Instruments.item.json: its item ids are not those of Instruments.item2id "
        r"\(0 unknown, 1 missing, e.g. 17\)",
    ):
        pull("instruments", tmp_path / "data", root)
    assert leftovers(tmp_path / "data") == []


def test_optional_file_is_checked_by_git_blob_id(tmp_path, mirror):
    import subprocess

    from rec_core.data.fetch import git_blob_sha1

    f = tmp_path / "x.txt"
    f.write_bytes(b"hello\n")
    assert git_blob_sha1(f) == "ce013625030ba8dba906f756967f9e9ca394464a"  # `git hash-object` of "hello\n"
    if shutil.which("git"):
        assert (
            git_blob_sha1(f)
            == subprocess.run(["git", "hash-object", str(f)], capture_output=True, text=True).stdout.strip()
        )
    # A copy that is not LETTER's file (here: any other content) fails the registered blob id.
    root = bad_mirror(tmp_path, mirror, "instruments")
    (root / "amazon_instruments_lcrec" / "Instruments.item.json").write_text('{"0": {"title": "x"}}')
    with pytest.raises(ChecksumError, match="expected git blob sha1 e1b565483dc5"):
        pull("instruments", tmp_path / "data", root)
    # Without the file the pull goes on: the same items, no text.
    (root / "amazon_instruments_lcrec" / "Instruments.item.json").unlink()
    import pandas as pd

    items = pd.read_parquet(pull("instruments", tmp_path / "data", root) / "items.parquet")
    assert len(items) == 9922 and items["title"].isna().all()


def test_data_dir_equal_to_the_mirror_leaves_the_mirror_alone(tmp_path, mirror):
    """A pull whose data dir is the mirror would swap the mirror's own ml-100k folder for the Parquet pull
    (it happened once in development): it is refused, and every source file stays."""
    root = bad_mirror(tmp_path, mirror, "ml-100k")
    before = sorted(p.name for p in (root / "ml-100k").iterdir())
    with pytest.raises(DataError, match="not a pulled dataset"):
        pull("ml-100k", root, root)
    assert sorted(p.name for p in (root / "ml-100k").iterdir()) == before
    assert leftovers(root) == ["ml-100k"]
