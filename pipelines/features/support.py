"""Support features: tickets, escalations, resolution time and CSAT, as of a date.

Definitions (docs/features.md). A *ticket* is a ``ticket_id`` of ticket_opened / ticket_updated
/ ticket_closed events. An event's status is its lower-cased ``status`` (a ticket_closed
without one is ``closed``); priorities are lower-cased. "Latest" is the greatest
(event_time, event_id).
- ``tickets_<N>d`` / ``tickets_lifetime``: tickets whose first event lies in the window / ever.
- ``open_tickets``: tickets whose latest status is not a resolved status (solved, closed,
  resolved — conf ``features.resolved_statuses``).
- ``escalations``: tickets escalated by as_of — an event with an escalation status
  (``escalated``), or the priority raised to an escalation priority (urgent, p1) after the
  ticket's first event had a lower one.
- ``avg_resolution_hours``: mean hours from a ticket's first event to its first event with a
  resolved status, over tickets resolved by as_of (reopening does not reset it).
- ``avg_csat`` / ``csat_responses``: mean / number of ``csat_submitted`` scores.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.features.params import FeatureParams
from pipelines.features.pit import in_window, is_type, point_in_time

TICKET_TYPES = ("ticket_opened", "ticket_updated", "ticket_closed")


def ticket_facts(events: DataFrame, as_of: date, params: FeatureParams) -> DataFrame:
    """One row per (profile_id, ticket_id) seen by as_of: opened_at, latest_status,
    escalated, resolved_at."""
    ev = point_in_time(events, as_of).where(is_type(*TICKET_TYPES) & F.col("ticket_id").isNotNull())
    status = F.coalesce(F.lower(F.col("status")), F.when(is_type("ticket_closed"), F.lit("closed")))
    priority = F.lower(F.col("priority"))
    order = F.struct("event_time", "event_id")
    urgent = priority.isin(list(params.escalation_priorities))
    per_ticket = ev.groupBy("profile_id", F.col("ticket_id").alias("ticket_id")).agg(
        F.min("event_time").alias("opened_at"),
        F.min_by(priority, order).alias("first_priority"),
        F.max_by(status, order).alias("latest_status"),
        F.max(status.isin(list(params.escalation_statuses))).alias("_escalated_status"),
        F.max(urgent).alias("_ever_urgent"),
        F.min(F.when(status.isin(list(params.resolved_statuses)), F.col("event_time"))).alias(
            "resolved_at"
        ),
    )
    first_urgent = F.coalesce(
        F.col("first_priority").isin(list(params.escalation_priorities)), F.lit(False)
    )
    escalated = F.coalesce(F.col("_escalated_status"), F.lit(False)) | (
        F.coalesce(F.col("_ever_urgent"), F.lit(False)) & ~first_urgent
    )
    return per_ticket.select(
        "profile_id",
        "ticket_id",
        "opened_at",
        "latest_status",
        escalated.alias("escalated"),
        "resolved_at",
    )


def support_features(events: DataFrame, as_of: date, params: FeatureParams) -> DataFrame:
    """Per profile with a ticket or a CSAT score by as_of (see module docstring).

    Returns:
        profile_id, tickets_<N>d, tickets_lifetime, open_tickets, escalations,
        avg_resolution_hours, avg_csat, csat_responses.
    """
    tickets = ticket_facts(events, as_of, params)
    opened = F.to_date("opened_at")
    is_open = ~F.coalesce(F.col("latest_status").isin(list(params.resolved_statuses)), F.lit(False))
    hours = (F.unix_timestamp("resolved_at") - F.unix_timestamp("opened_at")) / 3600.0
    per_profile = tickets.groupBy("profile_id").agg(
        *[
            F.count(F.when(in_window(n, as_of, opened), 1)).alias(f"tickets_{n}d")
            for n in params.activity_windows
        ],
        F.count(F.lit(1)).alias("tickets_lifetime"),
        F.count(F.when(is_open, 1)).alias("open_tickets"),
        F.count(F.when(F.col("escalated"), 1)).alias("escalations"),
        F.round(F.avg(hours), 2).alias("avg_resolution_hours"),
    )
    csat = (
        point_in_time(events, as_of)
        .where(is_type("csat_submitted") & F.col("score").isNotNull())
        .groupBy("profile_id")
        .agg(
            F.round(F.avg(F.col("score").cast("double")), 2).alias("avg_csat"),
            F.count(F.lit(1)).alias("csat_responses"),
        )
    )
    return per_profile.join(csat, "profile_id", "full")
