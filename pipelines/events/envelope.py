"""Build, serialize and deliberately spoil event envelopes (ARCHITECTURE §3.1, schema_version 1).

Everything here is a pure function of its arguments (a customer, a ``random.Random``, a clock
reading): no Kafka, no I/O, so the producer, the tests and the docs build the same messages.

Business rules:
- an on-time event happens at most ``ON_TIME_LAG_S`` before it is sent;
- a *late* event happens between ``LATE_MIN_S`` and ``max_lateness_s`` before it is sent;
- a *duplicate* is the same message (same bytes, same event_id, same key) sent again;
- a *malformed* message breaks the contract in exactly one named way (``MALFORMED_FLAWS``).
  The flaw is recorded on the ``Message`` next to the bytes, never inside them: the payload
  looks like real bad input and a consumer has to find out on its own.
"""

from __future__ import annotations

import json
import math
import random
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

from pipelines.schemas.events import (
    EVENT_TYPES,
    IDENTIFIER_TYPES,
    REQUIRED_PROPERTIES,
    SCHEMA_VERSION,
)

Envelope = dict[str, Any]

ON_TIME_LAG_S = 1.0
LATE_MIN_S = 60.0
# "Far in the future" is unambiguous at two days: no clock skew or time zone slip explains it.
FUTURE_MIN_S = 2 * 86400.0
FUTURE_MAX_S = 365 * 86400.0

KINDS = ("valid", "late", "duplicate", "malformed")
MALFORMED_FLAWS = (
    "invalid_json", "missing_field", "unknown_event_type", "wrong_type", "future_time",
)
ENVELOPE_FIELDS = ("event_id", "event_type", "event_time", "source", "identifiers")
# Plausible names a misconfigured tracker or a newer client would send.
UNKNOWN_EVENT_TYPES = (
    "cart_abandoned", "wishlist_added", "page_veiw", "login", "newsletter_opened",
)

# Which system emits each event type: decides the source field and which identifiers it knows.
EVENT_SOURCE: dict[str, str] = {
    "page_view": "web",
    "product_view": "web",
    "add_to_cart": "web",
    "remove_from_cart": "web",
    "checkout_started": "web",
    "order_placed": "orders",
    "order_refunded": "orders",
    "ticket_opened": "support",
    "ticket_updated": "support",
    "ticket_closed": "support",
    "csat_submitted": "support",
    "chat_message": "chat",
    "profile_updated": "crm",
    "consent_updated": "crm",
    "social_mention": "social",
}

# country -> (language, currency, phone country code)
COUNTRIES: dict[str, tuple[str, str, str]] = {
    "DE": ("de", "EUR", "49"),
    "FR": ("fr", "EUR", "33"),
    "ES": ("es", "EUR", "34"),
    "IT": ("it", "EUR", "39"),
    "NL": ("nl", "EUR", "31"),
    "GB": ("en", "GBP", "44"),
    "US": ("en", "USD", "1"),
    "CH": ("de", "CHF", "41"),
    "SE": ("sv", "SEK", "46"),
    "PL": ("pl", "PLN", "48"),
}
# Catalog prices are in EUR; each shop front shows its own currency.
FX_FROM_EUR = {"EUR": 1.0, "GBP": 0.85, "USD": 1.1, "CHF": 0.95, "SEK": 11.5, "PLN": 4.3}
ACCOUNT_TIERS = ("bronze", "silver", "gold", "platinum")
CATEGORIES = ("electronics", "home", "fashion", "beauty", "sports", "books", "toys", "grocery")
TICKET_CHANNELS = ("email", "phone", "chat", "web_form")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_CATEGORIES = ("billing", "delivery", "returns", "technical", "account")
SOCIAL_PLATFORMS = ("x", "instagram", "facebook", "tiktok", "trustpilot")
SHOP = "https://shop.example.com"


