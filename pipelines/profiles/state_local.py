"""The profile fold in plain Python: the hot lane's engine, beside the Spark one (state.py).

Same monoid, same rules (see state.py's docstring); this module only re-states them for one
profile at a time, without Spark, so the hot lane and the read API can fold events in
microseconds. A property test (tests/unit/test_fold_engines.py) folds random event sets
through both engines and compares the finalized profiles field by field.

A state is a dict keyed by ``STATE_FIELDS``. Values:

- timestamps are timezone-aware UTC datetimes, dates are ``date``;
- "latest" entries (attributes, consent, orders, tickets, cart events) are tuples that start
  with ``(at, event_id)``: the greatest ``(event_time, event_id)`` wins, as in Spark, where
  those two fields always decide (one event never carries two values for one key);
- ``sessions`` (an HLL sketch in Spark) is not kept here: it is a Delta lane only field.

``to_json`` / ``from_json`` give the wire form (what Spark's ``to_json`` of the state columns
gives, see ``pipelines.serving.export.base_state``): the base the Delta lane publishes and the
overlay entries the hot lane stores use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from operator import itemgetter
from typing import Any

from pipelines.profiles.rules import (
    CART_TYPES,
    CONTACT_TYPES,
    DEFAULT_FOLD,
    STATE_FIELDS,
    TICKET_TYPES,
    FoldParams,
)

State = dict[str, Any]

_COUNTS = (
    "event_count",
    "orders_count",
    "refunds_count",
    "csat_count",
    "page_views",
    "product_views",
    "chat_messages",
    "social_mentions",
    "sentiment_count",
)
_SUMS = ("gross_spend", "refunded_amount", "csat_sum", "sentiment_sum")
# Tuple layouts (the Spark struct types in state.py, field for field).
ATTR = ("at", "event_id", "value")
CONSENT = ("at", "event_id", "personalization", "marketing")
ORDER = ("at", "event_id", "order_id", "amount")
TICKET = ("at", "event_id", "ticket_id", "status", "channel", "priority", "category")
CART_EVENT = ("at", "event_id", "kind", "sku", "category", "quantity", "unit_price", "skus")


def empty() -> State:
    """The monoid's identity: merging it changes nothing."""
    state: State = {f: None for f in STATE_FIELDS}
    state.update({c: 0 for c in _COUNTS})
    state["gross_spend"] = 0.0  # nothing ordered, nothing spent (state.py's unit states)
    state.update(
        sources=[], attributes={}, order_days={}, tickets={}, categories={}, cart_events=[]
    )
    return state


def utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC (what PySpark returns with TZ=UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_TICKET_SET, _CART_SET, _CONTACT_SET = frozenset(TICKET_TYPES), frozenset(CART_TYPES), frozenset(
    CONTACT_TYPES)


def unit_state(event: Mapping[str, Any]) -> State:
    """One event's contribution (``state.unit_states`` for one row).

    ``event`` is a canonical event (EVENT_LOG columns as a dict: what
    ``pipelines.events.validate.classify`` returns or a Spark row's ``asDict(recursive=True)``).
    """
    # Built in one go, keys in STATE_FIELDS order (what empty() + updates give).
    kind = event["event_type"]
    at = utc(event["event_time"])
    eid = event["event_id"]
    p = event.get("properties") or {}
    base = event.get("base_amounts") or {}
    amount = base.get("amount")
    placed, refunded = kind == "order_placed", kind == "order_refunded"
    order = (at, eid, p.get("order_id"), amount) if placed else None
    if placed:
        order_days = {at.date(): (1, amount or 0.0)}
    elif refunded:
        order_days = {at.date(): (0, -amount if amount is not None else 0.0)}
    else:
        order_days = {}
    tickets = {}
    if kind in _TICKET_SET:
        status = p.get("status")
        tickets = {
            p.get("ticket_id"): (
                at,
                eid,
                p.get("ticket_id"),
                status.lower() if status is not None else None,
                p.get("channel"),
                p.get("priority"),
                p.get("category"),
            )
        }
    csat = kind == "csat_submitted" and p.get("score") is not None
    # Only what the customer said counts towards sentiment, not the bot's or an agent's lines.
    role = p.get("role") if p.get("role") is not None else "customer"
    sentiment = (
        kind in ("chat_message", "social_mention")
        and p.get("sentiment") is not None
        and role == "customer"
    )
    items = p.get("items") or []
    if placed:
        categories = {c: at for c in [i.get("category") for i in items] if c is not None}
    else:
        category = p.get("category")
        categories = {category: at} if category is not None else {}
    cart_events = []
    if kind in _CART_SET:
        skus = tuple(i.get("sku") for i in items) if placed else None
        cart_events = [(at, eid, kind, p.get("sku"), p.get("category"), p.get("quantity"),
                        base.get("unit_price"), skus)]
    return {
        "event_count": 1,
        "first_seen": at,
        "last_seen": at,
        "sources": [event["source"]],
        "attributes": (
            {k: (at, eid, v) for k, v in p["attributes"].items()}
            if kind == "profile_updated" and p.get("attributes") is not None else {}
        ),
        "consent": (
            (at, eid, p.get("personalization"), p.get("marketing"))
            if kind == "consent_updated" else None
        ),
        "orders_count": 1 if placed else 0,
        "refunds_count": 1 if refunded else 0,
        "gross_spend": amount if placed and amount is not None else 0.0,  # as state.py
        "refunded_amount": amount if refunded else None,
        "first_order": order,
        "last_order": order,
        "order_days": order_days,
        "tickets": tickets,
        "csat_sum": float(p["score"]) if csat else None,
        "csat_count": 1 if csat else 0,
        "page_views": int(kind == "page_view"),
        "product_views": int(kind == "product_view"),
        "chat_messages": int(kind == "chat_message"),
        "social_mentions": int(kind == "social_mention"),
        "last_contact_at": at if kind in _CONTACT_SET else None,
        "sentiment_sum": p["sentiment"] if sentiment else None,
        "sentiment_count": 1 if sentiment else 0,
        "categories": categories,
        "cart_events": cart_events,
    }


def _latest(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b[:2] > a[:2] else a


def _earliest(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b[:2] < a[:2] else a


def _add(a: float | None, b: float | None) -> float | None:
    """Spark's ``sum``: nulls are skipped, all-null is null."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _max(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def merge(a: State, b: State, params: FoldParams = DEFAULT_FOLD) -> State:
    """Two states of one profile → one (``state.merge_states`` for two rows)."""
    out: State = {c: a[c] + b[c] for c in _COUNTS}
    for c in _SUMS:
        out[c] = _add(a[c], b[c])
    out["first_seen"] = (
        a["first_seen"]
        if b["first_seen"] is None
        else (b["first_seen"] if a["first_seen"] is None else min(a["first_seen"], b["first_seen"]))
    )
    out["last_seen"] = _max(a["last_seen"], b["last_seen"])
    out["last_contact_at"] = _max(a["last_contact_at"], b["last_contact_at"])
    out["sources"] = sorted(set(a["sources"]) | set(b["sources"]))
    out["consent"] = _latest(a["consent"], b["consent"])
    out["first_order"] = _earliest(a["first_order"], b["first_order"])
    out["last_order"] = _latest(a["last_order"], b["last_order"])
    for c in ("attributes", "tickets"):
        merged = dict(a[c])
        for k, v in b[c].items():
            merged[k] = _latest(merged.get(k), v)
        out[c] = merged
    days = dict(a["order_days"])
    for d, (orders, spend) in b["order_days"].items():
        o0, s0 = days.get(d, (0, 0.0))
        days[d] = (o0 + orders, s0 + spend)
    categories = dict(a["categories"])
    for k, at in b["categories"].items():
        categories[k] = _max(categories.get(k), at)
    by_event = {e[1]: e for e in a["cart_events"]}
    by_event.update({e[1]: e for e in b["cart_events"]})
    out["cart_events"] = sorted(by_event.values(), key=lambda e: (e[0], e[1]), reverse=True)[
        : params.cart_events_kept
    ]
    out["order_days"], out["categories"] = _bound(days, categories, params)
    return out


def _bound(days: dict, categories: dict, params: FoldParams) -> tuple[dict, dict]:
    """``state._bound``: newest categories, order days within the window of the newest day."""
    if len(categories) > params.categories_kept:
        newest = sorted(categories.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        categories = dict(newest[: params.categories_kept])
    if days:
        start = max(days) - timedelta(days=params.order_days_kept)
        days = {d: v for d, v in days.items() if d >= start}
    return days, categories


def fold(
    events: Iterable[Mapping[str, Any]],
    params: FoldParams = DEFAULT_FOLD,
    start: State | None = None,
) -> State:
    """Merge the unit states of ``events`` (deduplicated by the caller) into ``start``."""
    state = start if start is not None else empty()
    for event in events:
        state = merge(state, unit_state(event), params)
    return state


# -- wire form ---------------------------------------------------------------------------------


def _ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    if text[-1:] == "Z":  # the wire form: an aware time, no local zone involved
        return _ts_utc(text)
    return datetime.fromisoformat(text).astimezone(UTC)


@lru_cache(maxsize=1 << 12)
def _ts_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


_ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_ISO_PRINTF = "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"
_last_iso: tuple[datetime | None, str | None] = (None, None)  # (value, text), one entry


def _iso(value: datetime | None) -> str | None:
    global _last_iso
    if value is None:
        return None
    last = _last_iso  # a unit state holds one timestamp many times
    if value is last[0]:
        return last[1]
    v = value.astimezone(UTC)
    if type(v) is datetime and v.year >= 1000:
        # Same text as strftime(_ISO_FORMAT), which does not zero-pad years before 1000.
        text = _ISO_PRINTF % (v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond)
    else:
        text = v.strftime(_ISO_FORMAT)
    if type(value) is datetime and value.tzinfo is not None:  # immutable, zone-independent
        _last_iso = (value, text)
    return text


def _tuple(obj: Mapping[str, Any] | None, layout: tuple[str, ...]) -> tuple | None:
    if obj is None:
        return None
    values = [obj.get(f) for f in layout]
    values[0] = _ts(values[0])
    return tuple(values)


def _obj(value: tuple | None, layout: tuple[str, ...]) -> dict[str, Any] | None:
    if value is None:
        return None
    out = dict(zip(layout, value, strict=True))
    out["at"] = _iso(value[0])
    return out


def from_json(obj: Mapping[str, Any]) -> State:
    """A state from its wire form (absent keys are nulls, as Spark's ``to_json`` omits them)."""
    s = empty()
    for c in _COUNTS:
        s[c] = int(obj.get(c) or 0)
    for c in _SUMS:
        s[c] = obj.get(c)
    for c in ("first_seen", "last_seen", "last_contact_at"):
        s[c] = _ts(obj.get(c))
    s["sources"] = list(obj.get("sources") or [])
    s["attributes"] = {k: _tuple(v, ATTR) for k, v in (obj.get("attributes") or {}).items()}
    s["consent"] = _tuple(obj.get("consent"), CONSENT)
    s["first_order"] = _tuple(obj.get("first_order"), ORDER)
    s["last_order"] = _tuple(obj.get("last_order"), ORDER)
    s["order_days"] = {
        date.fromisoformat(d): (int(v.get("orders") or 0), float(v.get("spend") or 0.0))
        for d, v in (obj.get("order_days") or {}).items()
    }
    s["tickets"] = {k: _tuple(v, TICKET) for k, v in (obj.get("tickets") or {}).items()}
    s["categories"] = {k: _ts(v) for k, v in (obj.get("categories") or {}).items()}
    cart = []
    for e in obj.get("cart_events") or []:
        t = list(_tuple(e, CART_EVENT))
        t[-1] = tuple(t[-1]) if t[-1] is not None else None
        cart.append(tuple(t))
    s["cart_events"] = cart
    return s


_PLAIN = (*_COUNTS, *_SUMS)
_plain_values = itemgetter(*_PLAIN)


def to_json(state: State) -> dict[str, Any]:
    """The wire form of a state (``from_json`` reads it back unchanged)."""
    # (Empty collections skip their comprehension: a unit state has mostly empty ones.)
    iso = _iso
    out: dict[str, Any] = dict(zip(_PLAIN, _plain_values(state), strict=True))
    out["first_seen"] = iso(state["first_seen"])
    out["last_seen"] = iso(state["last_seen"])
    out["last_contact_at"] = iso(state["last_contact_at"])
    out["sources"] = state["sources"]
    attributes = state["attributes"]
    out["attributes"] = {k: _obj(v, ATTR) for k, v in attributes.items()} if attributes else {}
    consent, first, last = state["consent"], state["first_order"], state["last_order"]
    out["consent"] = None if consent is None else _obj(consent, CONSENT)
    out["first_order"] = None if first is None else _obj(first, ORDER)
    out["last_order"] = None if last is None else _obj(last, ORDER)
    days = state["order_days"]
    out["order_days"] = {
        d.isoformat(): {"orders": o, "spend": s} for d, (o, s) in days.items()
    } if days else {}
    tickets = state["tickets"]
    out["tickets"] = {k: _obj(v, TICKET) for k, v in tickets.items()} if tickets else {}
    categories = state["categories"]
    out["categories"] = {k: iso(v) for k, v in categories.items()} if categories else {}
    cart = []
    for e in state["cart_events"]:
        entry = dict(zip(CART_EVENT, e, strict=True))
        entry["at"] = iso(e[0])
        entry["skus"] = list(e[-1]) if e[-1] is not None else None
        cart.append(entry)
    out["cart_events"] = cart
    return out
