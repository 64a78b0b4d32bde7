"""One profile → its chatbot export document, in plain Python (no pyspark).

The twin of ``build_export`` (export.py) for the hot lane and the read API: for the same profile
row, segments snapshot, probable activity, params and export time it gives the dict that
``json.loads`` of Spark's ``document`` column gives. The business rules are export.py's; the
Spark details it must copy:

- ``trim`` strips spaces only (not tabs or newlines);
- the newest cart line is element 0 of Spark's ``array_sort`` with a comparator, which is Java's
  TimSort: stable, so among lines added at the same time the first one wins; a null
  ``added_at`` compares equal to everything, and for carts under 32 lines the binary insertion
  sort TimSort runs is copied step by step so even then the same line wins;
- hashed identifiers are sorted (nulls last), the others keep their order;
- timestamps render as ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX`` in UTC (milliseconds truncated), a
  non-finite double as the string Jackson writes (``"NaN"``, ``"Infinity"``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from functools import cmp_to_key, lru_cache
from typing import Any

from pipelines.config import ConfigError
from pipelines.serving.export_fields import KEY_FIELDS, OPTIONAL_FIELDS, SEGMENT_COLUMNS
from pipelines.serving.hashing import hmac_hex
from pipelines.serving.params import ActionRule, ExportParams
from pipelines.serving.sql_rules import (
    Compiled,
    Type,
    as_utc,
    compile_condition,
    compile_expression,
    to_spark_string,
)

TICKET_FIELDS = ("ticket_id", "status", "category", "priority", "channel", "at")
CART_FIELDS = ("sku", "category", "quantity", "unit_price", "added_at")
INTENT_WITH_CART = ("cart", "checkout")
_MIN_MERGE = 32  # Java TimSort sorts shorter arrays with one binary insertion sort

# Static types of the columns a rule sees (the candidates and segments, as export.py types them)
# so the compiler rejects e.g. ``intent > 5`` or ``last_ticket.nope`` before any row.
_STRING, _DOUBLE, _TS, _ARRAY = "string", "double", "timestamp", "array"
COLUMN_TYPES: dict[str, Type] = {
    **{c: _STRING for c in ("display_name", "first_name", "language", "country", "intent")},
    **{c: _STRING for c in ("account_tier", "last_order_id", "complementary_category")},
    **{c: _STRING for c in ("primary_segment", "cluster_name", "churn_band", "rfm_label")},
    **{c: _ARRAY for c in ("rule_segments", "cart", "open_ticket_ids", "recent_categories")},
    **{c: _ARRAY for c in ("churn_reasons", "segment_reasons", "probable_recent_categories")},
    **{c: _DOUBLE for c in ("churn_score", "net_spend", "cart_value", "avg_csat")},
    "probable_confidence": _DOUBLE,
    "probable_last_viewed": {"sku": _STRING, "category": _STRING, "at": _TS},
    **{c: _TS for c in ("segments_as_of", "last_order_at", "intent_at", "last_contact_at")},
    "orders_30d": "bigint",
    "open_tickets": "int",
    "last_ticket": {**{f: _STRING for f in TICKET_FIELDS[:-1]}, "at": _TS},
}


def export_document(
    profile: Mapping[str, Any],
    params: ExportParams,
    exported_at: datetime,
    segments: Mapping[str, Any] | None = None,
    probable: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The export row of one profile as the API's JSON document (a dict, as json.loads of
    build_export's ``document`` column gives it).

    Args:
        profile: one profiles-table row (``Row.asDict(recursive=True)``); naive timestamps
            are UTC.
        params: the export settings; rules compile once per distinct ``params.actions``.
        exported_at: the export run's time.
        segments: the profile's latest segments snapshot (SEGMENT_COLUMNS + ``as_of``), or
            None: the segment fields are then null.
        probable: the profile's ``probable_activity`` row (``PROBABLE_COLUMNS``), or None: the
            probable fields are then null.
    Raises:
        ConfigError: an allow-list field or a rule Spark would refuse.
        RuleError: a rule fails on this row where Spark fails too (e.g. division by zero).
    """
    unknown = [f for f in params.allow_list if f not in OPTIONAL_FIELDS]
    if unknown:
        raise ConfigError(
            f"export.allow_list names unknown fields {unknown}; known: {sorted(OPTIONAL_FIELDS)}"
        )
    rules = compiled_rules(params.actions)
    allowed = profile.get("consent_personalization")
    allowed = True if allowed is None else bool(allowed)
    row: dict[str, Any] = {
        "profile_id": profile.get("profile_id"),
        "profile_version": _int(profile.get("version")),
        "as_of": _ts(profile.get("as_of")),
        "updated_at": _ts(profile.get("updated_at")),
        "exported_at": _ts(exported_at),
        "personalization_allowed": allowed,
        "lookup_ids": lookup_ids(profile.get("identifiers"), params),
    }
    assert tuple(row) == KEY_FIELDS  # the document's leading fields, in export.py's order
    columns = {
        **segment_columns(segments),
        **candidates(profile, params),
        **probable_columns(probable),
    }
    env = _Columns(columns, profile)
    _check_columns(rules, env)  # Spark's analysis fails on an unknown column for every row
    for field in params.allow_list:
        if not allowed:
            row[field] = None
        elif field == "next_best_actions":  # evaluated only where published, as in Spark
            row[field] = next_best_actions(rules, env)
        else:
            row[field] = columns[field]
    return {k: _json(v) for k, v in row.items()}


