"""The event log's layout (conf/catalog.yaml): a new table is partitioned by month, the month a
Delta generated column of ``event_date``, written through the append and the MERGE paths; a
table created by day before (an existing lakehouse) keeps its days through both paths."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate import gated_write
from pipelines.gate.delta_io import write_delta
from pipelines.stream.microbatch import flag_logged
from tests.events_factory import event, events_df

# Dates in three months, one of them years back (a sign-up date, as in real histories).
LOG = [("e1", "2026-09-01T10:00:00"), ("e2", "2026-09-30T23:59:59"), ("e3", "2026-10-01T00:00:00"),
       ("e4", "2015-01-13T08:00:00")]  # fmt: skip


def _events(spark, rows):
    return events_df(spark, [event(i, "page_view", at) for i, at in rows]).drop("profile_id")


def _month_folders(path: str) -> set[str]:
    return {p.name for p in Path(path).iterdir() if p.name.startswith("event_")}


def _detail(spark, path: str):
    return spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()


def test_a_new_log_is_partitioned_by_month_through_append_and_merge(spark, conf):
    catalog = Catalog(conf)
    path = catalog.path("events")
    gated_write(catalog, _events(spark, LOG[:2]), "events")
    gated_write(
        catalog, _events(spark, LOG), "events", mode="merge", merge_on=["event_id"],
        merge_clauses=lambda b: b.whenNotMatchedInsertAll(),
    )  # fmt: skip
    assert _detail(spark, path)["partitionColumns"] == ["event_month"]
    assert _month_folders(path) == {"event_month=2026-09", "event_month=2026-10",
                                    "event_month=2015-01"}  # fmt: skip
    rows = spark.read.format("delta").load(path).select("event_id", "event_month").collect()
    # The month is the event date's year and month (the rule), for each path's rows alike.
    assert sorted(map(tuple, rows)) == [("e1", "2026-09"), ("e2", "2026-09"), ("e3", "2026-10"),
                                        ("e4", "2015-01")]  # fmt: skip


def test_a_day_filter_reads_only_the_files_holding_that_day(spark, conf):
    catalog = Catalog(conf)
    path = catalog.path("events")
    for rows in (LOG[:1], LOG[1:2], LOG[2:]):  # three appends: a file per date
        gated_write(catalog, _events(spark, rows), "events")
    read = spark.read.format("delta").load(path).where(F.col("event_date") == "2026-09-30")
    files = {r[0] for r in read.select(F.input_file_name()).distinct().collect()}
    assert len(files) == 1 and "event_month=2026-09" in next(iter(files))
    batch = _events(spark, [LOG[1], ("e9", "2026-09-30T12:00:00")])
    flagged = flag_logged(spark, path, batch).select("event_id", "_in_log").collect()
    assert sorted(map(tuple, flagged)) == [("e2", True), ("e9", False)]


def test_a_log_partitioned_by_day_before_keeps_its_days(spark, conf):
    catalog = Catalog(conf)
    spec = catalog.table("events")
    _events(spark, LOG[:1]).write.format("delta").partitionBy("event_date").save(spec.path)
    write_delta(_events(spark, LOG[1:2]), spec, "append")
    write_delta(
        _events(spark, LOG), spec, "merge", merge_on=["event_id"],
        merge_clauses=lambda b: b.whenNotMatchedInsertAll(),
    )  # fmt: skip
    detail = _detail(spark, spec.path)
    table = spark.read.format("delta").load(spec.path)
    assert detail["partitionColumns"] == ["event_date"] and "event_month" not in table.columns
    assert sorted(r[0] for r in table.select("event_id").collect()) == ["e1", "e2", "e3", "e4"]
