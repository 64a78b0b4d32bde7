"""What the gate kept out and how validations went, as small pandas frames for reports and
notebooks (one Spark job each; nothing large reaches the driver).

Both read the gate's own sinks: ``quarantine`` (pipelines/gate/quarantine.py) and
``validation_results`` (pipelines/gate/write.py, ``RESULTS_SCHEMA``).
"""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def quarantine_by_reason(quarantine: DataFrame) -> pd.DataFrame:
    """Quarantined rows per (table_name, reason), most rows first, with the first and last
    time a row was quarantined for it."""
    return (
        quarantine.groupBy("table_name", "reason")
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.min("quarantined_at").alias("first_at"),
            F.max("quarantined_at").alias("last_at"),
        )
        .orderBy(F.desc("rows"), "table_name", "reason")
        .toPandas()
    )


def validations_by_day(results: DataFrame) -> pd.DataFrame:
    """Per validation day and table: validations run, how many failed (the batch was
    rejected), and rows in / written / quarantined — the gate's record over time."""
    return (
        results.groupBy(F.to_date("validated_at").alias("day"), "table_name")
        .agg(
            F.count(F.lit(1)).alias("validations"),
            F.count(F.when(~F.col("success"), 1)).alias("failed"),
            F.sum("rows_in").alias("rows_in"),
            F.sum("rows_written").alias("rows_written"),
            F.sum("rows_quarantined").alias("rows_quarantined"),
        )
        .orderBy("day", "table_name")
        .toPandas()
    )


def failed_validations(results: DataFrame, limit: int = 20) -> pd.DataFrame:
    """The latest ``limit`` rejected batches with the expectations that failed them."""
    return (
        results.where(~F.col("success"))
        .select("validated_at", "table_name", "run_id", "rows_in", "failures")
        .orderBy(F.desc("validated_at"))
        .limit(limit)
        .toPandas()
    )
