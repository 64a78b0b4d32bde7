"""The Kafka event envelope, schema_version 1 (ARCHITECTURE §3.1).

One JSON object per message. ``properties`` is parsed with the union of every event type's
fields, so one fixed schema reads every type; ``REQUIRED_PROPERTIES`` says which of them each
type must carry.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from pipelines.schemas.contract import (  # noqa: F401 — re-exported for callers
    EVENT_TYPES,
    IDENTIFIER_TYPES,
    REQUIRED_PROPERTIES,
    SCHEMA_VERSION,
    SOURCES,
)

ORDER_ITEM = StructType(
    [
        StructField("sku", StringType()),
        StructField("category", StringType()),
        StructField("quantity", IntegerType()),
        StructField("unit_price", DoubleType()),
    ]
)

IDENTIFIERS = StructType([StructField(name, StringType()) for name in IDENTIFIER_TYPES])

PROPERTIES = StructType(
    [
        StructField("url", StringType()),
        StructField("session_id", StringType()),
        StructField("sku", StringType()),
        StructField("category", StringType()),
        StructField("quantity", IntegerType()),
        StructField("unit_price", DoubleType()),
        StructField("currency", StringType()),
        StructField("cart_value", DoubleType()),
        StructField("order_id", StringType()),
        StructField("amount", DoubleType()),
        StructField("items", ArrayType(ORDER_ITEM)),
        StructField("ticket_id", StringType()),
        StructField("channel", StringType()),
        StructField("priority", StringType()),
        StructField("status", StringType()),
        StructField("score", IntegerType()),
        StructField("conversation_id", StringType()),
        StructField("role", StringType()),
        StructField("sentiment", DoubleType()),
        StructField("attributes", MapType(StringType(), StringType())),
        StructField("personalization", BooleanType()),
        StructField("marketing", BooleanType()),
        StructField("platform", StringType()),
        StructField("handle", StringType()),
    ]
)

ENVELOPE = StructType(
    [
        StructField("event_id", StringType()),
        StructField("event_type", StringType()),
        StructField("event_time", StringType()),
        StructField("source", StringType()),
        StructField("identifiers", IDENTIFIERS),
        StructField("properties", PROPERTIES),
        StructField("schema_version", LongType()),
    ]
)
