"""What a customer browsed before logging in, through their probable links (docs/identity.md,
"Probable links"): the ``probable_activity`` table the chatbot export reads.

Business rules:
- Only *served* links count: confidence at or above ``identity.probable.serving_threshold``.
  A link below it, or withdrawn by a second customer's login, brings nothing.
- The activity is that of the attached anonymous ids' records that carry no customer id (the
  anonymous browsing the link is about), never anything of the customer's own strong profile.
- ``probable_recent_categories``: the categories of that activity (an event's category, an
  order's item categories), each at its latest time, newest first, at most
  ``RECENT_CATEGORIES`` — the rule of the profile's own ``recent_categories``.
- ``probable_last_viewed``: the newest ``product_view`` with a sku (sku, category, at); ties
  in time go to the greater event_id, so a rerun picks the same view.
- ``probable_confidence``: the highest confidence among the profile's served links.
- One row per customer profile with at least one served link, even when its anonymous ids
  have no categorized activity (the fields are then null); ``anonymous_profile_ids`` lists
  the anonymous profiles it was built from, so an erasure of either person finds the row.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.identity.probable import ProbableParams, served
from pipelines.identity.schemas import PROBABLE_ACTIVITY, conform

RECENT_CATEGORIES = 5  # as the profile's recent_categories (pipelines/profiles/finalize.py)
VIEW = "product_view"


def _blank(value: Column) -> Column:
    return value.isNull() | (F.trim(value) == "")


def _categories() -> Column:
    """An event's categories: its items' on an order, else its own (none when blank)."""
    items = F.transform(F.col("properties.items"), lambda i: i["category"])
    own = F.array(F.col("properties.category"))
    chosen = F.when(F.col("event_type") == "order_placed", F.coalesce(items, F.array()))
    return F.array_distinct(F.filter(chosen.otherwise(own), lambda c: ~_blank(c)))


def probable_activity(
    events: DataFrame, probable: DataFrame, params: ProbableParams, *, now: datetime
) -> DataFrame:
    """One ``PROBABLE_ACTIVITY`` row per customer profile with served probable links.

    Args:
        events: the event log (``EVENT_LOG`` columns).
        probable: ``identity_probable_links`` rows (``PROBABLE_LINKS``).
        params: the serving threshold.
        now: ``updated_at`` of the rows.
    """
    links = served(probable, params).select(
        "anonymous_id", "profile_id", "confidence", "anonymous_profile_id")
    anonymous = events.where(
        _blank(F.col("identifiers.customer_id")) & ~_blank(F.col("identifiers.anonymous_id"))
    ).select(
        F.col("identifiers.anonymous_id").alias("anonymous_id"),
        "event_id", "event_time", "event_type",
        F.col("properties.sku").alias("sku"),
        F.col("properties.category").alias("category"),
        _categories().alias("categories"),
    )
    activity = anonymous.join(links.select("anonymous_id", "profile_id"), "anonymous_id")
    per_category = (
        activity.select("profile_id", "event_time", F.explode("categories").alias("category"))
        .groupBy("profile_id", "category")
        .agg(F.max("event_time").alias("at"))
    )
    recent = per_category.groupBy("profile_id").agg(
        F.transform(
            F.slice(
                F.sort_array(F.collect_list(F.struct(F.col("at"), F.col("category"))), asc=False),
                1,
                RECENT_CATEGORIES,
            ),
            lambda e: e["category"],
        ).alias("probable_recent_categories")
    )
    viewed = (
        activity.where((F.col("event_type") == VIEW) & ~_blank(F.col("sku")))
        .groupBy("profile_id")
        .agg(
            F.max_by(
                F.struct(F.col("sku"), F.col("category"), F.col("event_time").alias("at")),
                F.struct(F.col("event_time"), F.col("event_id")),
            ).alias("probable_last_viewed")
        )
    )
    per_profile = links.groupBy("profile_id").agg(
        F.max("confidence").alias("probable_confidence"),
        F.count("anonymous_id").alias("anonymous_ids"),
        F.sort_array(F.collect_set("anonymous_profile_id")).alias("anonymous_profile_ids"),
    )
    out = (
        per_profile.join(recent, "profile_id", "left")
        .join(viewed, "profile_id", "left")
        .withColumn("updated_at", F.lit(now).cast("timestamp"))
    )
    return conform(out, PROBABLE_ACTIVITY)
