"""Pick a small, telling sample of each source file for the documentation.

The sample is real generator output (whole lines, unchanged): a few ordinary rows plus at
least one of each kind of mess the source has (duplicates, invalid rows, a profile update,
a refund, a guest checkout, a login in the middle of a session, ...).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from typing import Any

LIMIT = 20
ORDINARY = 6

Row = dict[str, Any]


def parse_line(source: str, line: str, header: list[str] | None = None) -> Row:
    """One physical line as a dict (CSV needs the header)."""
    if source in ("crm", "orders"):
        return dict(zip(header or [], next(csv.reader([line])), strict=True))
    return json.loads(line)


def record_key(source: str, row: Row) -> str:
    """The documented record key of a parsed row (see docs/sources.md)."""
    if source == "crm":
        return f"{row['CustomerID']}|{row['Last Modified']}"
    if source == "orders":
        return f"{row['order_id']}|{row['status']}"
    if source == "tickets":
        return f"{row['ticket']}|{row['status'].lower()}"
    return str(row["event_id"] if source == "web" else row["id"])


def pick_lines(source: str, rows: list[Row], keys: list[str],
               invalid: Mapping[str, str | None]) -> list[int]:
    """Indexes of the sample lines, in file order."""
    chosen: list[int] = []

    def take(indexes: list[int]) -> None:
        for i in indexes:
            if i not in chosen and len(chosen) < LIMIT:
                chosen.append(i)

    def first(pred: Callable[[Row], bool]) -> list[int]:
        return next(([i] for i, r in enumerate(rows) if pred(r)), [])

    seen: dict[str, int] = {}
    reasons: set[str] = set()
    duplicate = False
    for i, key in enumerate(keys):
        if key in seen and not duplicate:
            take([seen[key], i])  # one exact duplicate, both copies
            duplicate = True
        seen.setdefault(key, i)
        reason = invalid.get(key)
        if reason and reason not in reasons and len(reasons) < 3:
            reasons.add(reason)
            take([i])
    for extra in _special(source, rows, first):
        take(extra)
    take([i for i, k in enumerate(keys) if not invalid.get(k)][:ORDINARY])
    return sorted(chosen)


def _special(source: str, rows: list[Row],
             first: Callable[[Callable[[Row], bool]], list[int]]) -> list[list[int]]:
    if source == "crm":
        by_id: dict[str, list[int]] = {}
        for i, r in enumerate(rows):
            by_id.setdefault(r["CustomerID"], []).append(i)
        history = next((v for k, v in by_id.items() if k and len({rows[i]["Last Modified"]
                                                                   for i in v}) > 1), [])
        return [history[:2], first(lambda r: r["E-mail"].startswith(" ")),
                first(lambda r: len(r["Country"]) > 2),
                first(lambda r: "-" in r["Preferred Language"])]
    if source == "orders":
        refund = first(lambda r: r["status"] == "refunded")
        placed = [i for i, r in enumerate(rows) if refund and r["order_id"] == rows[refund[0]][
            "order_id"] and r["status"] == "placed"][:1]
        out = [placed, refund, first(lambda r: r["customer_ref"] == ""),
               first(lambda r: "test@example.com" in r["email"].lower()),
               first(lambda r: r["order_ts"].endswith("Z"))]
        return out + [first(lambda r, c=c: r["currency"] == c)
                      for c in ("USD", "EUR", "GBP", "CAD", "JPY")]
    if source == "tickets":
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["ticket"]] = counts.get(r["ticket"], 0) + 1
        full = next((t for t, c in counts.items() if c >= 4), None)
        life = [i for i, r in enumerate(rows) if r["ticket"] == full][:5]
        return [life, first(lambda r: (r["requester"]["email"] or "").strip().lower()
                            .startswith("support@")),
                first(lambda r: r["priority"].lower() in ("urgent", "high", "normal", "low"))]
    if source == "web":
        sessions: dict[str, set[bool]] = {}
        for r in rows:
            sessions.setdefault(r["session_id"], set()).add(r["user_id"] is None)
        midway = next((s for s, kinds in sessions.items() if kinds == {True, False}), None)
        visit = [i for i, r in enumerate(rows) if r["session_id"] == midway][:6]
        return [visit, first(lambda r: r["event"] == "add_to_cart"),
                first(lambda r: r["event"] == "checkout")]
    return [first(lambda r: r.get("profile_email") is None),
            first(lambda r: r.get("profile_email") is not None),
            first(lambda r: isinstance(r.get("sentiment"), float) and r["sentiment"] < -0.2)]
