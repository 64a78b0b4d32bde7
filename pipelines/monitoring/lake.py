"""Figures the monitor measures on the Delta tables, as plain values for ``rules``. Each
function takes DataFrames (the caller reads them through the catalog) and runs one small
aggregation; nothing large reaches the driver."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

REASON_CLASS_CHARS = 80


def profile_figures(profiles: DataFrame, now: datetime, stale_days: int) -> dict:
    """Profiles, stale profiles (newest event, ``last_seen``, older than ``stale_days`` days
    before ``now``) and the newest ``last_seen`` of all."""
    cutoff = now - timedelta(days=stale_days)
    row = profiles.agg(
        F.count(F.lit(1)).alias("profiles"),
        F.count(F.when(F.col("last_seen") < F.lit(cutoff), 1)).alias("stale"),
        F.max("last_seen").alias("newest"),
    ).first()
    return {"profiles": int(row["profiles"]), "stale": int(row["stale"]), "newest": row["newest"]}


def daily_source_counts(events: DataFrame, first: date, last: date) -> dict[tuple[str, date], int]:
    """Events per (source, event_date) for event dates in [first, last] (files skipped by date)."""
    rows = (
        events.where(F.col("event_date").between(F.lit(first), F.lit(last)))
        .groupBy("source", "event_date").count().collect()
    )
    return {(r["source"], r["event_date"]): int(r["count"]) for r in rows}


def reason_class(reason: F.Column) -> F.Column:
    """A quarantine reason without its value: the text before the first ':'
    (``unknown_event_type: foo`` → ``unknown_event_type``), trimmed, at most 80 characters.
    Keeps metric labels few and free of input values."""
    return F.substring(F.trim(F.substring_index(F.coalesce(reason, F.lit("unknown")), ":", 1)),
                       1, REASON_CLASS_CHARS)


def quarantine_counts(quarantine: DataFrame, since: datetime) -> dict[tuple[str, str], int]:
    """Rows quarantined after ``since`` per (table, reason class)."""
    rows = (
        quarantine.where(F.col("quarantined_at") > F.lit(since))
        .groupBy("table_name", reason_class(F.col("reason")).alias("reason")).count().collect()
    )
    return {(r["table_name"], r["reason"]): int(r["count"]) for r in rows}


def written_counts(results: DataFrame, since: datetime) -> dict[str, int]:
    """Rows the gate let through after ``since``, per table (``validation_results``)."""
    rows = (
        results.where(F.col("validated_at") > F.lit(since))
        .groupBy("table_name").agg(F.sum("rows_written").alias("n")).collect()
    )
    return {r["table_name"]: int(r["n"] or 0) for r in rows}


def latest_snapshot(table: DataFrame) -> DataFrame:
    """A nightly table's latest ``as_of`` (one row per profile); other tables whole."""
    if "as_of" not in table.columns or "profile_id" not in table.columns:
        return table
    newest = table.agg(F.max("as_of")).first()[0]
    return table.where(F.col("as_of") == F.lit(newest)) if newest is not None else table


def null_rates(df: DataFrame) -> dict[str, float]:
    """Share of rows whose value is null, per top-level column (an empty array or map is
    not null); empty when the frame has no rows."""
    columns = df.columns
    row = df.agg(F.count(F.lit(1)).alias("_rows"),
                 *[F.count(F.when(F.col(f"`{c}`").isNull(), 1)).alias(f"n{i}")
                   for i, c in enumerate(columns)]).first()
    rows = int(row["_rows"])
    if not rows:
        return {}
    return {c: int(row[f"n{i}"]) / rows for i, c in enumerate(columns)}



def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp read from Spark (a naive local time) as an aware UTC datetime."""
    if value is None or value.tzinfo is not None:
        return value
    return value.astimezone(UTC)
