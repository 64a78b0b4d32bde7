"""``profilake-unmerge``'s reads and writes, in the order that keeps a crash recoverable.

Order: never-link rules → merges a re-resolution found with third profiles → the links (one
gated MERGE whose commit names the undo) → the re-folded profiles → the chatbot export and
cache → the ``identity_unmerges`` row. Until that last row exists the merge counts as not
undone, so a run that died half-way is completed by running it again: the rules are upserted,
the links already moved are found on M (nothing left to move), and the profiles, export and
cache are rewritten from the links.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.gate import gated_write
from pipelines.gate.delta_io import read_if_exists
from pipelines.identity import unmerge as u
from pipelines.identity.graph import observations_from_events
from pipelines.identity.merge_log import MergeLog, MergeRow, UnmergeError
from pipelines.identity.never_link import rules_from_rows
from pipelines.identity.resolve import apply_links, resolve
from pipelines.identity.schemas import LINK_KEY, LINKS, MERGES, conform, links_as_of_now
from pipelines.identity.store import (
    LINKS_TABLE,
    MERGES_TABLE,
    UNMERGES_TABLE,
    add_never_link,
    identity_params,
)
from pipelines.locks import WritersLock
from pipelines.maintenance.delta_ops import commit_message


@dataclass
class UnmergePlan:
    """What an undo moves (``--dry-run`` prints it)."""

    merge: MergeRow
    moved_profiles: list[str]
    moved: list[tuple[str, str]]
    later: list[tuple[str, str]]
    rules: list[tuple[str, str, str, str]]
    profiles: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        m = self.merge
        out = [f"merge {m.merge_id}: {m.survivor} <- {m.merged} via {m.id_type}:{m.id_value} "
               f"(record {m.record_id}, merged_at {m.merged_at})",
               f"profiles that move back to {m.merged}: {', '.join(self.moved_profiles)}",
               f"identifiers moving back ({len(self.moved)}):"]
        out += [f"  {t}:{v}" for t, v in self.moved]
        out.append(f"identifiers first seen since the merge, resolved again ({len(self.later)}):")
        out += [f"  {t}:{v}" for t, v in self.later]
        out.append(f"never-link rules ({len(self.rules)}):")
        out += [f"  {a}:{b} is absent in records carrying {c}:{d}" for a, b, c, d in self.rules]
        if self.profiles:
            out.append(f"profiles re-folded: {', '.join(self.profiles)}")
        return out


def _read(spark: SparkSession, catalog: Catalog, table: str) -> DataFrame | None:
    return read_if_exists(spark, catalog.path(table))


def _keys(df: DataFrame) -> list[tuple[str, str]]:
    return sorted((r[0], r[1]) for r in df.select(*LINK_KEY).collect())


def run_unmerge(
    spark: SparkSession,
    conf: Conf,
    merge_id: str,
    now: datetime,
    *,
    by: str,
    reason: str | None = None,
    dry_run: bool = False,
) -> UnmergePlan:
    """Undo merge ``merge_id`` (docs/identity.md, "Undoing a merge").

    Raises:
        UnknownMerge, AlreadyUndone: nothing to undo (``MergeLog.check``).
        UnmergeError: the survivor was merged further since (undo that first), or records
            first seen after the merge link the two profiles again.
    """
    if dry_run:
        return _run_unmerge(spark, conf, merge_id, now, by=by, reason=reason, dry_run=True)
    # Reads and writes links and profiles: the stream's micro-batches wait (pipelines/locks.py).
    with WritersLock.from_conf(conf).hold("profilake-unmerge", claim=True):
        return _run_unmerge(spark, conf, merge_id, now, by=by, reason=reason, dry_run=False)


def _run_unmerge(spark: SparkSession, conf: Conf, merge_id: str, now: datetime, *, by: str,
                 reason: str | None, dry_run: bool) -> UnmergePlan:
    catalog = Catalog(conf)
    row = MergeLog.from_catalog(catalog).check(merge_id)
    merges = _read(spark, catalog, MERGES_TABLE)
    unmerges = _read(spark, catalog, UNMERGES_TABLE)
    links = links_as_of_now(_read(spark, catalog, LINKS_TABLE)).persist(
        StorageLevel.MEMORY_AND_DISK)
    events = _read(spark, catalog, "events")
    ids = u.event_identifiers(events).persist(StorageLevel.MEMORY_AND_DISK)
    moved_profiles = u.moved_profiles(merges, unmerges, row)
    moved = u.moved_links(links, row, moved_profiles).persist(StorageLevel.MEMORY_AND_DISK)
    later = u.later_links(links, ids, row).persist(StorageLevel.MEMORY_AND_DISK)
    restored = u.restored_links(moved, row, now)
    corrected = apply_links(links, restored).join(later.select(*LINK_KEY), list(LINK_KEY),
                                                   "left_anti")
    rules = u.never_link_rules(ids, corrected, row, now).persist(StorageLevel.MEMORY_AND_DISK)
    plan = UnmergePlan(row, moved_profiles, _keys(moved), _keys(later),
                       list(rules_from_rows(rules.select(
                           "id_type", "id_value", "with_id_type", "with_id_value").collect())))
    if dry_run:
        return plan

    base = identity_params(spark, catalog, conf)
    params = replace(base, never_link=tuple(sorted(set(base.never_link) | set(plan.rules))))
    upserts, found = restored, spark.createDataFrame([], MERGES)
    if plan.later:
        again = u.records_carrying(events, ids, later)
        result = resolve(observations_from_events(again), corrected, params, now=now)
        if u.rejoins(result.merges, row):
            raise UnmergeError(
                f"records first seen after merge {merge_id} link {row.survivor} and "
                f"{row.merged} again through identifiers the merge's records do not carry; "
                "nothing was changed")
        upserts = restored.join(result.links.select(*LINK_KEY), list(LINK_KEY), "left_anti") \
            .unionByName(conform(result.links, LINKS))
        found = result.merges
    label = f"undo merge {row.survivor}<-{row.merged} ({row.record_id}) merge_id={merge_id}"

    add_never_link(catalog, rules)
    if not found.isEmpty():
        gated_write(catalog, conform(found, MERGES), MERGES_TABLE)
    if plan.moved or plan.later:  # a rerun after a crash may find them moved already
        with commit_message(spark, label):
            gated_write(catalog, upserts, LINKS_TABLE, mode="merge", merge_on=list(LINK_KEY))
    new_links = links_as_of_now(_read(spark, catalog, LINKS_TABLE))
    plan.profiles = sorted({row.survivor, row.merged} | {
        r[0] for r in upserts.where(F.col("profile_id").isNotNull())
        .select("profile_id").distinct().collect()})
    _refold(spark, conf, catalog, events, new_links, params, plan.profiles, row, now)
    gated_write(catalog, spark.createDataFrame(
        [u.unmerge_row(row, now, len(plan.moved), by, reason)], u.UNMERGES), UNMERGES_TABLE)
    for df in (links, ids, moved, later, rules):
        df.unpersist()
    return plan


def _refold(spark: SparkSession, conf: Conf, catalog: Catalog, events: DataFrame,
            links: DataFrame, params, profile_ids: list[str], row: MergeRow,
            now: datetime) -> None:
    """Re-fold ``profile_ids`` from the event log with the batch's fold, write them, then
    publish them to the chatbot export and cache."""
    from pipelines.ingest.flow import fold_params_from_conf
    from pipelines.profiles.build import build_profiles, events_with_profiles
    from pipelines.profiles.store import write_profiles
    from pipelines.serving.params import ExportParams
    from pipelines.serving.publish import publish_unmerge, read_probable, read_segments

    assigned, _none = events_with_profiles(events, links, params)
    mine = assigned.where(F.col("profile_id").isin(profile_ids))
    touched = links.where(F.col("profile_id").isin(profile_ids))
    profiles = build_profiles(mine, touched, now, fold_params_from_conf(conf))
    write_profiles(catalog, profiles, now)
    if not _exported(spark, catalog):
        return
    written = spark.read.format("delta").load(catalog.path("profiles")).where(
        F.col("profile_id").isin(profile_ids))
    publish_unmerge(catalog, conf, written, row.merged, params=ExportParams.from_conf(conf),
                    segments=read_segments(catalog, spark),
                    probable=read_probable(catalog, spark))


def _exported(spark: SparkSession, catalog: Catalog) -> bool:
    """The export is published (a lakehouse without one has nothing to correct there)."""
    return _read(spark, catalog, "chatbot_export") is not None
