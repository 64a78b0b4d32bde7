"""Undoing a merge: what moved with the merged profile, where it goes back, and the never-link
rules that keep the two apart (docs/identity.md, "Undoing a merge").

For a merge row S ← M (linking identifier X, linking record R, merged_at T):

- **M\\*** = {M} plus, recursively, every profile merged into a member of M\\* before T by a
  merge not undone since: the profiles that were part of M when it was merged.
- **What moved**: the link rows now on S whose ``origin_profile_id`` is in M\\*. They go back
  to M with M's created time; ``updated_at`` = the undo's time.
- **Identifiers first seen after the merge** that came in through M's side were created
  straight into S (origin S). They are S's origin-S rows whose first event was ingested at or
  after T; the undo takes them out of the links and resolves the records carrying them again,
  against the corrected links and the new never-link rules, so each lands where a lakehouse
  that never merged S and M puts it.
- **Never-link rules**: for every event record carrying an identifier of S's side (X counts
  there) and one of M's side (after the correction; R is one of them), one rule per pair
  (S-side identifier, M-side identifier): in a record carrying the M-side one, the S-side
  one is treated as absent (``never_link.py``). Replaying R therefore links it to M only.

All functions are pure DataFrame functions; ``merge_log.MergeLog.check`` finds the merge row
and refuses what cannot be undone, ``unmerge_run.run_unmerge`` reads and writes.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from pipelines.identity.merge_ids import MERGE_ID_LENGTH
from pipelines.identity.merge_log import MergeRow
from pipelines.identity.schemas import LINK_KEY, LINKS, conform
from pipelines.schemas.events import IDENTIFIER_TYPES

UNMERGES = StructType(
    [
        StructField("merge_id", StringType()),
        StructField("survivor_profile_id", StringType()),
        StructField("merged_profile_id", StringType()),
        StructField("undone_at", TimestampType()),
        StructField("moved_identifiers", LongType()),
        StructField("undone_by", StringType()),
        StructField("reason", StringType()),
    ]
)


def merge_id_column() -> Column:
    """``merge_ids.merge_id`` of an ``identity_merges`` row, as a Spark column."""
    text = F.concat_ws("|", "survivor_profile_id", "merged_profile_id", "record_id")
    return F.substring(F.sha2(text, 256), 1, MERGE_ID_LENGTH)


def active_merges(merges: DataFrame, unmerges: DataFrame | None) -> DataFrame:
    """The merges not undone (``identity_unmerges`` names the undone ones by merge_id)."""
    if unmerges is None:
        return merges
    undone = unmerges.select("merge_id")
    return merges.withColumn("merge_id", merge_id_column()).join(
        undone, "merge_id", "left_anti").drop("merge_id")


def moved_profiles(merges: DataFrame, unmerges: DataFrame | None, row: MergeRow) -> list[str]:
    """M*: the merged profile and, recursively, the profiles merged into it before the merge
    (by merges still in force), sorted."""
    before = active_merges(merges, unmerges).where(F.col("merged_at") < F.lit(row.merged_at))
    found, frontier = {row.merged}, [row.merged]
    while frontier:
        children = before.where(F.col("survivor_profile_id").isin(frontier)).select(
            "merged_profile_id").collect()
        frontier = sorted({c[0] for c in children} - found)
        found.update(frontier)
    return sorted(found)


def moved_links(links: DataFrame, row: MergeRow, moved: list[str]) -> DataFrame:
    """The link rows that moved with M: on S now, first linked to a member of M*."""
    return links.where((F.col("profile_id") == row.survivor)
                       & F.col("origin_profile_id").isin(moved))


def restored_links(moved: DataFrame, row: MergeRow, now: datetime) -> DataFrame:
    """``moved`` back on M, with M's created time; ``updated_at`` = ``now``."""
    return conform(moved.withColumn("profile_id", F.lit(row.merged))
                   .withColumn("profile_created_at", F.lit(row.merged_created_at))
                   .withColumn("updated_at", F.lit(now).cast("timestamp")), LINKS)


