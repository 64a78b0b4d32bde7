"""The event envelope's rules as plain constants (ARCHITECTURE §3.1, schema_version 1): what
both lanes check, without importing Spark (the Spark schema is in events.py)."""

from __future__ import annotations

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
