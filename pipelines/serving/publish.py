"""Writing the chatbot export: the Delta tables (through the gate) and the Redis cache.

Two entry points:
- ``write_export`` — the nightly full export: overwrite ``chatbot_export`` and
  ``chatbot_identifiers``, laid out for point lookups (range-partitioned and sorted on the key,
  ``export.rows_per_file`` rows per file, no deletion vectors so delta-rs can read it);
  the job then calls ``reconcile`` (what the stream synced while the job ran stays) and
  ``cache.full_refresh``.
- ``sync_touched`` — the stream, per micro-batch: upsert the touched profiles' rows (an older
  ``profile_version`` never replaces a newer one), redirect merged profiles, push to Redis.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import datetime
from functools import partial
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.conflicts import with_retries
from pipelines.gate import GateReport, Txn, gated_write
from pipelines.gate.delta_io import add_missing_columns, read_if_exists, table_version
from pipelines.maintenance.delta_ops import commit_message
from pipelines.serving import cache
from pipelines.serving.export import build_export, identifier_index
from pipelines.serving.params import ExportParams
from pipelines.serving.reconcile import reapply_concurrent
from pipelines.serving.records import BASE_STATE, COVERED_OFFSETS, export_records

EXPORT_TABLE = "chatbot_export"
IDENTIFIERS_TABLE = "chatbot_identifiers"
# The export's overwrites and reconcile MERGEs may meet a stream commit (a Delta conflict):
# retried like the stream's own write steps.
CONFLICT_ATTEMPTS = 5
CONFLICT_BACKOFF_S = 0.5
EXPORT_KEY = "profile_id"
IDENTIFIERS_KEY = "lookup_key"
NO_DELETION_VECTORS = "spark.databricks.delta.properties.defaults.enableDeletionVectors"
# Added for the hot lane (docs/streaming.md); tables written before get them on the next write.
# Likewise the nightly reasons (docs/segments.md), published when on the allow-list.
ADDED_EXPORT_COLUMNS = {
    BASE_STATE: "string",
    COVERED_OFFSETS: "string",
    "churn_reasons": "array<string>",
    "segment_reasons": "array<struct<segment:string,condition:string,kept:boolean>>",
}


def _added(export: DataFrame) -> dict[str, str]:
    """The columns added later that this export has (the reasons only when allow-listed)."""
    return {c: t for c, t in ADDED_EXPORT_COLUMNS.items() if c in export.columns}


@contextmanager
def _without_deletion_vectors(spark: SparkSession) -> Iterator[None]:
    # delta-rs' pyarrow reader cannot apply deletion vectors; tables created here get none.
    previous = spark.conf.get(NO_DELETION_VECTORS, None)
    spark.conf.set(NO_DELETION_VECTORS, "false")
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(NO_DELETION_VECTORS)
        else:
            spark.conf.set(NO_DELETION_VECTORS, previous)


@contextmanager
def _row_groups(spark: SparkSession, row_group_bytes: int | None) -> Iterator[None]:
    """Small Parquet row groups: a point lookup then decodes a few hundred rows, not a file."""
    if not row_group_bytes:
        yield
        return
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    previous = hadoop.get("parquet.block.size")
    hadoop.set("parquet.block.size", str(row_group_bytes))
    try:
        yield
    finally:
        if previous is None:
            hadoop.unset("parquet.block.size")
        else:
            hadoop.set("parquet.block.size", previous)


def lookup_layout(df: DataFrame, key: str, rows: int, rows_per_file: int) -> DataFrame:
    """Range-partition on ``key`` into files of about ``rows_per_file`` rows, sorted inside."""
    files = max(1, math.ceil(rows / rows_per_file))
    return df.repartitionByRange(files, key).sortWithinPartitions(key)


def identifier_rows(export: DataFrame, merges: DataFrame | None = None) -> DataFrame:
    """``identifier_index`` with its single sorted key ``lookup_key`` = ``id_type:id_key``."""
    index = identifier_index(export, merges)
    return index.select(
        F.concat_ws(":", "id_type", "id_key").alias(IDENTIFIERS_KEY), *index.columns
    )


def write_export(
    catalog: Catalog,
    export: DataFrame,
    *,
    merges: DataFrame | None = None,
    rows_per_file: int = 2000,
    row_group_bytes: int | None = None,
    txn: Txn | None = None,
    tag: str | None = None,
) -> dict[str, GateReport]:
    """Overwrite both export tables with ``export`` (rows of ``build_export``), in files of
    about ``rows_per_file`` rows and Parquet row groups of about ``row_group_bytes``; the
    commits carry ``tag`` (commitInfo.userMetadata) for ``reconcile``."""
    spark = export.sparkSession
    add_missing_columns(spark, catalog.path(EXPORT_TABLE), _added(export))
    export = export.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        idents = identifier_rows(export, merges).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            with (_without_deletion_vectors(spark), _row_groups(spark, row_group_bytes),
                  commit_message(spark, tag) if tag else nullcontext()):
                reports = {
                    table: with_retries(
                        partial(gated_write, catalog,
                                lookup_layout(rows, key, rows.count(), per_file), table,
                                mode="overwrite", txn=txn),
                        name=f"export overwrite {table}", attempts=CONFLICT_ATTEMPTS,
                        backoff_s=CONFLICT_BACKOFF_S)
                    for table, rows, key, per_file in (
                        (EXPORT_TABLE, export, EXPORT_KEY, rows_per_file),
                        (IDENTIFIERS_TABLE, idents, IDENTIFIERS_KEY, rows_per_file * 4),
                    )
                }
        finally:
            idents.unpersist()
    finally:
        export.unpersist()
    return reports


def versions(catalog: Catalog, spark: SparkSession) -> dict[str, int | None]:
    """Each export table's latest version (None: not written yet): taken before the export's
    inputs are read, it is what ``reconcile`` starts from."""
    return {t: table_version(spark, catalog.path(t)) for t in (EXPORT_TABLE, IDENTIFIERS_TABLE)}


def new_tag() -> str:
    """A commit tag for one export run's overwrites."""
    return f"export-{uuid.uuid4().hex[:12]}"


