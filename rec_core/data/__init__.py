"""Data layer: dataset registry, pull/verify/parse to Parquet, and evaluation splits. Never imports Ray.

from rec_core.data import load_dataset
ds = load_dataset("beauty", data_dir, mirror)   # ds.interactions, ds.items, ds.tables, ds.stats()
"""

from rec_core.data.errors import ChecksumError, DataError, DataFormatError, DatasetUnavailableError, UnknownDatasetError
from rec_core.data.registry import SPECS, DatasetSpec, SourceFile, dataset_names, get_spec
from rec_core.data.store import Dataset, is_pulled, list_datasets, load_dataset, pull, released_sids, stats

__all__ = [
    "ChecksumError", "DataError", "DataFormatError", "DatasetUnavailableError", "UnknownDatasetError",
    "SPECS", "DatasetSpec", "SourceFile", "dataset_names", "get_spec",
    "Dataset", "is_pulled", "list_datasets", "load_dataset", "pull", "released_sids", "stats",
]  # fmt: skip
