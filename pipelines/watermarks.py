"""Stage watermarks: which input table versions a stage has fully processed.

A stage records the versions it consumed only after its writes commit. A run that died
between stages finds an older watermark and redoes exactly the unfinished stage.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate.delta_io import ensure_table, read_if_exists, table_version

SCHEMA = "stage string, watermark string, updated_at timestamp"


def read_watermark(spark: SparkSession, catalog: Catalog, stage: str) -> str | None:
    from delta.tables import DeltaTable

    path = catalog.path("pipeline_state")
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    row = spark.read.format("delta").load(path).where(F.col("stage") == stage).first()
    return None if row is None else row.watermark


def write_watermark(
    spark: SparkSession, catalog: Catalog, stage: str, value: str, now: datetime
) -> None:
    from delta.tables import DeltaTable

    row = spark.createDataFrame([(stage, value, now)], SCHEMA)
    spec = catalog.table("pipeline_state")
    ensure_table(row, spec)
    (
        DeltaTable.forPath(spark, spec.path)
        .alias("t")
        .merge(row.alias("s"), "t.stage = s.stage")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def changed_since(
    spark: SparkSession, catalog: Catalog, stage: str
) -> tuple[DataFrame, DataFrame, str] | None:
    """(events, identity_links, their versions) when both exist and changed since ``stage``
    last ran (its watermark holds the versions it read), else None: nothing to redo."""
    inputs = (
        f"events={table_version(spark, catalog.path('events'))},"
        f"links={table_version(spark, catalog.path('identity_links'))}"
    )
    events = read_if_exists(spark, catalog.path("events"))
    links = read_if_exists(spark, catalog.path("identity_links"))
    if events is None or links is None or read_watermark(spark, catalog, stage) == inputs:
        return None
    return events, links, inputs
