"""Schemas of the identity tables (silver ``identity_links`` and ``identity_merges``).

``identity_links`` — one row per (id_type, id_value):

| column | type | meaning |
|---|---|---|
| id_type | string | one of ``IDENTIFIER_TYPES`` |
| id_value | string | normalized value |
| profile_id | string | the person's profile; null when the identifier is shared |
| profile_created_at | timestamp | when that profile was first created (the same on all its rows) |
| first_seen / last_seen | timestamp | event-time range of the records carrying the identifier |
| updated_at | timestamp | when this row last changed (a replay changes nothing) |
| shared | boolean | seen with more than N distinct customer ids: links nobody, ever |
| customer_ids | array<string> | distinct customer ids seen in its records, sorted, at most |
| | | N+1 kept (null on customer_id rows) |
| anonymous_ids | array<string> | on device rows: distinct anonymous ids seen in its records, |
| | | sorted, at most K+1 kept (null elsewhere): more than K make the device weak |
| origin_profile_id | string | the profile it was first linked to; a merge never rewrites it, |
| | | so a merge can be undone |

``identity_merges`` — one row per profile merged away:
survivor_profile_id, merged_profile_id, id_type + id_value (the linking identifier),
record_id (the linking event), merged_at, and merged_profile_created_at (what an undo restores).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

LINKS = StructType(
    [
        StructField("id_type", StringType()),
        StructField("id_value", StringType()),
        StructField("profile_id", StringType()),
        StructField("profile_created_at", TimestampType()),
        StructField("first_seen", TimestampType()),
        StructField("last_seen", TimestampType()),
        StructField("updated_at", TimestampType()),
        StructField("shared", BooleanType()),
        StructField("customer_ids", ArrayType(StringType())),
        StructField("anonymous_ids", ArrayType(StringType())),
        StructField("origin_profile_id", StringType()),
    ]
)

MERGES = StructType(
    [
        StructField("survivor_profile_id", StringType()),
        StructField("merged_profile_id", StringType()),
        StructField("id_type", StringType()),
        StructField("id_value", StringType()),
        StructField("record_id", StringType()),
        StructField("merged_at", TimestampType()),
        StructField("merged_profile_created_at", TimestampType()),
    ]
)

# ``identity_probable_links`` — one row per anonymous id attached to a customer's profile
# through a device (pipelines/identity/probable.py, docs/identity.md "Probable links").
PROBABLE_LINKS = StructType(
    [
        StructField("anonymous_id", StringType()),
        StructField("profile_id", StringType()),
        StructField("confidence", DoubleType()),
        StructField("evidence", StringType()),
        StructField("device_id", StringType()),
        StructField("customer_id", StringType()),
        StructField("anonymous_profile_id", StringType()),
        StructField("handoffs", LongType()),
        StructField("device_anonymous_ids", LongType()),
        StructField("first_seen", TimestampType()),
        StructField("last_seen", TimestampType()),
        StructField("updated_at", TimestampType()),
    ]
)

# ``probable_activity`` — one row per customer profile with served probable links: what the
# attached anonymous ids browsed (pipelines/identity/probable_activity.py).
LAST_VIEWED = StructType(
    [
        StructField("sku", StringType()),
        StructField("category", StringType()),
        StructField("at", TimestampType()),
    ]
)
PROBABLE_ACTIVITY = StructType(
    [
        StructField("profile_id", StringType()),
        StructField("probable_confidence", DoubleType()),
        StructField("probable_recent_categories", ArrayType(StringType())),
        StructField("probable_last_viewed", LAST_VIEWED),
        StructField("anonymous_ids", LongType()),
        StructField("anonymous_profile_ids", ArrayType(StringType())),
        StructField("updated_at", TimestampType()),
    ]
)

LINK_KEY = ("id_type", "id_value")

# Link columns added after the table's first release: a links table written before has none,
# and reads as null (nothing remembered) until ``write_identity`` adds the column.
LINKS_ADDED_LATER = ("anonymous_ids",)


def conform(df: DataFrame, schema: StructType) -> DataFrame:
    """``df`` with exactly ``schema``'s columns, in order and cast to its types."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def links_as_of_now(df: DataFrame) -> DataFrame:
    """An ``identity_links`` read conformed to ``LINKS``; columns added since the table was
    written (``LINKS_ADDED_LATER``) come back null."""
    present = set(df.columns)
    missing = [f for f in LINKS.fields if f.name in LINKS_ADDED_LATER and f.name not in present]
    for field in missing:
        df = df.withColumn(field.name, F.lit(None).cast(field.dataType))
    return conform(df, LINKS)


def empty_links(spark: SparkSession) -> DataFrame:
    """An empty links table: the ``existing_links`` of the very first run."""
    return spark.createDataFrame([], LINKS)
