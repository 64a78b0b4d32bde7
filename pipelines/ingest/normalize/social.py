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
    origin,
    out_of_range,
    properties,
    split,
    time_checks,
)
from pipelines.normalize import identifiers as ids
from pipelines.normalize.types import wrong_type

MENTION = (
    "struct<id:string,platform:string,handle:string,created_time:string,text:string,"
    "sentiment:string,profile_email:string>"
)
# The documented type of each field (docs/sources.md): a mention whose value does not fit is
# rejected with ``wrong_type: <field>`` (pipelines.normalize.types).
TYPES = MENTION.replace("sentiment:string", "sentiment:double")
REASON = "_quarantine_reason"


def _mentions(raw: Column) -> Column:
    """The document's mentions, each as its own JSON text (so its types can be judged and
    fields the schema does not name are kept); null when it is not a mentions document."""
    return F.coalesce(
        F.from_json(raw, "struct<data:array<string>>")["data"],
        F.from_json(raw, "array<string>"),
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
        *[c for c in bronze.columns if c != "raw"], F.explode("_mentions").alias("_text")
    ).select("*", F.from_json("_text", MENTION).alias("_m"),
             wrong_type(F.col("_text"), TYPES).alias("_mistyped"))
    # Spark cannot parse the weekday name; it is redundant with the date, so drop it.
    created = F.regexp_replace(F.trim(m("created_time")), r"^[A-Za-z]{3} ", "")
    sentiment = m("sentiment").try_cast("double")
    shaped = mentions.select(
        "*",
        F.col("_text").alias("raw"),
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
    valid, rejects, checked = split(
        shaped,
        [
            (F.col("_mistyped").isNotNull(), F.col("_mistyped")),
            (ids.blank_to_null(m("id")).isNull(), "missing id"),
            *time_checks(F.col("event_time"), rules),
            (~any_identifier(F.col("identifiers")), "no identifier"),
            out_of_range(F.col("properties")),
        ],
        "social",
    )
    rejected = rejects.select(*bronze.columns, REASON).unionByName(bad_files)
    return Normalized(canonical(valid, origin(m("id"))), rejected, checked)
