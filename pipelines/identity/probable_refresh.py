"""Recomputing the probable tier (docs/identity.md, "Probable links"): the links from the event
log and the current strong links, then the activity they serve. The batch ingest runs it whole
after its strong links; the stream after a micro-batch's event-log append, at most every
``streaming.probable_refresh_s``, for what changed since the last refresh
(``probable_incremental``; docs/streaming.md, "Identity in the stream").

The tier is a pure function of (events, identity_links, settings): its watermark records the
table versions and a digest of the settings it was computed from, and the versions it left
the tier's own tables at; it is written last, so a run that dies half-way is redone by the
next one. The stream's update reads what changed between the watermark's versions and now
from the tables' change data feed; whenever it cannot vouch for that — no watermark, other
settings or never-link rules, tier tables written since (by an erasure, a batch ingest or a
refresh cut short), a record deleted or rewritten in the log (an erasure), a feed it cannot
read — it computes the tier whole.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from py4j.protocol import Py4JJavaError
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate.delta_io import read_if_exists, table_id, table_version
from pipelines.identity.graph import observations_from_events
from pipelines.identity.params import IdentityParams
from pipelines.identity.probable import ProbableParams, device_records, probable_links
from pipelines.identity.probable_activity import probable_activity
from pipelines.identity.probable_incremental import (
    Changes,
    new_anonymous_ids,
    update_activity,
    update_links,
)
from pipelines.identity.schemas import PROBABLE_ACTIVITY, PROBABLE_LINKS
from pipelines.identity.store import (
    ACTIVITY_TABLE,
    LINKS_TABLE,
    PROBABLE_TABLE,
    write_probable_activity,
    write_probable_links,
)
from pipelines.watermarks import read_watermark, write_watermark

STAGE = "probable"
EVENTS_TABLE = "events"
CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Refreshed:
    """What one refresh wrote: rows of each table, the profiles whose served probable
    activity changed (new, different or gone), which a publisher must push again, and
    whether it computed the tier whole."""

    links: int
    profiles: int
    changed_profiles: tuple[str, ...]
    whole: bool = True


@dataclass(frozen=True)
class Inputs:
    """The versions of the tables and the settings a tier was computed from."""

    events: int
    links: int
    settings: str


@dataclass(frozen=True)
class Watermark:
    """What the last refresh computed from (``inputs``) and the versions it left the two tier
    tables at (``tier``): tables at other versions were written by someone else since (an
    erasure, a batch ingest) or by a refresh cut short between them."""

    inputs: Inputs
    tier: str

    def text(self) -> str:
        i = self.inputs
        return f"events={i.events},links={i.links},settings={i.settings},tier={self.tier}"

    @classmethod
    def parse(cls, text: str | None) -> Watermark | None:
        """None for no watermark, or one in an older format (computed whole again)."""
        try:
            parts = dict(p.split("=", 1) for p in (text or "").split(","))
            return cls(Inputs(int(parts["events"]), int(parts["links"]), parts["settings"]),
                       parts["tier"])
        except (KeyError, ValueError):
            return None


def settings_digest(identity: IdentityParams, params: ProbableParams, *tables: str) -> str:
    """Everything besides the two tables' rows the tier depends on: deny-lists, never-link
    rules, device limits, scores, and the tables' ids (one made again starts its versions
    anew). Checkpoint and iteration knobs included: harmless, a change of them costs one
    whole recompute."""
    return hashlib.sha256(repr((identity, params, tables)).encode()).hexdigest()[:16]


def refresh_probable(
    spark: SparkSession,
    catalog: Catalog,
    identity: IdentityParams,
    params: ProbableParams,
    now: datetime,
    *,
    incremental: bool = False,
) -> Refreshed | None:
    """Bring both tables up to date when the event log, the strong links or the settings
    changed since the last refresh; None when nothing changed. ``incremental``: from what
    changed, when the watermark allows it (module docstring). Switched off, nothing is
    computed, and tables left from earlier runs are emptied so no stale link is read."""
    if not params.enabled:
        if read_if_exists(spark, catalog.path(PROBABLE_TABLE)) is not None:
            write_probable_links(catalog, spark.createDataFrame([], PROBABLE_LINKS))
        if read_if_exists(spark, catalog.path(ACTIVITY_TABLE)) is not None:
            write_probable_activity(catalog, spark.createDataFrame([], PROBABLE_ACTIVITY))
        return None
    events_version = table_version(spark, catalog.path(EVENTS_TABLE))
    links_version = table_version(spark, catalog.path(LINKS_TABLE))
    if events_version is None or links_version is None:
        return None
    inputs = Inputs(events_version, links_version, settings_digest(
        identity, params, table_id(spark, catalog.path(EVENTS_TABLE)),
        table_id(spark, catalog.path(LINKS_TABLE))))
    last = Watermark.parse(read_watermark(spark, catalog, STAGE))
    if last is not None and last.inputs == inputs:
        return None
    events = _at(spark, catalog.path(EVENTS_TABLE), events_version)
    links = _at(spark, catalog.path(LINKS_TABLE), links_version)
    before = _tier_before(spark, catalog)
    sound = incremental and before is not None and last is not None and last.tier == _tier(
        spark, catalog)
    # What is materialized here is released when the refresh ends, not left to the JVM's
    # garbage collector: a stream refreshes every minute all day.
    held: list[DataFrame] = []
    try:
        changes = _changes(spark, catalog, last.inputs, inputs, held) if sound else None
        if changes is None:
            probable = _held(held, probable_links(observations_from_events(events), links,
                                                  identity, params, now=now))
            activity = _held(held, probable_activity(events, probable, params, now=now))
            moved = _diff_profiles(before[1] if before is not None else None, activity)
            changed = True
        else:
            probable, activity, moved, changed = _update(events, links, changes, before,
                                                         identity, params, now, held)
        if changed:
            write_probable_links(catalog, probable)
            write_probable_activity(catalog, activity)
        write_watermark(spark, catalog, STAGE, Watermark(inputs, _tier(spark, catalog)).text(),
                        now)
        return Refreshed(probable.count(), activity.count(), moved, whole=changes is None)
    finally:
        for df in held:
            df.unpersist()


def _held(held: list[DataFrame], df: DataFrame) -> DataFrame:
    """``df`` materialized (``localCheckpoint``) and listed for release."""
    df = df.localCheckpoint(eager=True)
    held.append(df)
    return df


def _update(events: DataFrame, links: DataFrame, changes: Changes,
            before: tuple[DataFrame, DataFrame], identity: IdentityParams,
            params: ProbableParams, now: datetime, held: list[DataFrame]
            ) -> tuple[DataFrame, DataFrame, tuple[str, ...], bool]:
    """(links, activity, profiles whose activity changed, whether either table changed) from
    what changed (``probable_incremental``), both tables materialized: the rows kept are
    read from the tables about to be replaced."""
    records = device_records(observations_from_events(events), identity)
    probable, affected = update_links(records, links, changes, before[0], identity, params,
                                      now=now)
    held.append(affected)
    probable = _held(held, probable)
    touched = affected.union(new_anonymous_ids(changes)).distinct()
    activity, redone = update_activity(events, probable, touched, before[0], before[1], params,
                                       now=now)
    activity = _held(held, activity)
    old, new = _sides(before[1], activity, redone, "profile_id")
    moved = tuple(sorted(p for p in old.keys() | new.keys() if old.get(p) != new.get(p)))
    old_links, new_links = _sides(before[0], probable, affected, "anonymous_id")
    return probable, activity, moved, old_links != new_links or bool(moved)


def _at(spark: SparkSession, path: str, version: int) -> DataFrame:
    """The table as of ``version``: the one the watermark will name, whatever commits next."""
    return spark.read.format("delta").option("versionAsOf", version).load(path)


def _tier(spark: SparkSession, catalog: Catalog) -> str:
    """The two tier tables' versions, as ``links.activity``."""
    return ".".join(str(table_version(spark, catalog.path(t)))
                    for t in (PROBABLE_TABLE, ACTIVITY_TABLE))


