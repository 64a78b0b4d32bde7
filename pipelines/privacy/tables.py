"""Erasure in the Delta tables: which rows of each catalog table are the person's, deleting
them, and making the deletion physical (VACUUM and a log cut down to one checkpoint).

Every catalog table must be classified in ``TABLE_RULES``: a table added to the catalog
without a rule makes the erasure fail instead of silently leaving the person in it.

Why DELETE + VACUUM is not enough in Delta (measured on Delta 4.4.0, docs/operations.md):
- a DELETE with the change data feed on writes the deleted rows to ``_change_data``;
- every ``add`` and ``remove`` action in the commit JSON files, and every ``.crc`` file
  (which lists all files of its version), carries per-file min/max statistics of the first
  32 columns, i.e. the person's e-mail when it was the smallest or largest in a file;
- a checkpoint keeps the live files' statistics but writes tombstones without them.
So after the DELETE the table is vacuumed with zero retention (removing old data files and
every ``_change_data`` file), a checkpoint is written at the latest version and every log
file of an older version is deleted. The checkpoint only describes live files, which no
longer hold the person. Time travel and the change feed then start at that checkpoint.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate.delta_io import table_version
from pipelines.maintenance.delta_ops import checkpoint, vacuum
from pipelines.privacy.subject import Subject, identifier_match, row_text, spark_matches
from pipelines.schemas.events import IDENTIFIER_TYPES

Rule = Callable[[DataFrame, Subject], Column]


def _by_profile(df: DataFrame, s: Subject) -> Column:
    return F.col("profile_id").isin(sorted(s.profile_ids))


def _identifiers_table(df: DataFrame, s: Subject) -> Column:
    # The export's index also holds merged-profile redirects: merged_profile:<old id>.
    redirects = [f"merged_profile:{p}" for p in sorted(s.profile_ids)]
    return _by_profile(df, s) | F.col("lookup_key").isin(redirects)


def _merges(df: DataFrame, s: Subject) -> Column:
    ids = sorted(s.profile_ids)
    return F.col("survivor_profile_id").isin(ids) | F.col("merged_profile_id").isin(ids)


def _never_link(df: DataFrame, s: Subject) -> Column:
    # Either side of a rule may be one of their identifiers.
    hit = F.lit(False)
    for t in IDENTIFIER_TYPES:
        values = sorted(s.of_type(t))
        if values:
            hit = hit | ((F.col("id_type") == t) & F.col("id_value").isin(values)) | (
                (F.col("with_id_type") == t) & F.col("with_id_value").isin(values))
    return hit


def _links(df: DataFrame, s: Subject) -> Column:
    return F.coalesce(F.col("profile_id").isin(sorted(s.profile_ids)), F.lit(False))


def _probable_links(df: DataFrame, s: Subject) -> Column:
    # Attached to them, or made of their identifiers or their anonymous profile.
    ids = sorted(s.profile_ids)
    return (F.col("profile_id").isin(ids) | F.col("anonymous_profile_id").isin(ids)
            | F.col("anonymous_id").isin(sorted(s.of_type("anonymous_id")))
            | F.col("customer_id").isin(sorted(s.of_type("customer_id")))
            | F.col("device_id").isin(sorted(s.of_type("device_id"))))


def _probable_activity(df: DataFrame, s: Subject) -> Column:
    # Their profile, or built from their anonymous profile's browsing.
    ids = sorted(s.profile_ids)
    return F.col("profile_id").isin(ids) | F.arrays_overlap(
        F.coalesce(F.col("anonymous_profile_ids"), F.array().cast("array<string>")),
        F.array(*[F.lit(i) for i in ids]).cast("array<string>"),
    )


def _events(df: DataFrame, s: Subject) -> Column:
    return identifier_match("identifiers", s, IDENTIFIER_TYPES)


def _raw_rows(df: DataFrame, s: Subject) -> Column:
    # Bronze keeps rows as they arrived (messy case, rejected rows): match the text.
    return spark_matches(row_text(df), s.values())


def _quarantine(df: DataFrame, s: Subject) -> Column:
    return spark_matches(F.col("payload"), s.values())


# None: the table holds no personal values (counts, paths, offsets, hashes).
TABLE_RULES: dict[str, Rule | None] = {
    "bronze_crm_customers": _raw_rows,
    "bronze_orders": _raw_rows,
    "bronze_support_tickets": _raw_rows,
    "bronze_web_events": _raw_rows,
    "bronze_social_mentions": _raw_rows,
    "raw_events": _events,
    "events": _events,
    "quarantine": _quarantine,
    "profiles": _by_profile,
    "features": _by_profile,
    "segments": _by_profile,
    "chatbot_export": _by_profile,
    "chatbot_identifiers": _identifiers_table,
    "identity_merges": _merges,
    "identity_unmerges": _merges,
    "identity_never_link": _never_link,
    "identity_links": _links,
    "identity_probable_links": _probable_links,
    "probable_activity": _probable_activity,
    "validation_results": None,
    "ingested_files": None,
    "stream_metrics": None,
    "pipeline_state": None,
    "erasure_log": None,
    "table_health": None,  # per-table file statistics from profilake-maintain
    # Profile ids, versions, intents, action names: once the erasure deleted the profile (and
    # every identifier that led to it) the ids point at nothing. Left alone, it needs no vacuum
    # racing the read API's background appends (the API keeps running during an erasure).
    "chat_audit": None,
    "metrics": None,  # profilake-monitor: figures labelled by lane, source, table, column
    "alerts": None,  # profilake-monitor: rule, subject (same labels), message, delivery
}

# Last, so an erasure that dies half-way still finds the person through them on a rerun.
IDENTITY_TABLES = ("identity_merges", "identity_links")


def erasable_tables(catalog: Catalog) -> list[str]:
    """Catalog tables that may hold the person, identity tables last. Fails naming any table
    without a rule."""
    names = catalog.names()
    unknown = [n for n in names if n not in TABLE_RULES]
    if unknown:
        raise RuntimeError(
            f"no erasure rule for catalog table(s) {', '.join(unknown)}: add them to "
            "pipelines/privacy/tables.py TABLE_RULES (None when they hold no personal values)"
        )
    holding = [n for n in names if TABLE_RULES[n] is not None and n not in IDENTITY_TABLES]
    return holding + [n for n in IDENTITY_TABLES if n in names]


def _delta_table(spark: SparkSession, path: str):
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, path) if DeltaTable.isDeltaTable(spark, path) else None


def delete_rows(spark: SparkSession, catalog: Catalog, table: str, subject: Subject) -> int:
    """Delete the person's rows from ``table``; returns how many. Links shared with others
    lose the person's ids from their id lists instead (see ``scrub_shared_links``)."""
    path = catalog.path(table)
    dt = _delta_table(spark, path)
    if dt is None:
        return 0
    rule = TABLE_RULES[table]
    df = dt.toDF()
    condition = rule(df, subject)
    found = df.where(condition).count()
    if found:
        dt.delete(condition)
    if table == "identity_links":
        found += scrub_shared_links(dt, subject)
    return found