# --- the candidate columns (export._candidates) ------------------------------------------------


def candidates(profile: Mapping[str, Any], params: ExportParams) -> dict[str, Any]:
    """Every optional field but the segments and the actions, before consent and allow-list."""
    p = profile.get
    intent = p("intent")
    name = " ".join(x for x in (p("first_name"), p("last_name")) if x is not None)
    name = name.strip(" ")  # Spark's trim: spaces only
    cart = p("cart")
    with_cart = intent in INTENT_WITH_CART
    intent_at = (
        p("cart_updated_at") if with_cart else p("last_seen") if intent == "browsing" else None
    )
    ticket = p("last_ticket")
    return {
        "display_name": name or None,
        "first_name": p("first_name"),
        "language": _lower(p("language")),
        "country": None if p("country") is None else p("country").upper(),
        "account_tier": _lower(p("account_tier")),
        "net_spend": _float(p("net_spend")),
        "orders_30d": _int(p("orders_30d")),
        "last_order_id": p("last_order_id"),
        "last_order_at": _utc(p("last_order_at")),
        "cart": None if cart is None else [_cart_line(line) for line in cart],
        "cart_value": _float(p("cart_value")),
        "intent": intent,
        "intent_at": _utc(intent_at),
        "complementary_category": complementary_category(cart, params) if with_cart else None,
        "open_tickets": _int(p("open_tickets")) or 0,
        "open_ticket_ids": _list(p("open_ticket_ids")),
        "last_ticket": None
        if ticket is None
        else {f: _utc(ticket.get(f)) if f == "at" else ticket.get(f) for f in TICKET_FIELDS},
        "last_contact_at": _utc(p("last_contact_at")),
        "avg_csat": _float(p("avg_csat")),
        "recent_categories": _list(p("recent_categories")),
    }


def segment_columns(segments: Mapping[str, Any] | None) -> dict[str, Any]:
    """The segment fields of the latest snapshot (all null without one)."""
    s = segments or {}
    out = {c: s.get(c) for c in SEGMENT_COLUMNS}
    out["churn_score"] = _float(out["churn_score"])
    out["rule_segments"] = _list(out["rule_segments"])
    out["churn_reasons"] = _list(out["churn_reasons"])
    out["segment_reasons"] = _list(out["segment_reasons"])
    out["segments_as_of"] = _utc(s.get("as_of", s.get("segments_as_of")))
    return out


def probable_columns(probable: Mapping[str, Any] | None) -> dict[str, Any]:
    """The probable tier's fields of the profile's activity row (all null without one)."""
    p = probable or {}
    viewed = p.get("probable_last_viewed")
    return {
        "probable_recent_categories": _list(p.get("probable_recent_categories")),
        "probable_last_viewed": None
        if viewed is None
        else {f: _utc(viewed.get(f)) for f in ("sku", "category", "at")},
        "probable_confidence": _float(p.get("probable_confidence")),
    }


def _cart_line(line: Mapping[str, Any] | None) -> dict[str, Any]:
    # Spark builds a struct from a null line's fields: a line of nulls, not a null line.
    line = line or {}
    return {
        "sku": line.get("sku"),
        "category": line.get("category"),
        "quantity": _int(line.get("quantity")),
        "unit_price": _float(line.get("unit_price")),
        "added_at": _utc(line.get("added_at")),
    }


def newest_cart_line(cart: list[Any] | None) -> Any:
    """Element 0 of Spark's ``array_sort(cart, newest first)``, null for an empty cart."""
    if not cart:
        return None
    lines = list(cart)
    if len(lines) >= _MIN_MERGE:
        # Python's sort is stable like Java's, so it agrees whenever no added_at is null; with
        # nulls, TimSort's merges (not copied) may pick another line than Java's.
        return sorted(lines, key=cmp_to_key(_newest_first))[0]
    _timsort_small(lines, _newest_first)
    return lines[0]


def complementary_category(cart: list[Any] | None, params: ExportParams) -> str | None:
    """What to suggest after the latest cart add (conf ``complementary_categories``)."""
    line = newest_cart_line(cart)
    category = None if line is None else line.get("category")
    if category is None or not params.complementary_categories:
        return None
    return params.complementary_categories.get(category)


def _added(line: Mapping[str, Any] | None) -> datetime | None:
    return None if line is None else _utc(line.get("added_at"))


