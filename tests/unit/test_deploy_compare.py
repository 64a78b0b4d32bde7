"""Lakehouse comparison (docs/deploy.md, "Equal"): run stamps may differ, nothing else."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.catalog import Catalog
from pipelines.deploy.compare import compare_table

SCHEMA = ("event_id string, amount double, tags map<string,string>, "
          "props struct<attributes: map<string,string>>, ingested_at timestamp")
T1, T2 = datetime(2026, 9, 1, 10), datetime(2026, 9, 2, 11)


def _write(spark, conf, rows):
    path = Catalog(conf).path("events")
    spark.createDataFrame(rows, SCHEMA).write.format("delta").mode("overwrite").save(path)
    return Catalog(conf)


@pytest.fixture()
def pair(spark, base_conf, tmp_path):
    from pipelines.config import relocated

    return (relocated(base_conf, str(tmp_path / "a")), relocated(base_conf, str(tmp_path / "b")))


def test_rows_that_differ_only_in_when_they_were_written_are_equal(spark, pair):
    nested = {"attributes": {"x": "1", "y": "2"}}
    left = _write(spark, pair[0], [("e1", 1.5, {"a": "1", "b": "2"}, nested, T1),
                                   ("e1", 1.5, {}, None, T1)])
    right = _write(spark, pair[1], [("e1", 1.5, {}, None, T2),
                                    ("e1", 1.5, {"b": "2", "a": "1"},
                                     {"attributes": {"y": "2", "x": "1"}}, T2)])
    result = compare_table(spark, left, right, "events")
    assert result.equal and (result.rows_left, result.rows_right) == (2, 2)
    assert "ingested_at" not in result.compared_columns


def test_a_changed_amount_or_a_missing_duplicate_is_a_difference(spark, pair):
    left = _write(spark, pair[0], [("e1", 1.5, {}, None, T1), ("e1", 1.5, {}, None, T1),
                                   ("e2", 2.0, {}, None, T1)])
    right = _write(spark, pair[1], [("e1", 1.5, {}, None, T1), ("e2", 2.5, {}, None, T1)])
    result = compare_table(spark, left, right, "events")
    # Left: one e1 copy and e2@2.0 have no partner; right: e2@2.5 has none.
    assert (result.only_left, result.only_right) == (2, 1) and not result.equal


def test_a_nested_map_value_that_differs_is_a_difference(spark, pair):
    left = _write(spark, pair[0], [("e1", 1.5, {}, {"attributes": {"tier": "gold"}}, T1)])
    right = _write(spark, pair[1], [("e1", 1.5, {}, {"attributes": {"tier": "silver"}}, T1)])
    result = compare_table(spark, left, right, "events")
    assert (result.only_left, result.only_right) == (1, 1)
