"""Hypothesis strategies for canonical events of every type (tests of the two fold engines).

Times come from a small grid so ties on event_time are common; ids, skus, tickets and
categories from small pools so keys collide; amounts are whole cents, as the parser leaves
them after conversion to the base currency."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from tests.events_factory import event

T0 = datetime(2026, 9, 1, 10, 0, 0)
EVENT_TYPES = (
    "page_view",
    "product_view",
    "add_to_cart",
    "remove_from_cart",
    "checkout_started",
    "order_placed",
    "order_refunded",
    "ticket_opened",
    "ticket_updated",
    "ticket_closed",
    "csat_submitted",
    "chat_message",
    "profile_updated",
    "consent_updated",
    "social_mention",
)
SKUS = ("S1", "S2", "S3", "S4")
CATEGORIES = ("electronics", "home", "fashion", "books")
TICKETS = ("T1", "T2", "T3")

cents = st.integers(0, 50_000).map(lambda c: c / 100)
# Minutes over ~400 days (spend windows, order-day bounds) with many exact ties; a few micros.
times = st.builds(
    lambda d, m, us: T0 - timedelta(days=d, minutes=m, microseconds=us),
    st.sampled_from([0, 0, 0, 1, 2, 29, 30, 31, 89, 90, 364, 365, 420]),
    st.integers(0, 3),
    st.sampled_from([0, 0, 0, 7]),
)


def _props(kind: str, draw) -> dict[str, Any]:
    sku, cat = draw(st.sampled_from(SKUS)), draw(st.sampled_from(CATEGORIES))
    if kind in ("page_view", "product_view"):
        return {
            "url": "u",
            "session_id": draw(st.sampled_from(["s1", "s2"])),
            "sku": draw(st.none() | st.just(sku)),
            "category": draw(st.none() | st.just(cat)),
        }
    if kind in ("add_to_cart", "remove_from_cart"):
        return {
            "sku": sku,
            "category": cat,
            "quantity": draw(st.integers(1, 3)),
            "unit_price": draw(cents),
            "currency": "EUR",
        }
    if kind == "checkout_started":
        return {"cart_value": draw(cents), "currency": "EUR"}
    if kind == "order_placed":
        items = draw(
            st.lists(
                st.builds(
                    lambda s, c, q, p: {"sku": s, "category": c, "quantity": q, "unit_price": p},
                    st.sampled_from(SKUS),
                    st.sampled_from(CATEGORIES),
                    st.integers(1, 3),
                    cents,
                ),
                min_size=1,
                max_size=3,
            )
        )
        return {
            "order_id": draw(st.sampled_from(["O1", "O2", "O3"])),
            "amount": draw(cents),
            "currency": "EUR",
            "items": items,
        }
    if kind == "order_refunded":
        return {"order_id": "O1", "amount": draw(cents), "currency": "EUR"}
    if kind.startswith("ticket_"):
        return {
            "ticket_id": draw(st.sampled_from(TICKETS)),
            "channel": "email",
            "priority": draw(st.sampled_from(["low", "high"])),
            "category": "billing",
            "status": draw(st.sampled_from(["open", "Pending", "SOLVED", "closed"])),
        }
    if kind == "csat_submitted":
        return {"score": draw(st.integers(1, 5))}
    if kind == "chat_message":
        return {
            "conversation_id": "c",
            "role": draw(st.sampled_from(["customer", "bot", None])),
            "sentiment": draw(st.none() | st.sampled_from([-0.5, 0.25, 1.0])),
        }
    if kind == "profile_updated":
        keys = draw(
            st.lists(
                st.sampled_from(["first_name", "country", "language", "account_tier"]),
                min_size=1,
                unique=True,
            )
        )
        return {"attributes": {k: draw(st.sampled_from(["a", "b", "DE", None])) for k in keys}}
    if kind == "consent_updated":
        return {"personalization": draw(st.booleans()), "marketing": draw(st.booleans())}
    return {"platform": "x", "handle": "h", "sentiment": draw(st.none() | st.just(-0.75))}


@st.composite
def events_of(draw, profile: str = "p1", max_size: int = 25) -> list[dict[str, Any]]:
    """Events of one profile, with re-deliveries (same event_id, same content) mixed in."""
    n = draw(st.integers(1, max_size))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(EVENT_TYPES))
        at = draw(times).isoformat()
        eid = f"{profile}-e{draw(st.integers(0, 3))}{i:03d}"
        out.append(event(eid, kind, at, profile=profile, **_props(kind, draw)))
    dups = draw(st.lists(st.sampled_from(out), max_size=3))
    order = draw(st.permutations(out + dups))
    return list(order)