def _newest_first(a: Any, b: Any) -> int:
    """export.py's comparator: later added_at first; a null added_at compares equal."""
    x, y = _added(a), _added(b)
    if x is None or y is None:
        return 0
    return -1 if x > y else 1 if x < y else 0


def _timsort_small(a: list[Any], compare: Callable[[Any, Any], int]) -> None:
    """Java's ``TimSort.sort`` for fewer than 32 elements, in place: count the leading run
    (reversing it when strictly descending), then binary-insertion-sort the rest. Copied so a
    comparator that is not a total order (nulls equal to everything) picks what Java picks."""
    hi = len(a)
    if hi < 2:
        return
    run = 1
    if compare(a[1], a[0]) < 0:
        run = 2
        while run < hi and compare(a[run], a[run - 1]) < 0:
            run += 1
        a[:run] = a[:run][::-1]
    else:
        run = 2
        while run < hi and compare(a[run], a[run - 1]) >= 0:
            run += 1
    for start in range(max(run, 1), hi):
        pivot, left, right = a[start], 0, start
        while left < right:
            mid = (left + right) >> 1
            if compare(pivot, a[mid]) < 0:
                right = mid
            else:
                left = mid + 1
        a[left + 1 : start + 1] = a[left:start]
        a[left] = pivot


# --- lookup ids (export._lookup_ids) -----------------------------------------------------------


def lookup_ids(identifiers: Mapping[str, Any] | None, params: ExportParams) -> dict[str, Any]:
    """Published identifier types, in the map's order; hashed types as sorted HMACs."""
    out: dict[str, Any] = {}
    for id_type, values in (identifiers or {}).items():
        if id_type not in params.lookup_id_types:
            continue
        if id_type in params.hashed_id_types and values is not None:
            hashes = [hmac_hex(params.hash_pepper, v) for v in values if v is not None]
            values = sorted(hashes) + [None] * (len(values) - len(hashes))  # nulls last
        out[id_type] = None if values is None else list(values)
    return out


# --- next best actions (export._actions) -------------------------------------------------------


@lru_cache(maxsize=32)
def compiled_rules(actions: tuple[ActionRule, ...]) -> tuple[tuple[ActionRule, Compiled, Any], ...]:
    """Each rule with its compiled condition and hint (a compiled ``hint_sql`` or the text)."""
    return tuple(
        (
            rule,
            compile_condition(rule.condition, rule.name, COLUMN_TYPES),
            compile_expression(rule.hint_sql, rule.name, COLUMN_TYPES)
            if rule.hint_sql
            else rule.hint,
        )
        for rule in actions
    )


def next_best_actions(
    rules: tuple[tuple[ActionRule, Compiled, Any], ...], env: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The rules that hold (NULL does not), by priority then name."""
    actions = []
    for rule, condition, hint in rules:
        if condition(env) is True:
            text = to_spark_string(hint(env), hint.type) if isinstance(hint, Compiled) else hint
            actions.append({"name": rule.name, "hint": text, "priority": rule.priority})
    return sorted(actions, key=lambda a: (a["priority"], a["name"]))


def _check_columns(rules: tuple[tuple[ActionRule, Compiled, Any], ...], env: _Columns) -> None:
    for rule, condition, hint in rules:
        used = condition.columns | (hint.columns if isinstance(hint, Compiled) else frozenset())
        missing = sorted(c for c in used if c not in env)
        if missing:
            raise ConfigError(
                f"export.next_best_actions rule {rule.name!r}: unknown columns {missing}"
            )


class _Columns(Mapping[str, Any]):
    """What a rule reads, by lower-case name: the candidates and segments over the profile's
    own columns (as ``withColumns`` replaces them in Spark); profile values are normalized
    (timestamps to UTC) only when a rule reads them."""

    def __init__(self, computed: Mapping[str, Any], profile: Mapping[str, Any]) -> None:
        self._computed = computed
        self._profile = {k.lower(): k for k in profile}
        self._row = profile

    def __getitem__(self, key: str) -> Any:
        if key in self._computed:
            return self._computed[key]
        return _deep_utc(self._row[self._profile[key]])

    def __contains__(self, key: object) -> bool:
        return key in self._computed or key in self._profile

    def __iter__(self) -> Iterator[str]:
        yield from self._computed
        yield from (k for k in self._profile if k not in self._computed)

    def __len__(self) -> int:
        return sum(1 for _ in self)


# --- values -----------------------------------------------------------------------------------


def _utc(value: Any) -> Any:
    return as_utc(value) if isinstance(value, datetime) else value


def _deep_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, list):
        return [_deep_utc(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _deep_utc(v) for k, v in value.items()}
    return value


def _ts(value: Any) -> Any:
    """Timestamps as Spark's to_json writes them (UTC, milliseconds truncated)."""
    if not isinstance(value, datetime):
        return value
    utc = as_utc(value)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _json(value: Any) -> Any:
    """A value as it reads back from Spark's JSON document."""
    if isinstance(value, datetime):
        return _ts(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    return value


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _list(value: Any) -> list[Any] | None:
    return None if value is None else list(value)
