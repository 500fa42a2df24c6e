"""Every mirrored dataset parses to the published counts and the contract schema."""

from __future__ import annotations

import numpy as np
import pytest

from rec_core.data import SPECS, DatasetUnavailableError, list_datasets, load_dataset, released_sids, stats
from rec_core.data.fetch import in_mirror

EXPECTED = {
    "beauty": {"users": 22363, "items": 12101, "interactions": 198502},
    "instruments": {"users": 24772, "items": 9922, "interactions": 206153, "released_sids": 9922},
    "industrial_scientific": {
        "users": 0,
        "items": 3686,
        "interactions": 0,
        "released_sids": 3686,
        "valid_rows": 4532,
        "test_rows": 4533,
    },
    "ml-latest-small": {"users": 610, "items": 9724, "interactions": 100836, "tags": 3683},
    "ml-100k": {"users": 943, "items": 1682, "interactions": 100000},
    "tmdb_5000": {"users": 0, "items": 4803, "interactions": 0},
    "movie_posters": {"users": 0, "items": 150, "interactions": 0},
    "imdb_top_1000": {"users": 0, "items": 1000, "interactions": 0},
    "uci_sentiment": {"users": 0, "items": 0, "interactions": 0, "sentences": 3000},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_and_schema(name, data_dir, mirror):
    ds = load_dataset(name, data_dir, mirror)
    assert ds.stats() == EXPECTED[name]
    assert stats(name, data_dir) == EXPECTED[name]  # meta.json agrees with the Parquet
    inter = ds.interactions
    assert list(inter.columns) == ["user_id", "item_id", "timestamp", "rating"]
    assert [str(t) for t in inter.dtypes] == ["int64", "int64", "int64", "float64"]
    assert list(ds.items.columns[:2]) == ["item_id", "title"] and "image_path" in ds.items
    assert ds.items["item_id"].dtype == np.int64 and ds.items["item_id"].is_unique
    if len(inter):
        assert set(inter["item_id"]) <= set(ds.items["item_id"])  # every interacted item has a row
    assert ds.meta["source"] == "mirror" and all(f["verified"] for f in ds.meta["files"])


def test_beauty_items_are_generated_names(data_dir, mirror):
    ds = load_dataset("beauty", data_dir, mirror)
    assert "NOT product titles" in ds.meta["notes"]["title"]
    assert "generated names" in ds.meta["licence"]
    row = ds.items.set_index("asin").loc["B000GFCRGO"]
    assert row["title"] == "sedu ionic ceramic tourmaline flat"
    # timestamps are sequence positions: user 1's five items in file order
    u1 = ds.interactions[ds.interactions.user_id == 1]
    assert u1["item_id"].tolist() == [1, 2, 3, 4, 5] and u1["timestamp"].tolist() == [0, 1, 2, 3, 4]
    assert ds.interactions["rating"].isna().all()


def test_ml_latest_small_items(data_dir, mirror):
    items = load_dataset("ml-latest-small", data_dir, mirror).items.set_index("item_id")
    assert len(items) == 9742
    toy = items.loc[1]
    assert toy["title"] == "Toy Story (1995)" and toy["year"] == 1995 and toy["tmdb_id"] == 862
    assert list(toy["genres"]) == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert "pixar" in list(toy["tags"])
    assert toy["image_path"].endswith("1.jpg") and open(toy["image_path"], "rb").read(3) == b"\xff\xd8\xff"
    assert items["image_path"].notna().sum() == 150
    assert items["tmdb_id"].isna().sum() == 8  # links.csv has 8 empty tmdbId


def test_tmdb_items(data_dir, mirror):
    items = load_dataset("tmdb_5000", data_dir, mirror).items.set_index("item_id")
    avatar = items.loc[19995]
    assert avatar["title"] == "Avatar" and avatar["budget"] == 237_000_000 and avatar["year"] == 2009
    assert "Science Fiction" in list(avatar["genres"]) and "space war" in list(avatar["keywords"])
    assert (items["overview"].str.len() > 0).sum() == 4799
    assert (items["budget"] > 0).sum() == 3766 and (items["revenue"] > 0).sum() == 3376
    assert items["image_path"].notna().sum() == 150  # posters joined by tmdb_id


def test_ml_100k_latin1_and_genres(data_dir, mirror):
    items = load_dataset("ml-100k", data_dir, mirror).items.set_index("item_id")
    assert items.loc[1, "title"] == "Toy Story (1995)"
    assert list(items.loc[1, "genres"]) == ["Animation", "Children's", "Comedy"]
    assert items["title"].str.contains("é").any()  # decoded as latin-1, not mojibake


def test_released_sids(data_dir, mirror):
    inst = released_sids("instruments", data_dir, mirror)
    assert len(inst) == 9922 and inst["sid"].map(len).eq(4).all()
    assert list(inst.loc[inst.item_id == 0, "sid"].iloc[0]) == [128, 241, 146, 235]
    assert inst["sid"].map(tuple).nunique() == 9897  # the published collisions
    ind = released_sids("industrial_scientific", data_dir, mirror)
    assert len(ind) == 3686 and ind["sid"].map(len).eq(3).all() and ind["sid"].map(tuple).nunique() == 3670


def test_industrial_eval_rows(data_dir, mirror):
    ds = load_dataset("industrial_scientific", data_dir, mirror)
    test = ds.table("test_rows")
    assert test["user"].nunique() == 1987 and test["history"].map(len).max() <= 10
    assert set(test["target"]) <= set(ds.items["item_id"])
    assert ds.items.set_index("item_id").loc[0, "title"].startswith("SUPCO SPP6")


def test_imdb_top_1000(data_dir, mirror):
    items = load_dataset("imdb_top_1000", data_dir, mirror).items
    first = items.iloc[0]
    assert first["title"] == "The Shawshank Redemption" and first["year"] == 1994 and first["gross"] == 28_341_469
    assert items["year"].notna().all() and items["year"].between(1900, 2030).all()
    assert items["poster_url"].str.startswith("https://").all()


def test_uci_sentiment(data_dir, mirror):
    s = load_dataset("uci_sentiment", data_dir, mirror).table("sentences")
    assert list(s.columns) == ["text", "label", "source"]
    assert s.groupby("source")["label"].agg(["count", "sum"]).to_dict() == {
        "count": {"amazon": 1000, "imdb": 1000, "yelp": 1000},
        "sum": {"amazon": 500, "imdb": 500, "yelp": 500},
    }


def test_download_only_datasets_are_not_in_mirror(data_dir, mirror):
    rows = {r["name"]: r for r in list_datasets(data_dir, mirror)}
    assert set(rows) == set(SPECS)
    for name in ("sports", "toys", "ml-1m"):
        assert rows[name]["download_only"] and not rows[name]["in_mirror"]
        with pytest.raises(DatasetUnavailableError, match="not found in mirror"):
            load_dataset(name, data_dir, mirror)
    for name in EXPECTED:
        assert rows[name]["in_mirror"] and not rows[name]["download_only"]


def test_every_file_names_a_source_and_hash():
    for spec in SPECS.values():
        for f in spec.files:
            assert f.url.startswith("https://"), (spec.name, f.path)
            assert f.sha256 is None or len(f.sha256) == 64
            if f.sha256 is None:  # an unverifiable file must say why
                assert "sha256" in f.note
            if f.url.endswith(".zip"):
                assert f.member
    assert in_mirror(SPECS["beauty"], None) is False
