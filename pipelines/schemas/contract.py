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

# A normalized e-mail (after trimming and Unicode lower-casing): local@domain.tld where local
# and domain use ASCII a-z, 0-9 and ``._%+'-`` (domain: ``.-``) or any non-ASCII character
# (RFC 6531's UTF8-non-ascii) except C1 controls, surrogates and Unicode spaces and line or
# paragraph separators (category Z: junk around a pasted address, never part of it); the
# top-level domain is 2+ characters, each a-z or such a non-ASCII character. One pattern for
# Spark (Java regex) and Python: the ranges are literal characters, read alike by both.
_NOT_IN_EMAILS = (0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
                  *range(0xD800, 0xE000))


def _ranges_without(low: int, high: int, excluded: tuple[int, ...]) -> str:
    """Character-class ranges covering low..high except ``excluded`` (sorted code points)."""
    out, start = [], low
    for cp in (*excluded, high + 1):
        if cp > start:
            out.append(f"{chr(start)}-{chr(cp - 1)}" if cp - 1 > start else chr(start))
        start = max(start, cp + 1)
    return "".join(out)


_NON_ASCII = _ranges_without(0xA1, 0x10FFFF, _NOT_IN_EMAILS)
EMAIL_PATTERN = (
    f"^[a-z0-9._%+'{_NON_ASCII}-]+@[a-z0-9.{_NON_ASCII}-]+\\.[a-z{_NON_ASCII}]{{2,}}$"
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
