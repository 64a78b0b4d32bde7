"""Social mentions (one JSON document per file: ``{"data": [...]}`` as an API dump, or a bare
array) → ``social_mention`` events.

A mention: ``id``, ``platform``, ``handle`` ("@Name", any case), ``created_time`` (Twitter
style "Sun Aug 03 14:22:10 +0000 2026"), ``text``, ``sentiment`` (−1..1) and
``profile_email`` (when the platform shares it). The handle becomes ``platform:handle``
lower-cased. A file that is not valid JSON is rejected whole, with its content kept.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.ingest.normalize.common import (
    Normalized,
    Rules,
    any_identifier,
    base_amounts,
    canonical,
    event_id,
    identifiers,
    not_a_number,
    origin,
    out_of_range,
    properties,
    split,
    time_checks,
)
from pipelines.normalize import identifiers as ids

MENTION = (
    "struct<id:string,platform:string,handle:string,created_time:string,text:string,"
    "sentiment:string,profile_email:string>"
)
REASON = "_quarantine_reason"


def _mentions(raw: Column) -> Column:
    """The document's mentions; null when it is not a mentions document."""
    return F.coalesce(
        F.from_json(raw, f"struct<data:array<{MENTION}>>")["data"],
        F.from_json(raw, f"array<{MENTION}>"),
    )


def record_count(raw: Column) -> Column:
    """Source records in one bronze row (a whole document): its mentions, or 1 for a file that
    is not a mentions document, which is quarantined whole as one record."""
    mentions = _mentions(raw)
    # Explicit: size(null) is -1 or null depending on spark.sql.legacy.sizeOfNull.
    return F.when(mentions.isNull(), F.lit(1)).otherwise(F.size(mentions))


def normalize_social(bronze: DataFrame, rules: Rules) -> Normalized:
    files = bronze.withColumn("_mentions", _mentions(F.col("raw")))
    bad_files = files.where(F.col("_mentions").isNull()).select(
        *bronze.columns, F.lit("social: unparseable JSON document").alias(REASON)
    )
    m = lambda name: F.col(f"_m.{name}")  # noqa: E731
    mentions = files.where(F.col("_mentions").isNotNull()).select(
        *[c for c in bronze.columns if c != "raw"], F.explode("_mentions").alias("_m")
    )
    # Spark cannot parse the weekday name; it is redundant with the date, so drop it.
    created = F.regexp_replace(F.trim(m("created_time")), r"^[A-Za-z]{3} ", "")
    sentiment = m("sentiment").try_cast("double")
    shaped = mentions.select(
        "*",
        F.to_json(F.col("_m")).alias("raw"),
        event_id("social", m("platform"), m("id")).alias("event_id"),
        F.lit("social_mention").alias("event_type"),
        F.try_to_timestamp(created, F.lit("MMM dd HH:mm:ss Z yyyy")).alias("event_time"),
        F.lit("social").alias("source"),
        identifiers(
            social_handle=ids.social_handle(m("platform"), m("handle")),
            email=ids.email(m("profile_email")),
        ).alias("identifiers"),
        properties(
            platform=F.lower(F.trim(m("platform"))),
            handle=F.lower(F.regexp_replace(F.trim(m("handle")), "^@+", "")),
            sentiment=sentiment,
        ).alias("properties"),
        base_amounts().alias("base_amounts"),
    )
    valid, rejects = split(
        shaped,
        [
            (ids.blank_to_null(m("id")).isNull(), "missing id"),
            *time_checks(F.col("event_time"), rules),
            (~any_identifier(F.col("identifiers")), "no identifier"),
            not_a_number(m("sentiment"), sentiment, "sentiment"),
            out_of_range(F.col("properties")),
        ],
        "social",
    )
    rejected = rejects.select(*bronze.columns, REASON).unionByName(bad_files)
    return Normalized(canonical(valid, origin(m("id"))), rejected)
