"""Delta idempotent-write bookkeeping for the stream: what a table has already committed."""

from __future__ import annotations

from pyspark.sql import SparkSession


def committed_txn_version(spark: SparkSession, path: str, app_id: str) -> int | None:
    """The latest txnVersion the Delta table at ``path`` committed for ``app_id`` (None if it
    never did, or the table does not exist).

    Read from the table's snapshot (its SetTransaction actions) — the same record Delta uses to
    skip a replayed idempotent write, so "committed" here means exactly "would be skipped".
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    jvm = spark.sparkContext._jvm
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    none = jvm.scala.Option.empty()
    found = delta_log.update(False, none, none).transactions().get(app_id)
    return int(found.get()) if found.isDefined() else None
