"""Recomputing the probable tier (docs/identity.md, "Probable links"): the links from the whole
event log and the current strong links, then the activity they serve. The batch ingest runs it
after its strong links; the stream after a micro-batch's event-log append, at most every
``streaming.probable_refresh_s`` (docs/streaming.md, "Identity in the stream").

Both call this one function on the tables they wrote, so batch and stream agree on the same
records by construction; the refresh is a pure function of (events, identity_links), so a run
that dies half-way is redone whole by the next one (its watermark is written last).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate.delta_io import read_if_exists
from pipelines.identity.graph import observations_from_events
from pipelines.identity.params import IdentityParams
from pipelines.identity.probable import ProbableParams, probable_links
from pipelines.identity.probable_activity import probable_activity
from pipelines.identity.schemas import PROBABLE_ACTIVITY, PROBABLE_LINKS
from pipelines.identity.store import (
    ACTIVITY_TABLE,
    PROBABLE_TABLE,
    write_probable_activity,
    write_probable_links,
)
from pipelines.watermarks import changed_since, write_watermark

STAGE = "probable"


@dataclass(frozen=True)
class Refreshed:
    """What one refresh wrote: rows of each table, and the profiles whose served probable
    activity changed (new, different or gone), which a publisher must push again."""

    links: int
    profiles: int
    changed_profiles: tuple[str, ...]


def refresh_probable(
    spark: SparkSession,
    catalog: Catalog,
    identity: IdentityParams,
    params: ProbableParams,
    now: datetime,
) -> Refreshed | None:
    """Recompute both tables when the event log or the strong links changed since the last
    refresh; None when nothing changed. Switched off, nothing is computed, and tables left
    from earlier runs are emptied so no stale link is read."""
    if not params.enabled:
        if read_if_exists(spark, catalog.path(PROBABLE_TABLE)) is not None:
            write_probable_links(catalog, spark.createDataFrame([], PROBABLE_LINKS))
        if read_if_exists(spark, catalog.path(ACTIVITY_TABLE)) is not None:
            write_probable_activity(catalog, spark.createDataFrame([], PROBABLE_ACTIVITY))
        return None
    changed = changed_since(spark, catalog, STAGE)
    if changed is None:
        return None
    events, links, inputs = changed
    probable = probable_links(observations_from_events(events), links, identity, params,
                              now=now).cache()
    activity = probable_activity(events, probable, params, now=now).cache()
    try:
        link_rows = probable.count()
        moved = _changed_profiles(spark, catalog, activity)
        write_probable_links(catalog, probable)
        activity_rows = activity.count()
        write_probable_activity(catalog, activity)
    finally:
        activity.unpersist()
        probable.unpersist()
    write_watermark(spark, catalog, STAGE, inputs, now)
    return Refreshed(link_rows, activity_rows, moved)


def _changed_profiles(spark: SparkSession, catalog: Catalog, activity: DataFrame
                      ) -> tuple[str, ...]:
    """Profiles whose activity row the refresh adds, changes or drops (``updated_at`` aside),
    read before the table is replaced."""
    before = read_if_exists(spark, catalog.path(ACTIVITY_TABLE))
    if before is None:
        return tuple(sorted(r.profile_id for r in activity.select("profile_id").collect()))
    columns = [c for c in activity.columns if c != "updated_at"]
    old, new = before.select(*columns), activity.select(*columns)
    diff = new.exceptAll(old).unionByName(old.exceptAll(new)).select("profile_id").distinct()
    return tuple(sorted(r.profile_id for r in diff.where(F.col("profile_id").isNotNull())
                        .collect()))