def _tier_before(spark: SparkSession, catalog: Catalog) -> tuple[DataFrame, DataFrame] | None:
    links = read_if_exists(spark, catalog.path(PROBABLE_TABLE))
    activity = read_if_exists(spark, catalog.path(ACTIVITY_TABLE))
    return None if links is None or activity is None else (links, activity)


def _changes(spark: SparkSession, catalog: Catalog, last: Inputs, now: Inputs,
             held: list[DataFrame]) -> Changes | None:
    """What the log and the links gained from ``last``'s versions to ``now``'s, from the
    change data feed; None when only a whole recompute is sound (module docstring)."""
    if last.settings != now.settings:
        return None
    if last.events > now.events or last.links > now.links:
        return None  # a table made again from scratch
    try:
        events = _feed(spark, catalog.path(EVENTS_TABLE), last.events, now.events)
        links = _feed(spark, catalog.path(LINKS_TABLE), last.links, now.links)
        if events is not None:
            events = _held(held, events)
            if not events.where(F.col("_change_type") != "insert").isEmpty():
                return None  # deleted or rewritten records: an erasure
        if links is not None:
            links = _held(held, links.select("id_type", "id_value", "profile_id"))
    except (PySparkException, Py4JJavaError) as e:
        # Files of the feed vacuumed, or versions written without it: the whole recompute
        # needs neither. Read here, whole, so a failure cannot come later from a lazy plan.
        log.info("probable tier computed whole: change data feed unreadable (%s)",
                 str(e).splitlines()[0])
        return None
    if events is None:
        events = _at(spark, catalog.path(EVENTS_TABLE), now.events).limit(0)
    if links is None:
        links = spark.createDataFrame([], "id_type string, id_value string, profile_id string")
    return Changes(events=events.drop(*CDF_COLUMNS), links=links)


