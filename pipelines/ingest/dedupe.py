"""Event-id deduplication: a repeated event_id never counts twice."""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def dedupe_events(events: DataFrame) -> DataFrame:
    """One row per ``event_id``; of repeats, the earliest event time wins (then origin), so the
    choice does not depend on arrival order."""
    order = Window.partitionBy("event_id").orderBy("event_time", "origin")
    return events.withColumn("_n", F.row_number().over(order)).where("_n = 1").drop("_n")
