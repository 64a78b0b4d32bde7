"""Point in time: the one filter every feature starts from, and window helpers."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ATTRIBUTES = ("country", "account_tier", "language")
# The event fields features read, as flat top-level columns (see ``flatten``).
FLAT_FIELDS = (
    "session_id",
    "category",
    "item_categories",
    "order_id",
    "amount",
    "ticket_id",
    "status",
    "priority",
    "score",
    *ATTRIBUTES,
)


def flatten(events: DataFrame, keep: tuple[str, ...] = ()) -> DataFrame:
    """The event log (EVENT_LOG shape, with or without profile_id) reduced to the flat,
    primitive columns features read; a frame already flat passes through unchanged.

    Flat columns cache compactly and shuffle little, which matters on 20M events:
    ``amount`` is ``base_amounts.amount`` (base currency), ``item_categories`` the categories
    of an order's items, and the attributes are set on ``profile_updated`` events only.
    """
    if "properties" not in events.columns:
        return events
    p = lambda name: F.col(f"properties.{name}")  # noqa: E731
    placed = F.col("event_type") == "order_placed"
    updated = F.col("event_type") == "profile_updated"
    return events.select(
        *[c for c in ("profile_id",) if c in events.columns],
        "event_id",
        "event_type",
        "event_time",
        *[c for c in keep if c in events.columns],
        p("session_id").alias("session_id"),
        p("category").alias("category"),
        F.when(placed, F.transform(p("items"), lambda i: i["category"])).alias("item_categories"),
        p("order_id").alias("order_id"),
        F.col("base_amounts.amount").alias("amount"),
        p("ticket_id").alias("ticket_id"),
        p("status").alias("status"),
        p("priority").alias("priority"),
        p("score").alias("score"),
        *[F.when(updated, p("attributes")[a]).alias(a) for a in ATTRIBUTES],
    )


def point_in_time(events: DataFrame, as_of: date) -> DataFrame:
    """Events with ``event_time`` on or before the end of ``as_of`` (session time zone, UTC),
    flattened (``flatten``).

    Comparing the event's date with a date literal keeps the rule independent of the driver's
    local time zone (a naive datetime literal would be read in it).
    """
    return flatten(events).where(F.to_date("event_time") <= F.lit(as_of))


def day() -> Column:
    return F.to_date("event_time")


def age_days(as_of: date, day_col: Column | None = None) -> Column:
    """Whole days from the event's date to ``as_of``: 0 for an event on as_of."""
    return F.datediff(F.lit(as_of), day() if day_col is None else day_col)


def in_window(days: int, as_of: date, day_col: Column | None = None) -> Column:
    """True for dates in the last ``days`` days ending on ``as_of``: (as_of − days, as_of]."""
    d = day() if day_col is None else day_col
    return (d > F.date_sub(F.lit(as_of), days)) & (d <= F.lit(as_of))


def is_type(*types: str) -> Column:
    return F.col("event_type").isin(list(types))
