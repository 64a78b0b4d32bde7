"""An independent expected fold of produced Kafka messages, in plain Python.

Written from the business rules (ARCHITECTURE §3.1, §3.3, §3.4 and conf), never with the code
under test: what the profiles table must hold after the stream has seen ``messages`` — no
matter how often it crashed, replayed or saw duplicates.

- a message counts if the producer meant it as well-formed (not ``malformed``) and its money
  currency has a configured rate; a repeated event_id counts once;
- people = connected components of normalized identifiers that appear in the same event;
- per person: event and order counts, net spend in the base currency (amount × rate),
  the cart (latest ``cart_events_kept`` cart events replayed in event-time order), open
  tickets (latest status per ticket by event time), the latest account tier by event time
  (ties on event_id), average csat and the latest marketing consent.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_TLD = string.ascii_lowercase
_DOMAIN = _TLD + string.digits + ".-"
_LOCAL = _DOMAIN + "_%+'"
E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
MONEY_TYPES = {"add_to_cart", "remove_from_cart", "checkout_started", "order_placed",
               "order_refunded"}
CART_TYPES = {"add_to_cart", "remove_from_cart", "checkout_started", "order_placed"}
CLOSED = {"solved", "closed", "resolved"}


def _email_char(c: str, ascii_allowed: str) -> bool:
    """docs/sources.md: the listed ASCII characters, or a non-ASCII one that is no C1 control,
    surrogate or Unicode space/separator."""
    if c < "\x80":
        return c in ascii_allowed
    return ord(c) > 0x9F and not 0xD800 <= ord(c) < 0xE000 and (
        unicodedata.category(c) not in ("Zs", "Zl", "Zp"))


def email_ok(value: str) -> bool:
    """A lower-cased e-mail is usable: local@domain.tld as docs/sources.md defines it."""
    local, at, domain = value.partition("@")
    head, dot, tld = domain.rpartition(".")
    return (bool(at and local and head and dot) and len(tld) >= 2
            and all(_email_char(c, _LOCAL) for c in local)
            and all(_email_char(c, _DOMAIN) for c in head)
            and all(_email_char(c, _TLD) for c in tld))


def identifier_keys(ids: Mapping[str, Any]) -> set[str]:
    """``type:value`` of every usable identifier, normalized as §3.4 says."""
    out = set()
    for kind, raw in ids.items():
        if not isinstance(raw, str) or not raw.strip():
            continue
        value: str | None = raw.strip()
        if kind == "email":
            value = value.lower() if email_ok(value.lower()) else None
        elif kind == "phone":
            digits = re.sub(r"[^0-9]", "", value)
            value = ("+" + digits if value.startswith("+")
                     else "+" + digits[2:] if digits.startswith("00") else None)
            value = value if value and E164.match(value) else None
        elif kind == "social_handle":
            platform, _, handle = value.partition(":")
            handle = handle.strip().lstrip("@").lower()
            value = f"{platform.strip().lower()}:{handle}" if platform and handle else None
        if value:
            out.add(f"{kind}:{value}")
    return out


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Person:
    keys: set[str] = field(default_factory=set)
    events: list[dict] = field(default_factory=list)

    def expected(self, rates: Mapping[str, float], cart_kept: int) -> dict[str, Any]:
        ev = sorted(self.events, key=lambda e: (_time(e["event_time"]), e["event_id"]))

        def base(e: dict) -> float:
            p = e["properties"]
            return round(p["amount"] * rates[p["currency"].upper()], 4)

        orders = [e for e in ev if e["event_type"] == "order_placed"]
        refunds = [e for e in ev if e["event_type"] == "order_refunded"]
        cart: dict[str, int] = {}
        for e in [e for e in ev if e["event_type"] in CART_TYPES][-cart_kept:]:
            p = e["properties"]
            if e["event_type"] == "add_to_cart":
                cart[p["sku"]] = cart.get(p["sku"], 0) + (p.get("quantity") or 1)
            elif e["event_type"] == "remove_from_cart":
                cart.pop(p["sku"], None)
            elif e["event_type"] == "order_placed":
                for item in p["items"]:
                    cart.pop(item["sku"], None)
        tickets: dict[str, str] = {}
        for e in ev:
            if e["event_type"].startswith("ticket_"):
                tickets[e["properties"]["ticket_id"]] = e["properties"]["status"].lower()
        tiers = [e["properties"]["attributes"]["account_tier"] for e in ev
                 if e["event_type"] == "profile_updated"
                 and "account_tier" in e["properties"]["attributes"]]
        scores = [e["properties"]["score"] for e in ev if e["event_type"] == "csat_submitted"]
        consent = [e["properties"]["marketing"] for e in ev if e["event_type"] == "consent_updated"]
        return {
            "event_count": len(ev),
            "orders_count": len(orders),
            "refunds_count": len(refunds),
            "net_spend": round(sum(map(base, orders)) - sum(map(base, refunds)), 2),
            "cart": cart,
            "open_ticket_ids": sorted(t for t, s in tickets.items() if s not in CLOSED),
            "account_tier": tiers[-1] if tiers else None,
            "avg_csat": round(sum(scores) / len(scores), 2) if scores else None,
            "consent_marketing": consent[-1] if consent else False,
            "page_views": sum(e["event_type"] == "page_view" for e in ev),
        }


def counted(envelopes: Iterable[dict], rates: Mapping[str, float]) -> dict[str, dict]:
    """Well-formed envelopes that count, by event_id (a repeated id counts once)."""
    out: dict[str, dict] = {}
    for env in envelopes:
        p = env["properties"]
        if env["event_type"] in MONEY_TYPES and str(p.get("currency", "")).upper() not in rates:
            continue
        if not identifier_keys(env["identifiers"]):
            continue
        out.setdefault(env["event_id"], env)
    return out


def people(events: Iterable[dict]) -> list[Person]:
    """Connected components of identifiers co-occurring in an event (union-find)."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    events = list(events)
    for e in events:
        keys = sorted(identifier_keys(e["identifiers"]))
        for k in keys[1:]:
            parent[find(k)] = find(keys[0])
        find(keys[0])
    groups: dict[str, Person] = defaultdict(Person)
    for e in events:
        keys = identifier_keys(e["identifiers"])
        person = groups[find(next(iter(keys)))]
        person.keys |= keys
        person.events.append(e)
    return list(groups.values())
