"""DeltaPointReader on real Delta tables written by delta-rs (no Spark): files picked by their
key statistics, row groups by Parquet statistics, new versions picked up."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import WriterProperties, write_deltalake

from pipelines.serving.delta_reader import DeltaPointReader, TableUnavailable

SMALL_GROUPS = WriterProperties(max_row_group_size=4)


def rows(keys: list[str], version: int) -> pa.Table:
    return pa.table(
        {
            "k": keys,
            "v": [version] * len(keys),
            "ids": pa.array(
                [[("t", [k])] for k in keys], pa.map_(pa.string(), pa.list_(pa.string()))
            ),
        }
    )


def test_point_lookups_across_files_row_groups_and_versions(tmp_path):
    path = str(tmp_path / "t")
    for start in (0, 20, 40):  # three files of sorted, disjoint key ranges
        keys = [f"k{i:03d}" for i in range(start, start + 20)]
        write_deltalake(path, rows(keys, 1), mode="append", writer_properties=SMALL_GROUPS)
    reader = DeltaPointReader(path, "k", refresh_s=0)
    for i in range(60):
        row = reader.get(f"k{i:03d}")
        assert row == {"k": f"k{i:03d}", "v": 1, "ids": {"t": [f"k{i:03d}"]}}
    assert reader.get("k060") is None and reader.get("a") is None and reader.get("k0105") is None

    # A MERGE-like append whose range overlaps the others: still found, by the running max.
    write_deltalake(path, rows(["k000x", "k055x"], 2), mode="append")
    assert reader.get("k055x")["v"] == 2 and reader.get("k000x")["v"] == 2
    write_deltalake(path, rows(["k001"], 3), mode="overwrite")
    assert reader.get("k001")["v"] == 3 and reader.get("k002") is None


def test_missing_table_is_unavailable(tmp_path):
    with pytest.raises(TableUnavailable):
        DeltaPointReader(str(tmp_path / "nope"), "k").get("x")