def _catalog() -> tuple[tuple[str, str, float], ...]:
    # A fixed seed: the same SKU always has the same category and price, in every run.
    rng = random.Random(20260801)
    products = []
    for n in range(240):
        category = CATEGORIES[n % len(CATEGORIES)]
        price = round(math.exp(rng.uniform(math.log(3), math.log(900))), 0) - 0.01
        products.append((f"SKU-{category[:3].upper()}-{1000 + n}", category, price))
    return tuple(products)


PRODUCTS = _catalog()


@dataclass(frozen=True, slots=True)
class Customer:
    """What the producer knows about one person: identifiers and a few static attributes."""

    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None  # E.164
    device_id: str | None = None
    anonymous_id: str | None = None
    social_handle: str | None = None  # "platform:@handle"
    first_name: str | None = None
    last_name: str | None = None
    country: str = "DE"
    language: str | None = None
    account_tier: str = "bronze"

    @property
    def key(self) -> str:
        """The Kafka message key: the first identifier the person has, in IDENTIFIER_TYPES order.

        Constant per person, so all of a person's messages land in one partition.
        """
        for name in IDENTIFIER_TYPES:
            value = getattr(self, name)
            if value:
                return value
        raise ValueError("a customer needs at least one identifier")

    @property
    def currency(self) -> str:
        return COUNTRIES.get(self.country, COUNTRIES["DE"])[1]


@dataclass(frozen=True, slots=True)
class Message:
    """One Kafka message plus what the producer meant by it (kept out of the payload)."""

    key: bytes
    value: bytes
    kind: str  # one of KINDS
    event_id: str | None
    envelope: Envelope | None = None  # the dict that was serialized; None for invalid JSON
    flaw: str | None = None  # malformed only: "<flaw>[:<detail>]", flaw in MALFORMED_FLAWS


def new_event_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def format_time(epoch_s: float) -> str:
    """ISO-8601 UTC with millisecond precision and a Z, e.g. ``2026-08-01T09:30:00.250Z``."""
    whole = math.floor(epoch_s)
    ms = min(int(round((epoch_s - whole) * 1000)), 999)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}Z"


