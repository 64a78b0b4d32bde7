"""Looking at one profile: which one to show, and where its events came from.

Both take the event log with each event's current ``profile_id`` (``events_with_profiles``),
so a merged-away profile's events count for its survivor.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def busiest_profile(events_with_profile: DataFrame) -> str | None:
    """The profile with the most events (ties: the smallest profile_id); None without events.

    Deterministic, so a notebook or a report shows the same customer on every run, and the
    busiest one has the most sources and history to look at.
    """
    row = (
        events_with_profile.groupBy("profile_id")
        .agg(F.count(F.lit(1)).alias("events"))
        .orderBy(F.desc("events"), "profile_id")
        .first()
    )
    return None if row is None else row["profile_id"]


def profile_sources(events_with_profile: DataFrame, profile_id: str) -> DataFrame:
    """One row per source system of ``profile_id``'s events: how many, the first and last
    event time, and the event types it sent (sorted), busiest source first."""
    return (
        events_with_profile.where(F.col("profile_id") == profile_id)
        .groupBy("source")
        .agg(
            F.count(F.lit(1)).alias("events"),
            F.min("event_time").alias("first_event"),
            F.max("event_time").alias("last_event"),
            F.array_sort(F.collect_set("event_type")).alias("event_types"),
        )
        .orderBy(F.desc("events"), "source")
    )
