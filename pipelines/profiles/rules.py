"""What both engines of the profile fold share (state.py on Spark, state_local.py in Python):
which event types feed which state fields, and the bounds that keep a state small."""

from __future__ import annotations

from dataclasses import dataclass

TICKET_TYPES = ("ticket_opened", "ticket_updated", "ticket_closed")
# The cart replays these (an order removes what it bought; a checkout marks intent).
CART_TYPES = ("add_to_cart", "remove_from_cart", "checkout_started", "order_placed")
# A contact with support or the chat: sets last_contact_at.
CONTACT_TYPES = (*TICKET_TYPES, "chat_message", "csat_submitted")

# The state's columns, in order, both engines keep (Spark adds profile_id first and the HLL
# sessions_sketch last, which has no Python twin).
STATE_FIELDS = (
    "event_count",
    "first_seen",
    "last_seen",
    "sources",
    "attributes",
    "consent",
    "orders_count",
    "refunds_count",
    "gross_spend",
    "refunded_amount",
    "first_order",
    "last_order",
    "order_days",
    "tickets",
    "csat_sum",
    "csat_count",
    "page_views",
    "product_views",
    "chat_messages",
    "social_mentions",
    "last_contact_at",
    "sentiment_sum",
    "sentiment_count",
    "categories",
    "cart_events",
)


@dataclass(frozen=True)
class FoldParams:
    """Bounds that keep a state small; from conf ``profiles``."""

    cart_events_kept: int = 50  # the cart replays the latest K cart events
    categories_kept: int = 20  # categories remembered, by last time seen
    order_days_kept: int = 400  # daily order buckets kept for windowed spend

    @classmethod
    def from_conf(cls, conf) -> FoldParams:
        """From conf ``profiles`` (defaults when the section is absent)."""
        section = conf.get("profiles", default=None)
        if section is None:
            return cls()
        return cls(
            cart_events_kept=int(section.get("cart_events_kept")),
            categories_kept=int(section.get("categories_kept")),
            order_days_kept=int(section.get("order_days_kept")),
        )


DEFAULT_FOLD = FoldParams()