def scrub_shared_links(dt, subject: Subject) -> int:
    """A shared identifier's link row stays (it keeps the others from merging) but forgets
    the person: their customer and anonymous ids leave its lists and it stops naming one of
    their profiles as its origin."""
    df = dt.toDF()
    cids = sorted(subject.of_type("customer_id"))
    aids = sorted(subject.of_type("anonymous_id"))
    pids = sorted(subject.profile_ids)

    def overlaps(column: str, values: list[str]) -> Column:
        if not values:
            return F.lit(False)
        return F.coalesce(F.arrays_overlap(F.col(column), F.array(*map(F.lit, values))),
                          F.lit(False))

    origin = F.coalesce(F.col("origin_profile_id").isin(pids), F.lit(False))
    condition = overlaps("customer_ids", cids) | overlaps("anonymous_ids", aids) | origin
    n = df.where(condition).count()
    if n:
        def without(column: str, values: list[str]) -> Column:
            gone = F.array(*map(F.lit, values)) if values else F.array().cast("array<string>")
            return F.when(F.col(column).isNull(), F.col(column)).otherwise(
                F.array_except(F.col(column), gone))

        dt.update(condition, {
            "customer_ids": without("customer_ids", cids),
            "anonymous_ids": without("anonymous_ids", aids),
            "origin_profile_id": F.when(origin, F.lit(None).cast("string"))
            .otherwise(F.col("origin_profile_id")),
        })
    return n


@dataclass
class PurgeReport:
    log_files_deleted: int = 0


_LOG_VERSION = re.compile(r"^(\d{20})\.")


def purge_history(spark: SparkSession, path: str, listing_parallelism: int) -> PurgeReport:
    """Make deletions physical: zero-retention VACUUM (old data files, ``_change_data``),
    deletion vectors purged if the table uses them, then a checkpoint at the latest version
    and every older log file (commit JSON, checksums, checkpoints) deleted.

    Zero retention assumes no other job writes the table meanwhile (a writer's uncommitted
    files would be removed under it): the erasure runs with the stream and the batch jobs
    stopped (docs/operations.md). ``listing_parallelism``: tasks that list the table's
    folders (conf ``maintenance.vacuum.listing_parallelism``; Spark's default of 10,000 tasks
    made each VACUUM take 25-65 s on 2 cores)."""
    dt = _delta_table(spark, path)
    report = PurgeReport()
    if dt is None:
        return report
    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()}
    if props.get("delta.enableDeletionVectors") == "true":
        spark.sql(f"REORG TABLE delta.`{path}` APPLY (PURGE)")
    vacuum(spark, path, 0.0, below_minimum=True, listing_parallelism=listing_parallelism)
    report.log_files_deleted = _cut_log(spark, path)
    return report


def _cut_log(spark: SparkSession, path: str) -> int:
    """Checkpoint the latest version, then delete every log file of an older version."""
    jvm = spark._jvm
    version = table_version(spark, path)
    checkpoint(spark, path)
    log_dir = jvm.org.apache.hadoop.fs.Path(f"{path.rstrip('/')}/_delta_log")
    fs = log_dir.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    deleted = 0
    for status in fs.listStatus(log_dir):
        if status.isDirectory():
            continue
        m = _LOG_VERSION.match(status.getPath().getName())
        if m and int(m.group(1)) < version:
            fs.delete(status.getPath(), False)
            deleted += 1
    # Forget the cached snapshot built from the files just deleted.
    jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    return deleted