def serialize(envelope: Envelope) -> bytes:
    """Compact UTF-8 JSON: names stay readable (José, Müller), no ASCII escapes."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------- identifiers


def _messy_email(email: str, rng: random.Random) -> str:
    # Systems type emails as people do: capitalised, shouted, padded. Normalization undoes it.
    roll = rng.random()
    if roll < 0.08:
        local, _, domain = email.partition("@")
        return f"{local.title()}@{domain.capitalize()}"
    if roll < 0.11:
        return email.upper()
    if roll < 0.14:
        return f" {email} "
    return email


def _messy_phone(phone: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.15:
        return f"{phone[:3]} {phone[3:6]} {phone[6:]}"
    if roll < 0.25:
        return f"00{phone[1:]}"
    return phone


def identifiers_for(source: str, customer: Customer, rng: random.Random) -> dict[str, str]:
    """The identifiers the emitting system would know (web: anonymous; orders: account…).

    Always at least one identifier: when the person lacks the usual ones, any one they have.
    """
    c = customer
    ids: dict[str, str | None] = {}
    if source == "web":
        ids["anonymous_id"] = c.anonymous_id
        if rng.random() < 0.8:
            ids["device_id"] = c.device_id
        if rng.random() < 0.5:  # logged in
            ids["customer_id"] = c.customer_id
    elif source == "orders":
        ids["customer_id"] = c.customer_id
        ids["email"] = c.email and _messy_email(c.email, rng)
    elif source == "support":
        ids["email"] = c.email and _messy_email(c.email, rng)
        if rng.random() < 0.3:
            ids["phone"] = c.phone and _messy_phone(c.phone, rng)
        if rng.random() < 0.4:
            ids["customer_id"] = c.customer_id
    elif source == "chat":
        ids["anonymous_id"] = c.anonymous_id
        roll = rng.random()
        if roll < 0.5:
            ids["customer_id"] = c.customer_id
        elif roll < 0.8:
            ids["email"] = c.email and _messy_email(c.email, rng)
    elif source == "crm":
        ids["customer_id"] = c.customer_id
        ids["email"] = c.email
        ids["phone"] = c.phone and _messy_phone(c.phone, rng)
    elif source == "social":
        ids["social_handle"] = c.social_handle
    kept = {k: v for k, v in ids.items() if v}
    if not kept:
        kept = {next(n for n in IDENTIFIER_TYPES if getattr(c, n)): c.key}
    return kept


# ---------------------------------------------------------------- properties per event type


def _product(rng: random.Random) -> tuple[str, str, float]:
    return PRODUCTS[rng.randrange(len(PRODUCTS))]


def _price(eur: float, currency: str) -> float:
    return round(eur * FX_FROM_EUR.get(currency, 1.0), 2)


def _tag(c: Customer) -> str:
    # Short stable per-person token for ids that several events of that person share.
    return f"{zlib.crc32(c.key.encode()):08x}"


def _session_id(c: Customer, rng: random.Random) -> str:
    # A handful of sessions per person, so page views of one visit share an id.
    return f"S-{_tag(c)}-{rng.randrange(8)}"


def _sentiment(rng: random.Random) -> float:
    return round(max(-1.0, min(1.0, rng.gauss(0.15, 0.45))), 2)


def _view(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    if event_type == "product_view" or rng.random() < 0.35:
        sku, category, _ = _product(rng)
        return {"url": f"{SHOP}/p/{sku.lower()}", "session_id": _session_id(c, rng),
                "sku": sku, "category": category}
    path = rng.choice(("/", "/account", "/help/returns", "/help/shipping", "/cart",
                       f"/c/{rng.choice(CATEGORIES)}", f"/search?q={rng.choice(CATEGORIES)}"))
    return {"url": SHOP + path, "session_id": _session_id(c, rng)}


def _cart(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    sku, category, eur = _product(rng)
    return {"sku": sku, "category": category, "quantity": rng.choice((1, 1, 1, 2, 3)),
            "unit_price": _price(eur, c.currency), "currency": c.currency}


def _checkout(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    value = sum(_product(rng)[2] for _ in range(rng.randint(1, 4)))
    return {"cart_value": _price(value, c.currency), "currency": c.currency}


def order_items(c: Customer, rng: random.Random) -> list[dict[str, Any]]:
    items = []
    for _ in range(rng.choice((1, 1, 2, 2, 3, 4))):
        sku, category, eur = _product(rng)
        items.append({"sku": sku, "category": category, "quantity": rng.choice((1, 1, 2)),
                      "unit_price": _price(eur, c.currency)})
    return items


def _order(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    items = order_items(c, rng)
    amount = round(sum(i["quantity"] * i["unit_price"] for i in items), 2)
    return {"order_id": f"ORD-{rng.randrange(10**9, 10**10)}", "amount": amount,
            "currency": c.currency, "items": items}


def _refund(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    # Standalone refunds name an order this stream never showed (placed before it started);
    # the producer passes a real earlier order when it has one (see build_envelope).
    return {"order_id": f"ORD-{rng.randrange(10**9, 10**10)}",
            "amount": _price(_product(rng)[2], c.currency), "currency": c.currency}


_TICKET_STATUS = {
    "ticket_opened": ("new", "open"),
    "ticket_updated": ("open", "pending", "in_progress", "waiting_on_customer"),
    "ticket_closed": ("solved", "closed"),
}


def _ticket(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    # Few tickets per person, so updates and closes refer to tickets that were opened.
    return {"ticket_id": f"TCK-{_tag(c)}-{rng.randrange(3)}",
            "channel": rng.choice(TICKET_CHANNELS),
            "priority": rng.choices(TICKET_PRIORITIES, weights=(3, 5, 2, 0.5))[0],
            "category": rng.choice(TICKET_CATEGORIES),
            "status": rng.choice(_TICKET_STATUS[event_type])}


def _csat(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    props: dict[str, Any] = {"score": rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 4, 5))[0]}
    if rng.random() < 0.8:
        props["ticket_id"] = f"TCK-{_tag(c)}-{rng.randrange(3)}"
    return props


def _chat(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    role = rng.choices(("customer", "bot", "agent"), weights=(5, 4, 1))[0]
    props: dict[str, Any] = {"conversation_id": f"CONV-{_tag(c)}-{rng.randrange(5)}", "role": role}
    if props["role"] == "customer" and rng.random() < 0.7:
        props["sentiment"] = _sentiment(rng)
    return props


def _profile(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    # CRM change events carry only what changed; values are strings (a map<string,string>).
    known = {"first_name": c.first_name, "last_name": c.last_name, "country": c.country,
             "language": c.language or COUNTRIES.get(c.country, COUNTRIES["DE"])[0],
             "account_tier": rng.choice(ACCOUNT_TIERS)}
    present = [k for k, v in known.items() if v]
    if rng.random() < 0.3:  # a full profile sync
        chosen = present
    else:
        chosen = rng.sample(present, rng.randint(1, min(2, len(present))))
    return {"attributes": {k: known[k] for k in chosen}}


def _consent(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    return {"personalization": rng.random() < 0.8, "marketing": rng.random() < 0.45}


def _social(event_type: str, c: Customer, rng: random.Random) -> dict[str, Any]:
    platform, _, handle = (c.social_handle or "x:@unknown").partition(":")
    props: dict[str, Any] = {"platform": platform, "handle": handle}
    if rng.random() < 0.8:
        props["sentiment"] = _sentiment(rng)
    return props


PROPERTY_BUILDERS = {
    "page_view": _view,
    "product_view": _view,
    "add_to_cart": _cart,
    "remove_from_cart": _cart,
    "checkout_started": _checkout,
    "order_placed": _order,
    "order_refunded": _refund,
    "ticket_opened": _ticket,
    "ticket_updated": _ticket,
    "ticket_closed": _ticket,
    "csat_submitted": _csat,
    "chat_message": _chat,
    "profile_updated": _profile,
    "consent_updated": _consent,
    "social_mention": _social,
}


def build_envelope(
    event_type: str,
    customer: Customer,
    rng: random.Random,
    event_time: float,
    event_id: str | None = None,
    *,
    refund_of: tuple[str, float] | None = None,
) -> Envelope:
    """A valid schema_version-1 envelope of ``event_type`` for ``customer`` at ``event_time``.

    Args:
        event_time: epoch seconds; written as ISO-8601 UTC with Z.
        event_id: the idempotency key; a fresh UUID from ``rng`` when not given.
        refund_of: (order_id, amount) of an earlier order; an ``order_refunded`` then refunds
            all or part of it.
    """
    if event_type not in PROPERTY_BUILDERS:
        raise ValueError(f"unknown event_type {event_type!r}; known: {', '.join(EVENT_TYPES)}")
    properties = PROPERTY_BUILDERS[event_type](event_type, customer, rng)
    if event_type == "order_refunded" and refund_of is not None:
        order_id, amount = refund_of
        partial = rng.random() < 0.3
        properties["order_id"] = order_id
        properties["amount"] = round(amount * rng.uniform(0.2, 0.9), 2) if partial else amount
    source = EVENT_SOURCE[event_type]
    return {
        "event_id": event_id or new_event_id(rng),
        "event_type": event_type,
        "event_time": format_time(event_time),
        "source": source,
        "identifiers": identifiers_for(source, customer, rng),
        "properties": properties,
        "schema_version": SCHEMA_VERSION,
    }


# ---------------------------------------------------------------- messiness


def lateness_s(max_lateness_s: float, rng: random.Random) -> float:
    """How far behind a late event is: log-uniform in [LATE_MIN_S, max_lateness_s].

    Log-uniform: most late events are minutes or hours behind, a few are a day behind.
    """
    low = min(LATE_MIN_S, max_lateness_s / 2)
    return math.exp(rng.uniform(math.log(low), math.log(max_lateness_s)))


def make_late(
    envelope: Envelope, now: float, max_lateness_s: float, rng: random.Random
) -> Envelope:
    """A copy of ``envelope`` whose event happened up to ``max_lateness_s`` before ``now``."""
    if max_lateness_s <= 0:
        raise ValueError("max_lateness_s must be positive")
    return {**envelope, "event_time": format_time(now - lateness_s(max_lateness_s, rng))}


def duplicate(message: Message) -> Message:
    """The same message sent again: identical key, bytes and event_id (an at-least-once retry)."""
    if message.kind == "malformed" or message.event_id is None:
        raise ValueError("only well-formed messages are re-sent as duplicates")
    return Message(message.key, message.value, "duplicate", message.event_id, message.envelope)


# Values a sloppy upstream writes into numeric or boolean fields.
_WRONG_VALUES: dict[str, tuple[Any, ...]] = {
    "amount": ("abc", "12,50", "N/A"),
    "cart_value": ("abc", "N/A", "99,90"),
    "unit_price": ("abc", "4,99"),
    "quantity": ("two", "1x"),
    "score": ("five", "5 stars"),
    "personalization": ("yes", "no"),
    "marketing": ("yes", "no"),
}


def malformed(
    envelope: Envelope, now: float, rng: random.Random, flaw: str | None = None
) -> tuple[bytes, Envelope | None, str]:
    """Spoil a valid envelope in one way; returns (payload, spoiled dict or None, flaw tag).

    Flaws (``MALFORMED_FLAWS``), each a real failure seen from upstream systems:
    - ``invalid_json``: a truncated write or a Python ``repr`` instead of JSON;
    - ``missing_field``: a required envelope field or property absent, or no identifier;
    - ``unknown_event_type``: a type outside EVENT_TYPES;
    - ``wrong_type``: a number or boolean sent as text (amount "abc"), or event_time as epoch ms;
    - ``future_time``: event_time ``FUTURE_MIN_S``..``FUTURE_MAX_S`` after ``now``.
    The tag is "<flaw>:<detail>" (e.g. "missing_field:event_time") or just "<flaw>".
    """
    flaw = flaw or rng.choice(MALFORMED_FLAWS)
    bad: Envelope = {**envelope, "properties": dict(envelope["properties"])}
    if flaw == "invalid_json":
        if rng.random() < 0.6:
            text = serialize(envelope)
            # Any proper prefix of a JSON object lacks its closing brace: never parses.
            return text[: rng.randrange(1, len(text) - 1)], None, "invalid_json:truncated"
        return repr(envelope).encode("utf-8"), None, "invalid_json:python_repr"
    if flaw == "missing_field":
        required = [f"properties.{p}" for p in REQUIRED_PROPERTIES[envelope["event_type"]]]
        field = rng.choice([*ENVELOPE_FIELDS, *required])
        if field == "identifiers":
            bad["identifiers"] = {}  # present but empty: still no identifier
        elif field.startswith("properties."):
            del bad["properties"][field.removeprefix("properties.")]
        else:
            del bad[field]
        return serialize(bad), bad, f"missing_field:{field}"
    if flaw == "unknown_event_type":
        bad["event_type"] = rng.choice(UNKNOWN_EVENT_TYPES)
        return serialize(bad), bad, f"unknown_event_type:{bad['event_type']}"
    if flaw == "wrong_type":
        typed = [k for k in _WRONG_VALUES if k in bad["properties"]]
        if typed:
            name = rng.choice(typed)
            bad["properties"][name] = rng.choice(_WRONG_VALUES[name])
            return serialize(bad), bad, f"wrong_type:properties.{name}"
        bad["event_time"] = int(now * 1000)  # epoch millis where ISO text is required
        return serialize(bad), bad, "wrong_type:event_time"
    if flaw == "future_time":
        bad["event_time"] = format_time(now + rng.uniform(FUTURE_MIN_S, FUTURE_MAX_S))
        return serialize(bad), bad, "future_time"
    raise ValueError(f"unknown flaw {flaw!r}; known: {', '.join(MALFORMED_FLAWS)}")
