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

SCHEMA_VERSION = 1

SOURCES = ("web", "crm", "orders", "support", "chat", "social")

IDENTIFIER_TYPES = (
    "customer_id",
    "email",
    "phone",
    "device_id",
    "anonymous_id",
    "social_handle",
)

# event_type -> properties it must carry (optional ones are in the schema but not listed).
REQUIRED_PROPERTIES: dict[str, tuple[str, ...]] = {
    "page_view": ("url", "session_id"),
    "product_view": ("url", "session_id"),
    "add_to_cart": ("sku", "category", "quantity", "unit_price", "currency"),
    "remove_from_cart": ("sku", "category", "quantity", "unit_price", "currency"),
    "checkout_started": ("cart_value", "currency"),
    "order_placed": ("order_id", "amount", "currency", "items"),
    "order_refunded": ("order_id", "amount", "currency"),
    "ticket_opened": ("ticket_id", "channel", "priority", "category", "status"),
    "ticket_updated": ("ticket_id", "channel", "priority", "category", "status"),
    "ticket_closed": ("ticket_id", "channel", "priority", "category", "status"),
    "csat_submitted": ("score",),
    "chat_message": ("conversation_id", "role"),
    "profile_updated": ("attributes",),
    "consent_updated": ("personalization", "marketing"),
    "social_mention": ("platform", "handle"),
}
EVENT_TYPES = tuple(REQUIRED_PROPERTIES)

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
