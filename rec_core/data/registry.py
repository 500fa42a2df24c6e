"""Dataset registry: name -> where each file officially lives, its sha256, the mirror folder, licence, parser.

Hashes are those of the files as used (after the stated normalisation), copied from the SOURCES.md tables of
the development mirror. `genrec data pull NAME` downloads from `url` (extracting `member` from a zip when
set) or copies from a local mirror, then verifies every hash before parsing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rec_core.data import parsers
from rec_core.data.errors import UnknownDatasetError
from rec_core.data.poster_manifest import POSTERS
from rec_core.data.schema import Parsed

GH = "https://raw.githubusercontent.com"
GROUPLENS = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class SourceFile:
    path: str  # name under the dataset's mirror folder, and under data_dir/<name>/raw/
    url: str  # official (or pinned-commit) source; a .zip URL needs `member`
    sha256: str | None  # None: no trustworthy reference hash exists (the spec says why in `note`)
    member: str | None = None  # path inside the zip at `url`
    normalise: str | None = None  # "crlf": CRLF -> LF before hashing (the mirror copy was stored that way)
    note: str = ""
    # Optional: used when the mirror has it (or when downloading), never required; the parser copes without it.
    optional: bool = False
    # `git hash-object` of the file: the only reference some sources give (no published sha256).
    git_blob_sha1: str | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    mirror_subpath: str
    files: tuple[SourceFile, ...]
    licence: str
    parser: Callable[..., Parsed]
    download_only: bool = False  # not in the development mirror: only `pull` from the official source works
    stat_tables: tuple[str, ...] = ()  # extra tables whose row counts `stats()` reports
    notes: dict[str, str] = field(default_factory=dict)


AMAZON_RESEARCH = "Amazon review data (McAuley lab): research use only, do not redistribute."


def _p5(name: str, camel: str, hashes: tuple[str, str, str], download_only: bool) -> DatasetSpec:
    rdrec = f"{GH}/WangXFng/RDRec/4055c3028d3afbd57a0fffd54076825836b7cad7/data/{name}"
    idgen = f"{GH}/agiresearch/IDGenRec/a297185aa5b6cd6de9dcf8b8182052ee8e0b3261/rec_datasets/{camel}"
    seq, maps, names = hashes
    return DatasetSpec(
        name=name,
        description=f"Amazon 2014 5-core {camel} (P5/TIGER sequential split); item titles are generated short names",
        mirror_subpath=f"amazon_p5_seq/{name}",
        files=(
            SourceFile(
                "sequential_data.txt",
                f"{rdrec}/sequential.txt",
                seq,
                normalise="crlf",
                note="RDRec stores sequential.txt with CRLF line ends; hashed after CRLF -> LF",
            ),
            # JSON has no raw newlines inside strings, so CRLF -> LF is safe; applied in case RDRec's copy
            # has CRLF like its sequential.txt (identity on an LF file such as the mirror's).
            SourceFile("datamaps.json", f"{rdrec}/datamaps.json", maps, normalise="crlf"),
            SourceFile("idgenrec_item_textual_ids.txt", f"{idgen}/item_generative_indexing_phase_0.txt", names),
        ),
        licence=AMAZON_RESEARCH + " Item 'title' = IDGenRec phase-0 textual IDs (generated names, NOT product titles;"
        " IDGenRec repo states no licence).",
        parser=parsers.parse_p5,
        download_only=download_only,
    )


def _grouplens(zip_name: str, names: list[tuple[str, str | None]], encoding_note: str = "") -> tuple[SourceFile, ...]:
    return tuple(
        SourceFile(n, f"{GROUPLENS}/{zip_name}.zip", h, member=f"{zip_name}/{n}", note=encoding_note) for n, h in names
    )


MOVIELENS_LICENCE = (
    "GroupLens MovieLens licence: research use, cite Harper & Konstan 2015, no redistribution without permission, "
    "no commercial use."
)

_MINI = f"{GH}/zzzzzap111/MiniOneRec/c893c8b80b5eddc70138c0e062974f000dca3e05/data/Amazon"
_MINI_STEM = "Industrial_and_Scientific_5_2016-10-2018-11.csv"
_LETTER = f"{GH}/HonghuiBao2000/LETTER/8d0154e28de37dbb6e24871c508ad8ddb1921cda/data/Instruments"
_GENREC = f"{GH}/WncFht/GenRec/6b50a813e071f6e31b4052319f1b723ea01a934f/data/Instruments"
_UCI = "https://archive.ics.uci.edu/static/public/331/sentiment+labelled+sentences.zip"
_POSTERS = f"{GH}/rodrigo13714/Proyecto_Clustering/399a6a14f773892dfd7bf9a344daf55fff1bdc15/posters_test"

SPECS: dict[str, DatasetSpec] = {
    s.name: s
    for s in [
        _p5(
            "beauty",
            "Beauty",
            (
                "226cce9c3105299ca0db9615d7d3fb32b3175e90da43100ae352599f0f0107b8",
                "c3386147637538f6d97f7eafffeb4e7180daa0638875bc1d889bbee45ce241a8",
                "1a90f934fe506747f094b181f791ece593e2f86bb15e5420d910e6de4882b456",
            ),
            download_only=False,
        ),
        _p5(
            "sports",
            "Sports",
            (
                "2a095e0648872beb9982408958290f5d655db5be2911c3756b5446de9f0b8de2",
                "4746e0d7dada225d8a2191f9002b6a0335c065f5ebbb71cd305f00e2fda9f124",
                "710b6d9b661aebcd065b861e4076f5e3cc66bdd9735e462ca2db90d5cc951593",
            ),
            download_only=True,
        ),
        _p5(
            "toys",
            "Toys",
            (
                "fa1cff57550387966440a93219753b97df62269455b3497612cdca3e8db0ceee",
                "a67fd09b5bbca12aea613015d9d1ed99610bb35015d3bbe8cd9e7a3eeda2c90c",
                "bce5c0028efdb6ec87033021087c9251eb64d6dfc77d791c47837c830b9d7f19",
            ),
            download_only=True,
        ),
        DatasetSpec(
            name="instruments",
            description=(
                "Amazon 2018 Musical_Instruments, LC-Rec/LETTER split + released 4-level semantic IDs "
                "(item text only with Instruments.item.json)"
            ),
            mirror_subpath="amazon_instruments_lcrec",
            files=(
                SourceFile(
                    "Instruments.inter.json",
                    f"{_LETTER}/Instruments.inter.json",
                    "0a11d47791d90483005da93c36d826679e20e4592d1d2b86518d5f56f218e743",
                ),
                SourceFile(
                    "Instruments.index.json",
                    f"{_LETTER}/Instruments.index.json",
                    "33c87e28c52ae367985bdf494cb49d676d181e13a39497b4ad035f46111546dd",
                ),
                SourceFile(
                    "Instruments.item2id",
                    f"{_GENREC}/Instruments.item2id",
                    "76380000fb809cf19e841c69163310ec2d32b7b578277e2b659fbd1e72714688",
                ),
                SourceFile(
                    "Instruments.user2id",
                    f"{_GENREC}/Instruments.user2id",
                    "ae170e33f5f1e71ae21d72760e10951cac16dacaa5a20f6ede0aa26ce014bc15",
                ),
                # Item text (5 MB). Not in the development mirror (its snapshots stop at 4 MiB); downloads and any
                # mirror that has it get titles, brands, categories and descriptions. Checked by its git blob id,
                # the same in LETTER@8d0154e and GenRec@6b50a81 (other repos' copies use another id order).
                SourceFile(
                    "Instruments.item.json",
                    f"{_LETTER}/Instruments.item.json",
                    None,
                    optional=True,
                    git_blob_sha1="e1b565483dc55f63dc260aab13d0b3e1d73420fd",
                    note="no published sha256: verified by its git blob id",
                ),
            ),
            licence=AMAZON_RESEARCH + " LETTER/GenRec repos state no data licence.",
            parser=parsers.parse_lcrec,
            stat_tables=("released_sids",),
        ),
        DatasetSpec(
            name="industrial_scientific",
            description=(
                "Amazon 2018 Industrial_and_Scientific (MiniOneRec): item text + 3-level SIDs + valid/test rows only"
            ),
            mirror_subpath="amazon_industrial_scientific_minionerec",
            files=(
                SourceFile(
                    "index/Industrial_and_Scientific.item.json",
                    f"{_MINI}/index/Industrial_and_Scientific.item.json",
                    "937600c7a03652f55864a1d12d6e9fe8ca3e24ecc4e255a88216b25c5f949496",
                ),
                SourceFile(
                    "index/Industrial_and_Scientific.index.json",
                    f"{_MINI}/index/Industrial_and_Scientific.index.json",
                    "53f1aefbe8b8aa774326c122606c6525300c5a325e7b78817739d465aeb335f8",
                ),
                SourceFile(
                    f"valid/{_MINI_STEM}",
                    f"{_MINI}/valid/{_MINI_STEM}",
                    "12bbb02bced0bd754a8b4e0f9ca4086416e30d12b0b73a2c95e7b195dd67385a",
                ),
                SourceFile(
                    f"test/{_MINI_STEM}",
                    f"{_MINI}/test/{_MINI_STEM}",
                    "973dd1db4fd549f3f2b40a0f039dbae157ebb92c716197cc246401e4e82c3a46",
                ),
            ),
            licence=AMAZON_RESEARCH + " MiniOneRec code is Apache-2.0.",
            parser=parsers.parse_minionerec,
            stat_tables=("released_sids", "valid_rows", "test_rows"),
        ),
        DatasetSpec(
            name="ml-latest-small",
            description=(
                "MovieLens latest-small (2018-09): 100,836 ratings; items with year, genres, tags, tmdb_id, poster"
            ),
            mirror_subpath="ml-latest-small",
            files=_grouplens(
                "ml-latest-small",
                [
                    ("ratings.csv", "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"),
                    ("movies.csv", "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07"),
                    ("tags.csv", "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d"),
                    ("links.csv", "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31"),
                ],
            ),
            licence=MOVIELENS_LICENCE,
            parser=parsers.parse_ml_latest_small,
            stat_tables=("tags",),
            notes={"hashes": "of the 2018-09-26 release; a regenerated GroupLens zip fails the checksum loudly"},
        ),
        DatasetSpec(
            name="ml-100k",
            description="MovieLens 100K (1998): 100,000 ratings, 943 users, 1,682 movies",
            mirror_subpath="ml-100k",
            files=_grouplens(
                "ml-100k",
                [
                    ("u.data", "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
                    ("u.item", "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701"),
                    ("u.genre", "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb"),
                    ("u.user", "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c"),
                ],
                "u.item/u.user are ISO-8859-1",
            ),
            licence=MOVIELENS_LICENCE,
            parser=parsers.parse_ml_100k,
        ),
        DatasetSpec(
            name="ml-1m",
            description="MovieLens 1M: 1,000,209 ratings (ratings.dat is not in the development mirror)",
            mirror_subpath="ml-1m",
            files=(
                SourceFile(
                    "ratings.dat",
                    f"{GROUPLENS}/ml-1m.zip",
                    None,
                    member="ml-1m/ratings.dat",
                    note=(
                        "no reference sha256 could be verified offline: the hash is recorded on first pull, not checked"
                    ),
                ),
                *_grouplens(
                    "ml-1m",
                    [
                        ("movies.dat", "0140fc2356357c1a851d0f52e893a1e4d3696df632c4141cea8d5bc3d621f0b9"),
                        ("users.dat", "1dc3a95300cb19f7c10e027daf29b8cdf1d908dab65b5edfb45950aa389a10a3"),
                    ],
                    "ISO-8859-1",
                ),
            ),
            licence=MOVIELENS_LICENCE,
            parser=parsers.parse_ml_1m,
            download_only=True,
        ),
        DatasetSpec(
            name="tmdb_5000",
            description="TMDB 5000 movies (Kaggle tmdb/tmdb-movie-metadata, 2017): 4,803 movies, items only",
            mirror_subpath="tmdb_5000",
            files=(
                SourceFile(
                    "tmdb_5000_movies.csv",
                    f"{GH}/ellenfg/Predicting_Oscars/aa03c87401dbb1d8b070b00324c603635e5e6b72/tmdb_5000_movies.csv.zip",
                    "1e0584a8dd374120e4ed4f2b81f0d2bd0eb95a554708e4a350d00ed5c46d2825",
                    member="tmdb_5000_movies.csv",
                    note=(
                        "the Kaggle original needs a login; "
                        "this pinned GitHub copy has the published size and matched a second copy"
                    ),
                ),
            ),
            licence=(
                "TMDb API terms (via Kaggle): non-commercial research use; not endorsed by TMDb; do not redistribute."
            ),
            parser=parsers.parse_tmdb,
        ),
        DatasetSpec(
            name="movie_posters",
            description="150 real movie posters keyed by MovieLens movieId (all in TMDB 5000)",
            mirror_subpath="movie_posters",
            files=tuple(
                SourceFile(f"posters/{m}.jpg", f"{_POSTERS}/{m}.jpg", sha) for m, _t, _i, _n, _b, sha in POSTERS
            ),
            licence=(
                "Poster artwork is copyrighted by the studios (most likely fetched from TMDb); "
                "local test fixtures only."
            ),
            parser=parsers.parse_posters,
        ),
        DatasetSpec(
            name="imdb_top_1000",
            description="IMDb top 1000 movies (Kaggle harshitshankhdhar), items only",
            mirror_subpath="imdb_top_1000",
            files=(
                SourceFile(
                    "imdb_top_1000.csv",
                    f"{GH}/TigraGaizka/IMDB1000/93906adc145e3dff8793eebac3c6692355a77743/imdb_top_1000.csv",
                    "8e39bec3e8381cbd6cfa6a2a668da3c210fb17a3d96faf443544c95ab0fc33de",
                    note="identity with the Kaggle original could not be checked (no reference hash)",
                ),
            ),
            licence=(
                "Kaggle page states CC0 for the compilation; IMDb data and poster images carry IMDb's terms. "
                "Research/testing only."
            ),
            parser=parsers.parse_imdb_top_1000,
        ),
        DatasetSpec(
            name="uci_sentiment",
            description="UCI Sentiment Labelled Sentences: 3 x 1,000 sentences (amazon, imdb, yelp), label 0/1",
            mirror_subpath="uci_sentiment_labelled_sentences",
            files=tuple(
                SourceFile(
                    n,
                    _UCI,
                    h,
                    member=f"sentiment labelled sentences/{n}",
                    note=(
                        "hash of the mirror copy (GitHub tara-thomas/DM2020-Lab1-Homework1@9573c26); "
                        "assumed identical to UCI's zip member"
                    ),
                )
                for n, h in [
                    ("amazon_cells_labelled.txt", "47003fc0a0d4840b00e96e715b6189bad09e7443a3da41c4cbe12ffc79f86ae3"),
                    ("imdb_labelled.txt", "d92ac292638f1806d42b415127c470baa8d3ffa27da0752038a64c2b6c345ab9"),
                    ("yelp_labelled.txt", "c76468b7b5c6e56a0804d728345c5f84aa2142ddb214420f61cc9cfd4c00d2ea"),
                ]
            ),
            licence="CC BY 4.0 (UCI). Cite Kotzias et al., KDD 2015.",
            parser=parsers.parse_uci_sentiment,
            stat_tables=("sentences",),
        ),
    ]
}


def dataset_names() -> list[str]:
    return list(SPECS)


def get_spec(name: str) -> DatasetSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise UnknownDatasetError(f"unknown dataset {name!r}; known: {', '.join(SPECS)}") from None