def reconcile(catalog: Catalog, spark: SparkSession, seen: Mapping[str, int | None],
              tag: str) -> dict[str, dict[str, int]]:
    """After ``write_export(tag=tag)``: write again, per export table, what other writers
    committed after the version in ``seen`` and this export does not supersede
    (pipelines/serving/reconcile.py). Returns the rows rewritten and keys deleted per table."""
    with _without_deletion_vectors(spark):
        return {
            table: reapply_concurrent(spark, catalog.path(table), [key], seen.get(table), tag,
                                      attempts=CONFLICT_ATTEMPTS, backoff_s=CONFLICT_BACKOFF_S)
            for table, key in ((EXPORT_TABLE, EXPORT_KEY), (IDENTIFIERS_TABLE, IDENTIFIERS_KEY))
        }


def _newer_or_equal(builder):
    return builder.whenMatchedUpdateAll(
        condition="s.profile_version >= t.profile_version"
    ).whenNotMatchedInsertAll()


def sync_touched(
    catalog: Catalog,
    redis_target: Any,
    touched_profiles: DataFrame,
    *,
    params: ExportParams,
    segments: DataFrame | None = None,
    probable: DataFrame | None = None,
    merges: DataFrame | None = None,
    exported_at: datetime | None = None,
    txn: Txn | None = None,
    prefix: str | None = None,
    row_group_bytes: int | None = None,
) -> dict[str, Any]:
    """Bring the export and the cache up to date for the profiles a micro-batch changed.

    Args:
        redis_target: a ``Conf`` or a ``redis.Redis`` (see ``cache.push_rows``).
        touched_profiles: the changed rows of the profiles table (after its MERGE: with
            ``version`` and ``updated_at``), survivors of merges included.
        segments: the segments table, if any (``read_segments``), so nightly labels stay.
        probable: the probable_activity table, if any (``read_probable``), likewise.
        merges: this batch's identity_merges rows (survivor_profile_id, merged_profile_id…).
        txn: the micro-batch's idempotent-write identity (replays write nothing twice).
    Returns:
        Gate reports per table and the cache push report.
    """
    spark = touched_profiles.sparkSession
    export = build_export(touched_profiles, segments, params, exported_at, probable).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    add_missing_columns(spark, catalog.path(EXPORT_TABLE), _added(export))
    try:
        reports: dict[str, Any] = {}
        with _without_deletion_vectors(spark), _row_groups(spark, row_group_bytes):
            reports[EXPORT_TABLE] = gated_write(
                catalog,
                export,
                EXPORT_TABLE,
                mode="merge",
                merge_on=[EXPORT_KEY],
                merge_clauses=_newer_or_equal,
                txn=txn,
            )
            reports[IDENTIFIERS_TABLE] = gated_write(
                catalog,
                identifier_rows(export, merges),
                IDENTIFIERS_TABLE,
                mode="merge",
                merge_on=[IDENTIFIERS_KEY],
                txn=txn,
            )
        pairs = []
        if merges is not None:
            pairs = [
                (r.survivor_profile_id, r.merged_profile_id)
                for r in merges.select("survivor_profile_id", "merged_profile_id").collect()
            ]
            delete_merged(catalog, spark, [m for _, m in pairs])
        # Redirects first: a late push of a merged profile is then refused.
        if pairs:
            cache.redirect_merged(redis_target, pairs, prefix=prefix)
        reports["cache"] = cache.push_rows(redis_target, export_records(export), prefix=prefix)
        return reports
    finally:
        export.unpersist()