def event_identifiers(events: DataFrame) -> DataFrame:
    """(record_id, id_type, id_value, ingested_at): every non-blank identifier of every event."""
    pairs = F.array(*[
        F.struct(F.lit(t).alias("id_type"), F.col(f"identifiers.{t}").alias("id_value"))
        for t in IDENTIFIER_TYPES
    ])
    return events.select(F.col("event_id").alias("record_id"), "ingested_at",
                         F.explode(pairs).alias("i")).where(
        F.col("i.id_value").isNotNull() & (F.trim("i.id_value") != "")
    ).select("record_id", "i.id_type", "i.id_value", "ingested_at")


def later_links(links: DataFrame, identifiers: DataFrame, row: MergeRow) -> DataFrame:
    """S's origin-S link rows whose first event was ingested at or after the merge: created
    into S by the merge batch or after it, so possibly through M's side."""
    first = identifiers.groupBy(*LINK_KEY).agg(F.min("ingested_at").alias("first_ingested"))
    own = links.where((F.col("profile_id") == row.survivor)
                      & (F.col("origin_profile_id") == row.survivor))
    return own.join(first, list(LINK_KEY)).where(
        F.col("first_ingested") >= F.lit(row.merged_at)).drop("first_ingested")


def never_link_rules(
    identifiers: DataFrame, sides: DataFrame, row: MergeRow, now: datetime
) -> DataFrame:
    """Rules (``never_link.NEVER_LINK``) for every record carrying identifiers of both sides.
    The linking identifier counts on S's side even when it was first seen with the merge (it
    reached M from outside M, by the merge row's definition).

    Args:
        identifiers: ``event_identifiers`` of the event log.
        sides: link rows after the correction (id_type, id_value, profile_id).
    """
    linking = identifiers.sparkSession.createDataFrame(
        [(row.id_type, row.id_value, row.survivor)],
        "id_type string, id_value string, profile_id string")
    sided = identifiers.join(
        sides.where(F.col("profile_id").isin(row.survivor, row.merged))
        .select(*LINK_KEY, "profile_id").join(linking.select(*LINK_KEY), list(LINK_KEY),
                                              "left_anti").unionByName(linking),
        list(LINK_KEY))
    s_side = sided.where(F.col("profile_id") == row.survivor).select("record_id", *LINK_KEY)
    m_side = sided.where(F.col("profile_id") == row.merged).select(
        "record_id", F.col("id_type").alias("with_id_type"),
        F.col("id_value").alias("with_id_value"))
    return s_side.join(m_side, "record_id").select(
        *LINK_KEY, "with_id_type", "with_id_value", F.lit(row.merge_id).alias("merge_id"),
        F.lit(now).cast("timestamp").alias("added_at"),
    ).distinct()


def records_carrying(events: DataFrame, identifiers: DataFrame, keys: DataFrame) -> DataFrame:
    """The events carrying any of ``keys`` (id_type, id_value)."""
    ids = identifiers.join(keys.select(*LINK_KEY), list(LINK_KEY)).select(
        F.col("record_id").alias("event_id")).distinct()
    return events.join(ids, "event_id", "left_semi")


def rejoins(merges: DataFrame, row: MergeRow) -> bool:
    """True when a re-resolution would merge S and M (either way) again."""
    pair = [row.survivor, row.merged]
    return not merges.where(F.col("survivor_profile_id").isin(pair)
                            & F.col("merged_profile_id").isin(pair)).isEmpty()


def unmerge_row(row: MergeRow, now: datetime, moved: int, by: str, reason: str | None
                ) -> tuple:
    """The ``identity_unmerges`` row of this undo (a tuple in ``UNMERGES`` order)."""
    return (row.merge_id, row.survivor, row.merged, now, moved, by, reason)
