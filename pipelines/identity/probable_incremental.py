"""The probable tier brought up to date from what changed since it was computed, instead of
from the whole event log (docs/streaming.md, "Identity in the stream").

A probable link row is about one anonymous id *a*, and is a function of: every record of every
device *a* browsed on, the strong link of *a* and of the customer who logged in on each of
those devices, and whether *a*'s profile holds a customer id. So, with the log only appended
to, *a*'s row can change only when

1. a device *a* was seen on gets a new record;
2. the link row of *a* changed;
3. the link row of a customer id seen on one of *a*'s devices changed;
4. a link row with *a*'s profile changed (its profile may now hold a customer id).

Those anonymous ids are *affected*; their rows are computed again from every record of every
device any of them was seen on (so each one's ranking across devices is whole), and every
other row is kept. A profile's activity row changes only when one of its links is affected or
an attached anonymous id has new events; those profiles' rows are computed again from all
their links. Anything else — a record deleted (an erasure), a changed never-link rule or
setting — needs the whole recompute (``probable_refresh`` decides).

The log grows for as long as the platform runs, and the stream refreshes every minute: the
log is only ever read through a broadcast filter on the few identifiers that changed — never
shuffled, deduplicated or held whole — so a refresh costs what changed plus a few column scans
(docs/performance.md, "What grew with the log").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.identity.graph import observations_from_events
from pipelines.identity.params import IdentityParams
from pipelines.identity.probable import ProbableParams, device_records, links_from_records
from pipelines.identity.probable_activity import probable_activity


@dataclass(frozen=True)
class Changes:
    """What the tier's inputs gained since it was computed.

    Attributes:
        events: the event-log rows appended (``EVENT_LOG`` columns).
        links: (id_type, id_value, profile_id) of every strong link row inserted, updated or
            deleted — before and after images both, so a profile a row left counts too.
    """

    events: DataFrame
    links: DataFrame


def affected_anonymous_ids(
    records: DataFrame, new_records: DataFrame, changes: Changes, links: DataFrame
) -> DataFrame:
    """The anonymous ids (one column, ``anonymous_id``) whose probable row may differ.

    Args:
        records: ``device_records`` of the whole log as it now stands.
        new_records: ``device_records`` of the appended events.
        changes: the appended events and the changed link rows.
        links: the strong links as they now stand.
    """
    changed = changes.links
    customers = changed.where(F.col("id_type") == "customer_id").select(
        F.col("id_value").alias("customer_id")).distinct()
    devices = new_records.select("device_id").union(
        records.join(F.broadcast(customers), "customer_id", "left_semi").select("device_id")
    ).distinct()
    on_devices = records.join(F.broadcast(devices), "device_id", "left_semi").select(
        "anonymous_id")
    own_link = changed.where(F.col("id_type") == "anonymous_id").select(
        F.col("id_value").alias("anonymous_id"))
    profiles = changed.where(F.col("profile_id").isNotNull()).select("profile_id").distinct()
    same_profile = links.where(F.col("id_type") == "anonymous_id").join(
        profiles, "profile_id", "left_semi").select(F.col("id_value").alias("anonymous_id"))
    return (on_devices.union(own_link).union(same_profile)
            .where(F.col("anonymous_id").isNotNull()).distinct())


def update_links(
    records: DataFrame,
    links: DataFrame,
    changes: Changes,
    before: DataFrame,
    identity: IdentityParams,
    params: ProbableParams,
    *,
    now: datetime,
) -> tuple[DataFrame, DataFrame]:
    """(probable links now, affected anonymous ids): ``before``'s rows of unaffected ids, and
    the affected ids' rows computed again.

    Args:
        records: ``device_records`` of the whole log as it now stands, read four times, each
            through a filter on the few identifiers that changed.
        links: the strong links as they now stand; ``before``: the probable links as they were.
    """
    new_records = device_records(observations_from_events(changes.events), identity)
    # Materialized: the rescoring, the rows kept and the caller's activity update all read it.
    affected = affected_anonymous_ids(records, new_records, changes, links).localCheckpoint(
        eager=True)
    devices = records.join(F.broadcast(affected), "anonymous_id", "left_semi").select(
        "device_id").distinct()
    scored = links_from_records(
        records.join(F.broadcast(devices), "device_id", "left_semi"), links, params, now=now
    ).join(affected, "anonymous_id", "left_semi")
    kept = before.join(affected, "anonymous_id", "left_anti")
    return kept.unionByName(scored), affected


def update_activity(
    events: DataFrame,
    probable: DataFrame,
    touched: DataFrame,
    before_probable: DataFrame,
    before: DataFrame,
    params: ProbableParams,
    *,
    now: datetime,
) -> tuple[DataFrame, DataFrame]:
    """(activity now, the profiles computed again): ``before``'s rows of other profiles, and
    those of every profile with a link of a ``touched`` anonymous id (one column,
    ``anonymous_id``: the affected ids and those with new events), before or now.

    Args:
        events: the whole log as it now stands.
        probable: the probable links now; ``before_probable``: as they were.
    """
    profiles = (
        probable.unionByName(before_probable).join(touched, "anonymous_id", "left_semi")
        .select("profile_id").distinct()
    )
    their_links = probable.join(profiles, "profile_id", "left_semi")
    anonymous = their_links.select(F.col("anonymous_id").alias("_anonymous_id")).distinct()
    their_events = events.join(
        F.broadcast(anonymous), F.col("identifiers.anonymous_id") == F.col("_anonymous_id"),
        "left_semi")
    again = probable_activity(their_events, their_links, params, now=now)
    kept = before.join(profiles, "profile_id", "left_anti")
    return kept.unionByName(again), profiles


def new_anonymous_ids(changes: Changes) -> DataFrame:
    """The anonymous ids (one column) the appended events carry."""
    return changes.events.select(
        F.col("identifiers.anonymous_id").alias("anonymous_id")
    ).where(F.col("anonymous_id").isNotNull()).distinct()
