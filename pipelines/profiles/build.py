"""Events + identity links → unified profiles (the batch path; the stream reuses the parts)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.profiles.finalize import finalize
from pipelines.profiles.state import FoldParams, fold_events

if TYPE_CHECKING:
    from pipelines.identity.params import IdentityParams

# Quarantine reason (table_name = profiles) of an event that reaches no profile: batch and
# stream both use it, and the batch looks for it to quarantine each such event once.
NO_PROFILE = "no_profile: every identifier is deny-listed or shared"


def attach_profiles(events: DataFrame, assignments: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Split events into (with ``profile_id``, without one).

    ``assignments`` is ``(record_id, profile_id)`` from identity resolution, at most one row
    per record; an event it has no profile for (no row, or a null profile_id) had only
    denied or shared identifiers and is quarantined by the caller with
    ``NO_PROFILE``.
    """
    joined = events.join(assignments.withColumnRenamed("record_id", "event_id"), "event_id", "left")
    return split_by_profile(joined)


def events_with_profiles(
    events: DataFrame, links: DataFrame, identity: IdentityParams | None = None
) -> tuple[DataFrame, DataFrame]:
    """Attach each event's current ``profile_id`` through the identity links.

    The event log keeps identifiers, not profile ids: merges would make stored ids stale, so
    every reader (profile build, nightly features) resolves through the current links.
    ``identity`` carries the deny-list and the never-link rules (an identifier a rule blocks
    in a record does not place it). Returns (events with profile_id, events whose
    identifiers link no profile).
    """
    return split_by_profile(linked_events(events, links, identity))


def linked_events(
    events: DataFrame, links: DataFrame, identity: IdentityParams | None = None
) -> DataFrame:
    """The events with one more column, their current ``profile_id`` (null when their
    identifiers link no profile): what ``events_with_profiles`` splits, for a caller that
    keeps it for both sides."""
    from pipelines.identity.assign import with_linked_profile

    # One lookup per identifier type (no shuffle of the log); event_id first, profile_id
    # last, as attach_profiles' join gives them.
    return with_linked_profile(events, links, identity).select(
        "event_id", *[c for c in events.columns if c != "event_id"], "profile_id")


def split_by_profile(joined: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(rows with a ``profile_id``, the others without the column)."""
    return joined.where(F.col("profile_id").isNotNull()), joined.where(
        F.col("profile_id").isNull()
    ).drop("profile_id")


def profile_identifiers(links: DataFrame) -> DataFrame:
    """``(profile_id, identifiers)``: every identifier type → its sorted values."""
    from pipelines.identity.assign import usable_links

    per_type = usable_links(links).groupBy("profile_id", "id_type").agg(
        F.array_sort(F.collect_set("id_value")).alias("values")
    )
    return per_type.groupBy("profile_id").agg(
        F.map_from_entries(F.array_sort(F.collect_list(F.struct("id_type", "values")))).alias(
            "identifiers"
        )
    )


def change_hash() -> Column:
    """What a reader sees change: folded state, identifiers and the windowed figures."""
    windowed = sorted(
        c
        for c in ("orders_30d", "spend_30d", "orders_90d", "spend_90d", "orders_365d", "spend_365d")
    )
    return F.sha2(
        F.concat_ws(
            "|",
            F.col("state_hash"),
            F.to_json(F.col("identifiers")),
            *[F.col(c).cast("string") for c in windowed],
        ),
        256,
    )


def build_profiles(
    events_with_profile: DataFrame,
    links: DataFrame,
    as_of: datetime | Column,
    params: FoldParams | None = None,
) -> DataFrame:
    """One row per profile: the fold of its deduplicated events, finalized at ``as_of``,
    with the identifiers identity resolution linked to it."""
    profiles = finalize(fold_events(events_with_profile, params or FoldParams()), as_of)
    return with_identifiers(profiles, profile_identifiers(links))


def with_identifiers(profiles: DataFrame, identifiers: DataFrame) -> DataFrame:
    return profiles.join(identifiers, "profile_id", "left").withColumn("change_hash", change_hash())
