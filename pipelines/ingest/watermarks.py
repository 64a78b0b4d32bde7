"""Stage watermarks: which input table versions a stage has fully processed.

A stage records the versions it consumed only after its writes commit. A run that died
between stages finds an older watermark and redoes exactly the unfinished stage.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate.delta_io import ensure_table

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
