"""From a profile state to the columns a chatbot reads, in plain Python (the hot lane's
engine, beside finalize.py on Spark). The business rules are finalize.py's, stated there once;
this module follows them field for field.

Fields not computed here ("Delta lane only", docs/streaming.md): ``sessions`` (an HLL sketch in
Spark) and ``state_hash`` (the Delta lane's change detector).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pipelines.profiles.state_local import State, utc
from pipelines.spark_numbers import spark_round

STATIC_ATTRIBUTES = ("first_name", "last_name", "country", "language", "account_tier")
CLOSED_STATUSES = ("solved", "closed", "resolved")
DEFAULT_WINDOWS = (30, 90, 365)




def _ratio(num: float | None, den: int, digits: int) -> float | None:
    if num is None or not den:
        return None
    return spark_round(num / den, digits)


def _cart(events: Sequence[tuple]) -> dict[str, dict[str, Any]]:
    """Replay the cart events oldest first (they are stored newest first)."""
    lines: dict[str, dict[str, Any]] = {}
    for at, _eid, kind, sku, category, quantity, unit_price, skus in reversed(events):
        if kind == "add_to_cart":
            held = lines.pop(sku, None)
            lines[sku] = {
                "sku": sku,
                "category": category,
                "quantity": (held["quantity"] if held else 0)
                + (quantity if quantity is not None else 1),
                "unit_price": unit_price,
                "added_at": at,
            }
        elif kind == "remove_from_cart":
            lines.pop(sku, None)
        elif kind == "order_placed":
            bought = set(skus or ())
            # Spark's array_contains over a null list is null, which drops every line.
            lines = {} if skus is None else {k: v for k, v in lines.items() if k not in bought}
    return lines


def _none_first(value: Any) -> tuple:
    return (0,) if value is None else (1, value)


def _cart_line_key(line: dict[str, Any]) -> tuple:
    """Spark's struct ordering (field by field, nulls first): the order ``array_sort`` gives."""
    return tuple(
        _none_first(line[f]) for f in ("sku", "category", "quantity", "unit_price", "added_at")
    )


def _ticket_key(ticket: tuple) -> tuple:
    return tuple(_none_first(v) for v in ticket)


def finalize(
    state: State, as_of: datetime, windows: Sequence[int] = DEFAULT_WINDOWS
) -> dict[str, Any]:
    """The readable profile columns of ``state`` (finalize.finalize for one row); ``as_of``
    anchors the windowed figures."""
    as_of = utc(as_of)
    as_of_date = as_of.date()
    attrs = state["attributes"]
    out: dict[str, Any] = {}
    for a in STATIC_ATTRIBUTES:
        held = attrs.get(a)
        out[a] = held[2] if held else None
    for a in STATIC_ATTRIBUTES:
        held = attrs.get(a)
        out[f"{a}_set_at"] = held[0] if held else None
    consent = state["consent"]
    personalization = consent[2] if consent else None
    marketing = consent[3] if consent else None
    out["consent_personalization"] = True if personalization is None else personalization
    out["consent_marketing"] = False if marketing is None else marketing
    gross, refunded = state["gross_spend"], state["refunded_amount"]
    out["net_spend"] = spark_round((gross or 0.0) - (refunded or 0.0), 2)
    out["avg_order_value"] = _ratio(gross, state["orders_count"], 2)
    first, last = state["first_order"], state["last_order"]
    out["first_order_at"] = first[0] if first else None
    out["last_order_at"] = last[0] if last else None
    out["last_order_id"] = last[2] if last else None
    days = state["order_days"]
    for d in windows:
        start = as_of_date - timedelta(days=d - 1)
        out[f"orders_{d}d"] = sum(o for day, (o, _s) in days.items() if start <= day <= as_of_date)
    for d in windows:
        start = as_of_date - timedelta(days=d - 1)
        spend = 0.0
        for day, (_o, s) in days.items():
            if start <= day <= as_of_date:
                spend += s
        out[f"spend_{d}d"] = spark_round(spend, 2)
    tickets = list(state["tickets"].values())
    open_ = [t for t in tickets if (t[3] if t[3] is not None else "open") not in CLOSED_STATUSES]
    out["open_tickets"] = len(open_)
    # array_sort: nulls last.
    out["open_ticket_ids"] = sorted((t[2] for t in open_), key=lambda v: (v is None, v or ""))
    out["tickets_total"] = len(tickets)
    newest = max(tickets, key=_ticket_key) if tickets else None
    out["last_ticket"] = (
        dict(
            zip(
                ("at", "event_id", "ticket_id", "status", "channel", "priority", "category"),
                newest,
                strict=True,
            )
        )
        if newest
        else None
    )
    out["avg_csat"] = _ratio(state["csat_sum"], state["csat_count"], 2)
    out["avg_sentiment"] = _ratio(state["sentiment_sum"], state["sentiment_count"], 3)
    recent = sorted(state["categories"].items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
    out["recent_categories"] = [c for c, _at in recent[:5]]
    lines = list(_cart(state["cart_events"]).values())
    out["cart"] = sorted(lines, key=_cart_line_key)
    out["cart_value"] = spark_round(
        sum(line["quantity"] * (line["unit_price"] or 0.0) for line in lines), 2
    )
    changes = [e[0] for e in state["cart_events"] if e[2] != "checkout_started"]
    checkouts = [e[0] for e in state["cart_events"] if e[2] == "checkout_started"]
    last_change = max(changes) if changes else None
    last_checkout = max(checkouts) if checkouts else None
    out["cart_updated_at"] = last_change
    if lines and last_checkout and last_change and last_checkout > last_change:
        out["intent"] = "checkout"
    elif lines:
        out["intent"] = "cart"
    elif state["product_views"] > 0:
        out["intent"] = "browsing"
    else:
        out["intent"] = None
    out["as_of"] = as_of
    return out