def delete_merged(catalog: Catalog, spark: SparkSession, merged_ids: list[str]) -> None:
    """Delete merged-away profiles from the export (no rows are written, so no gate; the
    identifiers table redirects their ids). Idempotent."""
    from delta.tables import DeltaTable

    path = catalog.path(EXPORT_TABLE)
    if not merged_ids or not DeltaTable.isDeltaTable(spark, path):
        return
    DeltaTable.forPath(spark, path).delete(F.col(EXPORT_KEY).isin(merged_ids))


def _cataloged(catalog: Catalog, spark: SparkSession, table: str) -> DataFrame | None:
    """``table`` when the catalog has it and it exists, else None."""
    if table not in catalog.names():
        return None
    return read_if_exists(spark, catalog.path(table))


def read_segments(catalog: Catalog, spark: SparkSession) -> DataFrame | None:
    """The nightly segments table, if any."""
    return _cataloged(catalog, spark, "segments")


def read_probable(catalog: Catalog, spark: SparkSession) -> DataFrame | None:
    """The probable_activity table, if any."""
    return _cataloged(catalog, spark, "probable_activity")


def read_merges(catalog: Catalog, spark: SparkSession) -> DataFrame | None:
    """The merges in force: ``identity_merges`` minus the ones ``identity_unmerges`` undid
    (an undone merge redirects nothing)."""
    from pipelines.identity.unmerge import active_merges

    merges = read_if_exists(spark, catalog.path("identity_merges"))
    if merges is None or "identity_unmerges" not in catalog.names():
        return merges
    return active_merges(merges, read_if_exists(spark, catalog.path("identity_unmerges")))


def publish_unmerge(
    catalog: Catalog,
    redis_target: Any,
    profiles: DataFrame,
    merged_profile_id: str,
    *,
    params: ExportParams,
    segments: DataFrame | None = None,
    probable: DataFrame | None = None,
    prefix: str | None = None,
) -> dict[str, Any]:
    """Undo a merge in the export and the cache: the redirect of ``merged_profile_id`` goes
    (the ``merged_profile`` row of ``chatbot_identifiers``, the cache's ``m:`` key), then the
    re-folded ``profiles`` (rows of the profiles table, survivor and restored profile) are
    upserted and pushed like a stream's touched profiles, so their identifiers point to
    whichever of the two holds them now."""
    from delta.tables import DeltaTable

    spark = profiles.sparkSession
    path = catalog.path(IDENTIFIERS_TABLE)
    if DeltaTable.isDeltaTable(spark, path):
        DeltaTable.forPath(spark, path).delete(
            F.col(IDENTIFIERS_KEY) == F.lit(f"merged_profile:{merged_profile_id}"))
    cache.unredirect(redis_target, [merged_profile_id], prefix=prefix)
    return sync_touched(catalog, redis_target, profiles, params=params, segments=segments,
                        probable=probable, prefix=prefix)
