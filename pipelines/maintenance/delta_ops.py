"""The Delta side of maintenance: read a table's snapshot and history, run OPTIMIZE, VACUUM and
a checkpoint. Every decision is made elsewhere (``plan``, ``params``); this only executes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from pipelines.maintenance.plan import DataFile, OptimizePlan, partition_of, partition_predicate

MAX_FILE_SIZE = "spark.databricks.delta.optimize.maxFileSize"
MIN_FILE_SIZE = "spark.databricks.delta.optimize.minFileSize"
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
COMMIT_MESSAGE = "spark.databricks.delta.commitInfo.userMetadata"


@dataclass(frozen=True)
class Snapshot:
    version: int
    checkpoint_version: int | None
    partition_columns: tuple[str, ...]
    files: tuple[DataFile, ...]


@contextmanager
def session_confs(spark: SparkSession, values: Mapping[str, str]) -> Iterator[None]:
    """Set Spark session confs for the duration of one command, then put back what was there."""
    previous = {k: spark.conf.get(k, None) for k in values}
    for k, v in values.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, v in previous.items():
            if v is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, v)


def commit_message(spark: SparkSession, text: str):
    """Delta commits inside carry ``text`` as commitInfo.userMetadata (the table history)."""
    return session_confs(spark, {COMMIT_MESSAGE: text})


def _delta_log(spark: SparkSession, path: str):
    return spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)


def is_delta_table(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def snapshot(spark: SparkSession, path: str) -> Snapshot:
    """The table's latest snapshot: version, last checkpoint and live files (from the log, as
    Delta itself lists them: the files a reader of this version would read)."""
    log = _delta_log(spark, path)
    none = spark._jvm.scala.Option.empty()
    snap = log.update(False, none, none)
    checkpoint = int(snap.checkpointProvider().version())
    columns = tuple(
        spark._jvm.scala.jdk.javaapi.CollectionConverters.asJava(
            snap.metadata().partitionColumns()
        )
    )
    listing = DataFrame(snap.allFiles().toDF(), spark).select("path", "size", "partitionValues")
    files = tuple(
        DataFile(r["path"], int(r["size"]), partition_of(r["partitionValues"] or {}, columns))
        for r in listing.collect()
    )
    return Snapshot(int(snap.version()), checkpoint if checkpoint >= 0 else None, columns, files)


def history(spark: SparkSession, path: str) -> list[tuple[int, str]]:
    """``(version, operation)`` of every commit still in the log."""
    from delta.tables import DeltaTable

    rows = DeltaTable.forPath(spark, path).history().select("version", "operation").collect()
    return [(int(r["version"]), str(r["operation"])) for r in rows]


def optimize(
    spark: SparkSession, path: str, plan: OptimizePlan, target_bytes: int, small_bytes: int
) -> dict[str, int]:
    """Run the planned OPTIMIZE; returns Delta's files added and removed."""
    sql = f"OPTIMIZE delta.`{path}`"
    predicate = partition_predicate(plan.partitions)
    if predicate:
        sql += f" WHERE {predicate}"
    if plan.zorder_by:
        sql += " ZORDER BY (" + ", ".join(f"`{c}`" for c in plan.zorder_by) + ")"
    # minFileSize: Delta's bin-packing then agrees with the plan on which files are small.
    with session_confs(spark, {MAX_FILE_SIZE: str(target_bytes), MIN_FILE_SIZE: str(small_bytes)}):
        metrics = spark.sql(sql).select("metrics.numFilesAdded", "metrics.numFilesRemoved").first()
    return {"added": int(metrics[0]), "removed": int(metrics[1])}


def vacuum(
    spark: SparkSession,
    path: str,
    retention_hours: float,
    *,
    below_minimum: bool,
    listing_parallelism: int,
) -> None:
    """VACUUM files removed from the table more than ``retention_hours`` ago, listing its
    folders with ``listing_parallelism`` tasks. ``below_minimum`` (already allowed by conf,
    params.check_retention) lifts Delta's own 7-day check for this one command."""
    confs = {LISTING_PARALLELISM: str(listing_parallelism)}
    if below_minimum:
        confs[RETENTION_CHECK] = "false"
    with session_confs(spark, confs):
        spark.sql(f"VACUUM delta.`{path}` RETAIN {retention_hours:.6f} HOURS").collect()


def checkpoint(spark: SparkSession, path: str) -> None:
    """Write a checkpoint of the latest version, so readers replay no JSON commits."""
    _delta_log(spark, path).checkpoint()
