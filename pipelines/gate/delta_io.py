"""Low-level Delta writes shared by the gate and its sinks: idempotent txn confs and modes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import TableSpec

TXN_APP_ID = "spark.databricks.delta.write.txnAppId"
TXN_VERSION = "spark.databricks.delta.write.txnVersion"


@dataclass(frozen=True)
class Txn:
    """Delta idempotent-write identity: a table skips a write whose (app_id, version) it has
    already committed, so replaying a micro-batch or a job step never writes twice."""

    app_id: str
    version: int


@contextmanager
def txn_confs(spark: SparkSession, txn: Txn | None) -> Iterator[None]:
    # Session confs, not writer options: options do not reach MERGE.
    if txn is None:
        yield
        return
    spark.conf.set(TXN_APP_ID, txn.app_id)
    spark.conf.set(TXN_VERSION, str(txn.version))
    try:
        yield
    finally:
        spark.conf.unset(TXN_APP_ID)
        spark.conf.unset(TXN_VERSION)


def read_if_exists(spark: SparkSession, path: str) -> DataFrame | None:
    """The Delta table at ``path``, or None when nothing has been written there yet."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    return spark.read.format("delta").load(path)


def add_missing_columns(spark: SparkSession, path: str, columns: Mapping[str, str]) -> bool:
    """Add the ``columns`` (name → SQL type) the Delta table at ``path`` lacks, as nullable
    columns: the upgrade of a table written before they existed (schema auto-merge is off on
    purpose, conf spark.settings). Returns False, changing nothing, when there is no table yet."""
    table = read_if_exists(spark, path)
    if table is None:
        return False
    have = set(table.columns)
    missing = {c: t for c, t in columns.items() if c not in have}
    if missing:
        cols = ", ".join(f"`{c}` {t}" for c, t in missing.items())
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({cols})")
    return True


def table_version(spark: SparkSession, path: str) -> int | None:
    """The table's latest committed version; None when ``path`` holds no Delta table.

    Read from the transaction log the way Delta itself does before a write (``DeltaLog``'s
    ``update``: a listing of ``_delta_log`` from the last checkpoint), not with DESCRIBE
    HISTORY: that runs a Spark job, ~0.1 s per call and 12 calls per micro-batch (measured
    in docs/performance.md), where this takes tens of milliseconds at most."""
    version = int(_snapshot(spark, path).version())
    return version if version >= 0 else None


def table_id(spark: SparkSession, path: str) -> str:
    """The table's id (Delta metadata): a table deleted and created again at the same path
    has a new one, though its versions may reach the old ones again."""
    return str(_snapshot(spark, path).metadata().id())


def _snapshot(spark: SparkSession, path: str):
    """The table's latest snapshot (a JVM object), brought up to date from ``_delta_log``."""
    jvm = spark._jvm
    none = jvm.scala.Option.empty()
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    return log.update(False, none, none)


def ensure_table(df: DataFrame, spec: TableSpec) -> None:
    """Create the table empty with ``df``'s schema if it does not exist, with the spec's
    partitioning and generated columns.

    Called outside any txn context: creating the table must not use up the batch's txn
    version, or the MERGE that follows would be skipped as already committed.
    """
    from delta.tables import DeltaTable

    spark = df.sparkSession
    if DeltaTable.isDeltaTable(spark, spec.path):
        return
    if not spec.generated:
        writer = df.limit(0).write.format("delta").mode("append")
        if spec.partition_by:
            writer = writer.partitionBy(*spec.partition_by)
        writer.save(spec.path)
        return
    generated = dict(spec.generated)
    builder = DeltaTable.createIfNotExists(spark).location(spec.path)
    for f in df.schema.fields:
        if f.name not in generated:
            builder = builder.addColumn(f.name, f.dataType, nullable=f.nullable)
    for name, expression in spec.generated:
        kind = df.select(F.expr(expression)).schema.fields[0].dataType
        builder = builder.addColumn(name, kind, generatedAlwaysAs=expression)
    if spec.partition_by:
        builder = builder.partitionedBy(*spec.partition_by)
    builder.execute()


MergeClauses = Callable[["object"], "object"]  # DeltaMergeBuilder -> DeltaMergeBuilder


def write_delta(
    df: DataFrame,
    spec: TableSpec,
    mode: str,
    *,
    merge_on: Sequence[str] | None = None,
    merge_clauses: MergeClauses | None = None,
    replace_where: str | None = None,
) -> None:
    """Append, overwrite (optionally ``replace_where``) or MERGE ``df`` into the table."""
    from delta.tables import DeltaTable

    spark = df.sparkSession
    if mode in {"append", "overwrite"}:
        writer = df.write.format("delta").mode(mode)
        # An existing table keeps the layout it was created with (a lake whose events are
        # still partitioned by day, from before the catalog said months).
        if (spec.partition_by or spec.generated) and not DeltaTable.isDeltaTable(
            spark, spec.path
        ):
            if spec.generated:
                ensure_table(df, spec)
            elif spec.partition_by:
                writer = writer.partitionBy(*spec.partition_by)
        if replace_where:
            writer = writer.option("replaceWhere", replace_where)
        writer.save(spec.path)
        return
    if mode != "merge":
        raise ValueError(f"unknown write mode '{mode}' (append, overwrite, merge)")
    if not merge_on:
        raise ValueError(f"merge into '{spec.name}' needs merge_on key columns")
    condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in merge_on)
    target = DeltaTable.forPath(spark, spec.path)
    # A MERGE's insert names every target column, generated ones too (Delta does not fill
    # them in as it does for an append): the source brings them, by the same expression.
    # Only tables that declare some read the target's schema (the stream MERGEs four others).
    if spec.generated:
        have = set(target.toDF().columns)
        for name, expression in spec.generated:
            if name in have and name not in df.columns:
                df = df.withColumn(name, F.expr(expression))
    builder = target.alias("t").merge(df.alias("s"), condition)
    if merge_clauses is None:
        builder = builder.whenMatchedUpdateAll().whenNotMatchedInsertAll()
    else:
        builder = merge_clauses(builder)
    builder.execute()
