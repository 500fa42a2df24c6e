"""data_pipelines.parts without Ray: frame parts, done keys, the settings stamp."""

from __future__ import annotations

import pandas as pd

from data_pipelines.parts import done_keys, read_parts, reset_if_settings_changed, write_part


def test_frame_parts_round_trip_and_done_keys(tmp_path):
    assert read_parts(tmp_path) is None and done_keys(tmp_path, "item_id") == set()
    write_part(tmp_path, pd.DataFrame({"item_id": [3, 1], "score": [0.5, None]}))
    write_part(tmp_path, pd.DataFrame({"item_id": [7], "score": [1.0]}))
    (tmp_path / "part-zzz-broken.parquet").write_bytes(b"PAR1 truncated")
    df = read_parts(tmp_path)
    assert sorted(df["item_id"]) == [1, 3, 7] and list(df.columns) == ["item_id", "score"]
    assert done_keys(tmp_path, "item_id") == {1, 3, 7}
    assert not (tmp_path / "part-zzz-broken.parquet").exists()  # unreadable: deleted, its rows are recomputed


def test_settings_change_drops_parts(tmp_path):
    reset_if_settings_changed(tmp_path, "method.json", {"method": "a"})
    write_part(tmp_path, pd.DataFrame({"item_id": [1]}))
    reset_if_settings_changed(tmp_path, "method.json", {"method": "a"})
    assert done_keys(tmp_path, "item_id") == {1}
    reset_if_settings_changed(tmp_path, "method.json", {"method": "b"})
    assert read_parts(tmp_path) is None