def _feed(spark: SparkSession, path: str, after: int, upto: int) -> DataFrame | None:
    """Change rows of the commits after version ``after`` up to ``upto``; None if none."""
    if upto <= after:
        return None
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", after + 1)
        .option("endingVersion", upto)
        .load(path)
    )


def _sides(before: DataFrame, after: DataFrame, keys: DataFrame, key: str
           ) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """The rows of ``keys`` in ``before`` and ``after``, by ``key``, ``updated_at`` aside, in
    one Spark job: an update's few rows, compared on the driver."""
    columns = [c for c in after.columns if c != "updated_at"]
    both = before.select(F.lit(True).alias("_before"), *columns).unionByName(
        after.select(F.lit(False).alias("_before"), *columns)).join(keys, key, "left_semi")
    sides: tuple[dict, dict] = ({}, {})
    for r in both.collect():
        sides[0 if r["_before"] else 1][r[key]] = tuple(r)[1:]
    return sides


def _diff_profiles(before: DataFrame | None, activity: DataFrame) -> tuple[str, ...]:
    """Profiles whose activity row ``activity`` adds, changes or drops against ``before``
    (``updated_at`` aside; every profile without a ``before``), computed by Spark: only the
    differences reach the driver."""
    if before is None:
        return tuple(sorted(r.profile_id for r in activity.select("profile_id").collect()))
    columns = [c for c in activity.columns if c != "updated_at"]
    old, new = before.select(*columns), activity.select(*columns)
    diff = new.exceptAll(old).unionByName(old.exceptAll(new)).select("profile_id").distinct()
    return tuple(sorted(r.profile_id for r in diff.where(F.col("profile_id").isNotNull())
                        .collect()))
