"""The hot lane's record check: pipelines.stream.parse.classify_records without Spark.

``classify`` accepts and rejects exactly the records the Spark lane does, with the same reason
text, and returns a valid record as the EVENT_LOG row Spark would produce (timestamps as aware
UTC datetimes). No pyspark import, directly or indirectly: the schema, the identifier rules and
the calling codes are plain constants here, and tests/unit/test_event_validate.py asserts they
equal the Spark-side ones.

Spark's parse is three JSON parsers with different rules, and ``classify`` mirrors each:

- ``from_json`` (PERMISSIVE, the typed parse): Jackson with NaN, Infinity, +INF, -INF,
  +Infinity, -Infinity allowed; duplicate keys → the last one wins; a string field takes any JSON
  value (numbers re-printed as Java prints them: 1e5 → "100000.0", 1e7 → "1.0E7"; objects as
  compact JSON; NaN as ``"NaN"`` with the quotes); numeric and boolean fields take only their own
  JSON type ("2" or 2.0 in an int field, 1 in a boolean field is a mismatch, an int beyond the
  field's range too); a double field also takes the strings "NaN", "Infinity", "+INF", ...; a
  mismatch flags the record corrupt but keeps the rest (partial results); a mismatch inside a
  nested object keeps that object with the field null; a non-object element of ``items`` drops
  the whole array. Only the first JSON value is read: text after the root object is ignored.
  A lone UTF-16 surrogate (``"\\ud800"``) becomes ``?``. Jackson's limits (nesting depth 1000,
  numbers of 1000 digits, strings of 20M chars, names of 50k chars) make a record corrupt.
- ``try_parse_json`` (consulted only for a corrupt record): strict JSON — no NaN family, no
  duplicate key at any level, no lone surrogate. A corrupt record it rejects is ``invalid_json``.
- ``get_json_object`` (tells ``missing_field`` from ``wrong_type``): the first non-null match of
  the path; nothing at all when the document has a NaN-family token, or when the matched value
  is a string holding a lone surrogate.

Kafka bytes are decoded as Java does (invalid UTF-8 → U+FFFD, an encoded surrogate ``ED A0..BF
xx`` → one U+FFFD), regexes follow java.util.regex (``$`` also matches before a final line
terminator, ``.`` excludes \\r, \\u0085, \\u2028, \\u2029), ``trim`` strips only spaces.

Speed: ``classify`` first tries a fast path (Python's C JSON scanner, for plain records whose
fields all have their schema types; its exact conditions are listed above ``_NotSure``) and
falls back to the emulator above, ``classify_exact``, whenever it cannot be sure. Both give the
same result; tests/unit/test_event_validate.py checks it on generated hostile and valid records.
"""

from __future__ import annotations

import codecs
import math
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache
from json.decoder import JSONDecoder, scanstring
from typing import Any

from pipelines.events.params import ParseParams
from pipelines.schemas.contract import (
    EMAIL_PATTERN,
    EVENT_TYPES,
    IDENTIFIER_TYPES,
    REQUIRED_PROPERTIES,
    SCHEMA_VERSION,
    SOURCES,
)
from pipelines.spark_numbers import java_double

# ---------------------------------------------------------------- the contract, as constants
# The envelope's rules come from pipelines.schemas.contract; the rest are copies of
# pipelines.schemas.events / canonical / normalize.identifiers / stream.parse (those import
# pyspark); the unit tests assert they are equal.

CURRENCY_TYPES = tuple(t for t, props in REQUIRED_PROPERTIES.items() if "currency" in props)

# Field types by Spark simpleString: "string", "int", "bigint", "double", "boolean",
# "map<string,string>", a dict for a struct, a one-element list for an array of that.
ORDER_ITEM: dict[str, Any] = {
    "sku": "string", "category": "string", "quantity": "int", "unit_price": "double",
}
IDENTIFIERS: dict[str, Any] = {name: "string" for name in IDENTIFIER_TYPES}
PROPERTIES: dict[str, Any] = {
    "url": "string", "session_id": "string", "sku": "string", "category": "string",
    "quantity": "int", "unit_price": "double", "currency": "string", "cart_value": "double",
    "order_id": "string", "amount": "double", "items": [ORDER_ITEM], "ticket_id": "string",
    "channel": "string", "priority": "string", "status": "string", "score": "int",
    "conversation_id": "string", "role": "string", "sentiment": "double",
    "attributes": "map<string,string>", "personalization": "boolean", "marketing": "boolean",
    "platform": "string", "handle": "string",
}
ENVELOPE: dict[str, Any] = {
    "event_id": "string", "event_type": "string", "event_time": "string", "source": "string",
    "identifiers": IDENTIFIERS, "properties": PROPERTIES, "schema_version": "bigint",
}
ENVELOPE_FIELDS = ("event_id", "event_type", "event_time", "source")
EVENT_LOG_FIELDS = ("event_id", "event_type", "event_time", "source", "identifiers",
                    "properties", "base_amounts", "origin", "ingested_at", "event_date")
BASE_AMOUNT_FIELDS = ("amount", "cart_value", "unit_price")

CALLING_CODES: dict[str, str] = {
    "US": "1", "CA": "1", "GB": "44", "UK": "44", "DE": "49", "FR": "33", "ES": "34",
    "IT": "39", "NL": "31", "BE": "32", "IE": "353", "SE": "46", "PL": "48", "PT": "351",
    "AT": "43", "CH": "41", "DK": "45", "NO": "47", "FI": "358", "AU": "61", "NZ": "64",
    "JP": "81", "IN": "91", "BR": "55", "MX": "52",
}
ISO_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$"
NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
SOCIAL_PATTERN = r"^([^:]+):(.+)$"
E164_PATTERN = r"^\+[1-9][0-9]{7,14}$"

# ---------------------------------------------------------------- Java text semantics

_JAVA_LINE_END = "\r\n\u0085\u2028\u2029"


def java_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled with java.util.regex meaning (Spark's rlike/regexp_extract): ``\\d``
    is ASCII, ``.`` stops at any Java line terminator, and ``$`` also matches before one final
    line terminator (\\n, \\r, \\r\\n, \\u0085, \\u2028, \\u2029)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "." and not in_class:
            ch = f"[^{_JAVA_LINE_END}]"
        elif ch == "$" and not in_class:
            ch = f"(?=(?:\r\n|[{_JAVA_LINE_END}])?\\Z)"
        out.append(ch)
        i += 1
    return re.compile("".join(out), re.ASCII)


_ISO_RE = java_regex(ISO_TIME)
_NUMBER_RE = java_regex(NUMBER_TEXT)
_EMAIL_RE = java_regex(EMAIL_PATTERN)
_SOCIAL_RE = java_regex(SOCIAL_PATTERN)
_E164_RE = java_regex(E164_PATTERN)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _java_utf8_errors(exc: UnicodeDecodeError) -> tuple[str, int]:
    # Python replaces each byte of an encoded surrogate (ED A0..BF xx); Java's decoder replaces
    # the whole (up to 3-byte) sequence with one U+FFFD.
    data, start = exc.object, exc.start
    if data[start] == 0xED and start + 1 < len(data) and 0xA0 <= data[start + 1] <= 0xBF:
        end = start + 3 if start + 2 < len(data) and 0x80 <= data[start + 2] <= 0xBF else start + 2
        return "\ufffd", end
    return "\ufffd", exc.end


codecs.register_error("profilake_java_utf8", _java_utf8_errors)


def java_text(value: bytes | str) -> str:
    """Kafka bytes as the JVM reads them: UTF-8, malformed input replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("?", value)
    return value.decode("utf-8", "profilake_java_utf8")


def _utf8_string(text: str) -> str:
    """A Java String stored as a Spark string: a lone surrogate becomes '?'."""
    return _LONE_SURROGATE.sub("?", text)


def _trim(s: str | None) -> str | None:
    """Spark ``trim``: spaces only, not tabs or newlines."""
    return None if s is None else s.strip(" ")




def spark_round4(d: float) -> float:
    """Spark ``round(d, 4)``: HALF_UP on ``Double.toString(d)``, NaN and infinities as is."""
    if not abs(d) < 2.0**52:  # NaN, infinite, or no fraction left to round
        return d
    text = repr(d)
    if "e" not in text:
        # Plain "[-]whole.frac" (repr of |d| in [1e-4, 1e16)): quantize by hand. HALF_UP keeps
        # frac[:4] and adds one unit when the first dropped digit is >= 5, giving n / 10^4 -
        # the decimal the Decimal path makes; int / int is correctly rounded, as is
        # float(Decimal), so both give the same double.
        neg = text[0] == "-"
        whole, _, frac = text[neg:].partition(".")
        if len(frac) <= 4:
            return d + 0.0  # nothing to round: repr round-trips
        r = (int(whole + frac[:4]) + (frac[4] >= "5")) / 10000
        return (-r if neg else r) + 0.0
    with localcontext() as ctx:
        ctx.prec = 60
        rounded = float(Decimal(repr(d)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP))
    return rounded + 0.0  # BigDecimal has no -0: -0.00001 rounds to 0.0


# ---------------------------------------------------------------- JSON, as Jackson reads it

MAX_DEPTH, MAX_NUMBER_LEN, MAX_STRING_LEN, MAX_NAME_LEN = 1000, 1000, 20_000_000, 50_000
# _typed and _json_text recurse two or three frames per nesting level: a record Jackson accepts
# (depth up to MAX_DEPTH) must not meet Python's default limit of 1000 frames, or a hostile
# record would raise instead of getting its verdict.
_FRAMES_NEEDED = 3 * MAX_DEPTH + 1000
if sys.getrecursionlimit() < _FRAMES_NEEDED:
    sys.setrecursionlimit(_FRAMES_NEEDED)
_NON_NUMERIC = {"NaN": math.nan, "Infinity": math.inf, "+Infinity": math.inf,
                "+INF": math.inf, "-Infinity": -math.inf, "-INF": -math.inf}
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_WS = re.compile(r"[ \t\n\r]*")


class _Syntax(Exception):
    """Not JSON Spark's from_json reads."""


class _Obj(list):
    """A JSON object: its (key, value) pairs in order, duplicates kept."""


class _Arr(list):
    """A JSON array."""


class _Num:
    __slots__ = ("text", "kind")

    def __init__(self, text: str, kind: str) -> None:
        self.text, self.kind = text, kind  # kind: "int", "float" or "nonnum" (NaN family)

    def as_float(self) -> float:
        return _NON_NUMERIC[self.text] if self.kind == "nonnum" else float(self.text)


class _Doc:
    """The parsed root object and what the stricter parsers would make of it."""

    __slots__ = ("root", "nonnum", "duplicates", "lone_surrogate")

    def __init__(self) -> None:
        self.root: _Obj = _Obj()
        self.nonnum = self.duplicates = self.lone_surrogate = False


def _parse_object(text: str) -> _Doc:
    """The first JSON value of ``text`` (it starts with '{' after spaces), Jackson-lenient;
    raises _Syntax. Iterative, so deep nesting hits Jackson's limit, not Python's."""
    doc = _Doc()
    pos = _WS.match(text, 0).end()
    stack: list[tuple[_Obj | _Arr, str | None, set[str] | None]] = []
    value: Any = None
    while True:
        # -- read one value at pos (containers are pushed and filled below)
        pos = _WS.match(text, pos).end()
        ch = text[pos:pos + 1]
        if ch in ("{", "["):
            if len(stack) >= MAX_DEPTH:
                raise _Syntax("nesting depth")
            container: _Obj | _Arr = _Obj() if ch == "{" else _Arr()
            stack.append((container, None, set() if ch == "{" else None))
            pos = _WS.match(text, pos + 1).end()
            close = "}" if ch == "{" else "]"
            if text[pos:pos + 1] == close:
                stack.pop()
                value, pos = container, pos + 1
            elif ch == "{":
                pos = _read_key(text, pos, stack, doc)
                continue
            else:
                continue
        elif ch == '"':
            value, pos = _read_string(text, pos, doc, MAX_STRING_LEN)
        else:
            value, pos = _read_scalar(text, pos, doc)
        # -- attach the value to its container, then close as many containers as end here
        while True:
            if not stack:
                if not isinstance(value, _Obj):
                    raise _Syntax("root")
                doc.root = value
                return doc
            container, key, _ = stack[-1]
            if isinstance(container, _Obj):
                container.append((key, value))
            else:
                container.append(value)
            pos = _WS.match(text, pos).end()
            sep = text[pos:pos + 1]
            if sep == ",":
                pos += 1
                if isinstance(container, _Obj):
                    pos = _read_key(text, _WS.match(text, pos).end(), stack, doc)
                break
            if sep != ("}" if isinstance(container, _Obj) else "]"):
                raise _Syntax("separator")
            stack.pop()
            value, pos = container, pos + 1


def _read_key(text: str, pos: int, stack: list, doc: _Doc) -> int:
    if text[pos:pos + 1] != '"':
        raise _Syntax("key")
    key, pos = _read_string(text, pos, doc, MAX_NAME_LEN)
    container, _, seen = stack[-1]
    if key in seen:
        doc.duplicates = True
    seen.add(key)
    stack[-1] = (container, key, seen)
    pos = _WS.match(text, pos).end()
    if text[pos:pos + 1] != ":":
        raise _Syntax("colon")
    return pos + 1


def _read_string(text: str, pos: int, doc: _Doc, limit: int) -> tuple[str, int]:
    try:
        value, end = scanstring(text, pos + 1, True)  # strict: no raw control characters
    except ValueError as err:
        raise _Syntax("string") from err
    if len(value) > limit:
        raise _Syntax("string length")
    if _LONE_SURROGATE.search(value):
        doc.lone_surrogate = True
    return value, end


def _read_scalar(text: str, pos: int, doc: _Doc) -> tuple[Any, int]:
    for word, value in (("true", True), ("false", False), ("null", None)):
        if text.startswith(word, pos):
            return value, pos + len(word)
    for word in ("-Infinity", "+Infinity", "Infinity", "NaN", "+INF", "-INF"):
        if text.startswith(word, pos):
            doc.nonnum = True
            return _Num(word, "nonnum"), pos + len(word)
    m = _NUMBER.match(text, pos)
    if not m:
        raise _Syntax("value")
    is_int = m.group(1) is None and m.group(2) is None
    digits = len(m.group(0).lstrip("-")) if is_int else len(m.group(0))
    if digits > MAX_NUMBER_LEN:
        raise _Syntax("number length")
    return _Num(m.group(0), "int" if is_int else "float"), m.end()


# ---------------------------------------------------------------- from_json's typed values


class _Mismatch(Exception):
    """The JSON value does not fit the field: the field is not set (and the record corrupt)."""


def _json_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{ord(ch):04X}")  # Jackson: upper-case hex
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_text(node: Any) -> str:
    """A JSON value re-written by Jackson's generator, as a string field receives it."""
    if isinstance(node, _Obj):
        return "{" + ",".join(f"{_json_string(k)}:{_json_text(v)}" for k, v in node) + "}"
    if isinstance(node, _Arr):
        return "[" + ",".join(_json_text(v) for v in node) + "]"
    if isinstance(node, str):
        return _json_string(node)
    if isinstance(node, _Num):
        if node.kind == "int":
            return str(int(node.text))
        d = node.as_float()
        # Non-finite doubles are written quoted (Jackson QUOTE_NON_NUMERIC_NUMBERS).
        return java_double(d) if math.isfinite(d) else f'"{java_double(d)}"'
    return {True: "true", False: "false", None: "null"}[node]


def _typed(node: Any, dtype: Any) -> tuple[Any, bool]:
    """(value, corrupt) of one JSON value read as ``dtype``; raises _Mismatch."""
    if node is None:
        return None, False
    if dtype == "string":
        return _utf8_string(node if isinstance(node, str) else _json_text(node)), False
    if dtype in ("int", "bigint"):
        if isinstance(node, _Num) and node.kind == "int":
            bits = 31 if dtype == "int" else 63
            value = int(node.text)
            if -(2**bits) <= value < 2**bits:
                return value, False
        raise _Mismatch
    if dtype == "double":
        if isinstance(node, _Num):
            return node.as_float(), False
        if isinstance(node, str) and node in _NON_NUMERIC:  # Spark's special strings
            return _NON_NUMERIC[node], False
        raise _Mismatch
    if dtype == "boolean":
        if node is True or node is False:
            return node, False
        raise _Mismatch
    if dtype == "map<string,string>":
        if not isinstance(node, _Obj):
            raise _Mismatch
        # Kept as pairs: a lookup takes the first key, the collected dict the last.
        return [(_utf8_string(k), _typed(v, "string")[0]) for k, v in node], False
    if isinstance(dtype, list):
        if not isinstance(node, _Arr):
            raise _Mismatch
        values, corrupt = [], False
        for item in node:
            # A mismatched element aborts the whole array (Spark's parser loses its place).
            value, bad = _typed(item, dtype[0])
            values.append(value)
            corrupt |= bad
        return values, corrupt
    if not isinstance(node, _Obj):
        raise _Mismatch
    row: dict[str, Any] = dict.fromkeys(dtype)
    corrupt = False
    for key, item in node:
        if key in dtype:
            try:
                row[key], bad = _typed(item, dtype[key])  # the last duplicate wins
                corrupt |= bad
            except _Mismatch:
                corrupt = True  # the field keeps what it had (partial result)
    return row, corrupt


_MISSING = object()


def _raw_present(doc: _Doc | None, path: str) -> bool:
    """``get_json_object(value, '$.<path>') IS NOT NULL``; ``doc`` None: the fast path's record,
    where a path whose typed value is null is never present (see the fast path's condition 6)."""
    if doc is None or doc.nonnum:
        return False  # its parser rejects NaN/Infinity: null for every path

    def find(obj: _Obj, keys: list[str]) -> Any:
        for key, value in obj:
            if key != keys[0] or value is None:
                continue
            if len(keys) == 1:
                return value
            if isinstance(value, _Obj):
                found = find(value, keys[1:])
                if found is not _MISSING:
                    return found
        return _MISSING

    found = find(doc.root, path.split("."))
    # Writing a string with a lone surrogate fails, and a failure is null.
    return found is not _MISSING and not (
        isinstance(found, str) and _LONE_SURROGATE.search(found)
    )


# ---------------------------------------------------------------- normalization


def _blank_to_null(s: str | None) -> str | None:
    t = _trim(s)
    return None if t == "" else t


_NON_DIGITS = re.compile(r"[^0-9]")
_LEADING_ZERO = re.compile(r"^0")
_LEADING_ATS = re.compile(r"^@+")
# The identifier rules are pure functions of their text: memoized (a person's identifiers
# recur in most of their events). Bounded, so hostile input cannot grow them.
_MEMO = 1 << 14


@lru_cache(maxsize=_MEMO)
def _email(s: str | None) -> str | None:
    value = None if s is None else _trim(s).lower()
    return value if value is not None and _EMAIL_RE.search(value) else None


def _lookup(pairs: list | dict | None, key: str) -> str | None:
    if isinstance(pairs, dict):  # the fast path's map: no duplicate keys
        return pairs.get(key)
    for k, v in pairs or ():
        if k == key:
            return v
    return None


@lru_cache(maxsize=_MEMO)
def _phone(s: str | None, country: str | None) -> str | None:
    if s is None:
        return None
    raw = _trim(s)
    digits = _NON_DIGITS.sub("", raw)
    code = None if country is None else CALLING_CODES.get(_trim(country).upper())
    if raw.startswith("+"):
        e164 = "+" + digits
    elif digits.startswith("00"):
        e164 = "+" + digits[2:34]
    elif code is not None:
        e164 = "+" + code + _LEADING_ZERO.sub("", digits)
    else:
        return None
    return e164 if _E164_RE.search(e164) else None


@lru_cache(maxsize=_MEMO)
def _social(s: str | None) -> str | None:
    if s is None:
        return None
    m = _SOCIAL_RE.search(s)
    platform, handle = (m.group(1), m.group(2)) if m else ("", "")
    h = _LEADING_ATS.sub("", _trim(handle)).lower()
    p = _trim(platform).lower()
    return f"{p}:{h}" if h != "" and p != "" else None


_NO_IDS = dict.fromkeys(IDENTIFIER_TYPES)  # read only


def normalized_identifiers(ids: dict | None, country: str | None) -> dict[str, str | None]:
    """pipelines.stream.parse.normalized_identifiers: email trimmed/lower-cased and shaped like
    local@domain.tld; phone E.164 (a national number takes ``country``'s calling code); social
    handle ``platform:handle`` lower-cased without '@'; other ids trimmed; blanks null."""
    return dict(_normalized_ids(ids, country))


def _normalized_ids(ids: dict | None, country: str | None) -> dict[str, str | None]:
    ids = ids or _NO_IDS  # the result is memoized: callers must not change it
    return _normalized(ids["customer_id"], ids["email"], ids["phone"], ids["device_id"],
                       ids["anonymous_id"], ids["social_handle"], country)


@lru_cache(maxsize=_MEMO)
def _normalized(customer_id: str | None, email: str | None, phone: str | None,
                device_id: str | None, anonymous_id: str | None, social_handle: str | None,
                country: str | None) -> dict[str, str | None]:
    # Memoized whole (a person's identifier set recurs); read only.
    return {
        "customer_id": _blank_to_null(customer_id),
        "email": _email(email),
        "phone": _phone(phone, country),
        "device_id": _blank_to_null(device_id),
        "anonymous_id": _blank_to_null(anonymous_id),
        "social_handle": _social(social_handle),
    }


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 0001-01-01T00:00:00Z: Spark keeps earlier times (year 0 exists there), datetime cannot.
FIRST_REPRESENTABLE_MICROS = -62135596800_000_000
_ISO_PARTS = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|([+-])(\d{2}):?(\d{2})?)", re.ASCII,
)


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Proleptic Gregorian days since 1970-01-01, also for year 0 (which datetime lacks).
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def event_time_micros(text: str) -> int | None:
    """Spark ``try_to_timestamp`` of an ISO_TIME-matching string, as epoch microseconds.

    Seconds are required (``T11:00Z`` is null); fractions beyond micros are truncated; the
    offset must be a valid ZoneOffset (at most ±18:00, minutes < 60); one trailing \\n, \\r or
    \\r\\n is trimmed, any other trailing character makes it null.
    """
    m = _ISO_PARTS.match(text)
    if not m or text[m.end():] not in ("", "\n", "\r", "\r\n") or m.group(6) is None:
        return None
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    if not (1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]:
        return None
    offset = 0
    if m.group(8) != "Z":
        oh, om = int(m.group(10)), int(m.group(11) or 0)
        if om > 59 or oh * 60 + om > 18 * 60:
            return None
        offset = (oh * 3600 + om * 60) * (1 if m.group(9) == "+" else -1)
    micros = int((m.group(7) or "").ljust(6, "0")[:6])
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return (seconds - offset) * 1_000_000 + micros


# ---------------------------------------------------------------- the rules


def _out_of_range(props: dict) -> str | None:
    score, sentiment, quantity = props["score"], props["sentiment"], props["quantity"]
    amount, unit_price, items = props["amount"], props["unit_price"], props["items"]
    if score is not None and not 1 <= score <= 5:
        return "out_of_range: properties.score (1-5)"
    if sentiment is not None and not -1.0 <= sentiment <= 1.0:
        return "out_of_range: properties.sentiment (-1..1)"  # NaN too: Spark sorts it last
    if quantity is not None and quantity < 1:
        return "out_of_range: properties.quantity (>= 1)"
    if amount is not None and amount < 0:
        return "out_of_range: properties.amount (>= 0)"
    if unit_price is not None and unit_price < 0:
        return "out_of_range: properties.unit_price (>= 0)"
    for name in ("amount", "unit_price", "cart_value"):
        if props[name] is not None and not math.isfinite(props[name]):
            return f"out_of_range: properties.{name} (finite)"
    for item in items or ():
        if item is not None and (
            (item["quantity"] is not None and item["quantity"] < 1)
            or (item["unit_price"] is not None
                and (item["unit_price"] < 0 or not math.isfinite(item["unit_price"])))
        ):
            return "out_of_range: properties.items"
    return None


def _leftover(e: dict, doc: _Doc) -> str:
    props = e["properties"] or dict.fromkeys(PROPERTIES)
    names = (*ENVELOPE_FIELDS, "schema_version", "identifiers", "properties")
    paths = [(e[f], f) for f in names]
    paths += [(props[p], f"properties.{p}") for p in PROPERTIES]
    for typed, path in paths:
        if typed is None and _raw_present(doc, path):
            return f"wrong_type: {path}"
    return "wrong_type: a nested value does not match the envelope schema"


# The common event_time shape, ``YYYY-MM-DDTHH:MM:SS`` + ``Z`` or ``.<1-9 digits>Z`` (ASCII
# digits): such a text matches ISO_TIME and its Spark timestamp is computed here directly; any
# other text, or one of this shape with an impossible date or time, takes the general path.
_UTC_SECOND = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})", re.ASCII)
_MONTH_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@lru_cache(maxsize=_MEMO)
def _utc_second(head: str) -> int | None:
    """Epoch seconds of a ``YYYY-MM-DDTHH:MM:SS`` text (UTC), None if not one or impossible."""
    m = _UTC_SECOND.fullmatch(head)
    if m is None:
        return None
    year, month, day, hour, minute, second = map(int, m.groups())
    if not (1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= (29 if month == 2 and leap else _MONTH_DAYS[month - 1]):
        return None
    return _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second


def _utc_time_micros(text: str) -> int | None:
    """event_time_micros(text) for the common shape; None: not sure, use the general path."""
    tail = text[19:]
    if tail == "Z":
        micros = 0
    else:
        frac = tail[1:-1]
        if not (tail[:1] == "." and tail[-1:] == "Z" and 1 <= len(frac) <= 9
                and frac.isascii() and frac.isdigit()):
            return None
        micros = int(frac[:6].ljust(6, "0"))
    seconds = _utc_second(text[:19])
    return None if seconds is None else seconds * 1_000_000 + micros


_REQUIRED_ENVELOPE = (*ENVELOPE_FIELDS, "schema_version")
_EVENT_TYPE_SET, _SOURCE_SET = frozenset(EVENT_TYPES), frozenset(SOURCES)
_CURRENCY_TYPE_SET = frozenset(CURRENCY_TYPES)


def _all_none(values: Any) -> bool:
    """All of these str-or-None values are None (none at all: True)."""
    values = tuple(values)
    return values.count(None) == len(values)


def _reason(e: dict, corrupt: bool, doc: _Doc | None, kafka_ms: int, params: ParseParams,
            ids: dict) -> tuple[str | None, int | None]:
    """(reason, None) for an invalid record, (None, event_time micros) for a valid one."""
    for f in _REQUIRED_ENVELOPE:
        if e[f] is None:
            return f"{'wrong_type' if _raw_present(doc, f) else 'missing_field'}: {f}", None
    event_type = e["event_type"]
    if e["schema_version"] != SCHEMA_VERSION:
        return f"unsupported_schema_version: {e['schema_version']}", None
    if event_type not in _EVENT_TYPE_SET:
        return f"unknown_event_type: {event_type}", None
    if e["source"] not in _SOURCE_SET:
        return f"unknown_source: {e['source']}", None
    et = e["event_time"]
    micros = _utc_time_micros(et)
    if micros is None:
        iso = _ISO_RE.search(et) is not None
        if not iso and _NUMBER_RE.search(et):
            return "wrong_type: event_time (a number; ISO-8601 text with offset required)", None
        micros = event_time_micros(et) if iso else None
        if micros is None:
            return f"invalid_event_time: {et}", None
    if micros > kafka_ms * 1000 + int(params.future_tolerance_s * 1_000_000):
        return f"future_time: {et}", None
    identifiers = e["identifiers"]
    if identifiers is None and _raw_present(doc, "identifiers"):
        return "wrong_type: identifiers", None
    if identifiers is None or _all_none(identifiers.values()):
        return "missing_field: identifiers", None
    if _all_none(ids.values()):
        return "missing_field: identifiers (none usable after normalization)", None
    props = e["properties"] or _NO_PROPS
    for missing in REQUIRED_PROPERTIES[event_type]:
        if props[missing] is None:
            kind = "wrong_type" if _raw_present(doc, f"properties.{missing}") else "missing_field"
            return f"{kind}: properties.{missing}", None
    if event_type == "order_placed" and not all(
        i is not None and None not in (i["sku"], i["quantity"], i["unit_price"])
        for i in props["items"]
    ):
        return "wrong_type: properties.items (each needs sku, quantity, unit_price)", None
    if (event_type in _CURRENCY_TYPE_SET
            and props["currency"].strip(" ").upper() not in params.rates):
        return f"unknown_currency: {props['currency']}", None
    out_of_range = _out_of_range(props)
    if out_of_range:
        return out_of_range, None
    return (_leftover(e, doc), None) if corrupt else (None, micros)


_NO_PROPS = dict.fromkeys(PROPERTIES)  # read only


def _event(e: dict, micros: int, ids: dict, params: ParseParams, origin: str) -> dict:
    props = dict(e["properties"] or _NO_PROPS)
    currency = props["currency"]
    if currency is not None:
        currency = currency.strip(" ").upper()
    if currency is None or currency not in params.rates:
        base = {"amount": None, "cart_value": None, "unit_price": None}
    else:
        rate = float(params.rates[currency])
        amount, cart_value, unit_price = props["amount"], props["cart_value"], props["unit_price"]
        base = {
            "amount": None if amount is None else spark_round4(amount * rate),
            "cart_value": None if cart_value is None else spark_round4(cart_value * rate),
            "unit_price": None if unit_price is None else spark_round4(unit_price * rate),
        }
    if e["event_type"] in _CURRENCY_TYPE_SET:
        props["currency"] = currency  # required, so not None here
    if props["attributes"] is not None:
        props["attributes"] = dict(props["attributes"])  # a duplicate key: the last one
    event_time = _EPOCH + timedelta(microseconds=micros)
    return {
        "event_id": e["event_id"], "event_type": e["event_type"], "event_time": event_time,
        "source": e["source"], "identifiers": ids, "properties": props, "base_amounts": base,
        "origin": origin, "ingested_at": None, "event_date": event_time.date(),
    }


def _verdict(e: dict, corrupt: bool, doc: _Doc | None, kafka_ms: int, params: ParseParams,
             ) -> tuple[dict, int | None, str | None]:
    """The rules for a typed envelope ``e`` (both paths share them): its normalized
    identifiers (memoized: read only) and event_time micros, or the reason it is invalid."""
    props = e["properties"] or _NO_PROPS
    ids = _normalized_ids(e["identifiers"], _lookup(props["attributes"], "country"))
    reason, micros = _reason(e, corrupt, doc, kafka_ms, params, ids)
    if reason is None and micros < FIRST_REPRESENTABLE_MICROS:  # the one verdict not Spark's
        reason = f"invalid_event_time: {e['event_time']}"
    return ids, micros, reason


def _conclude(e: dict, corrupt: bool, doc: _Doc | None, kafka_ms: int, params: ParseParams,
              origin: str) -> tuple[dict | None, str | None]:
    """The canonical event for a typed envelope ``e``, or the reason it is invalid."""
    ids, micros, reason = _verdict(e, corrupt, doc, kafka_ms, params)
    if reason is not None:
        return None, reason
    event = _event(e, micros, dict(ids), params, origin)
    if event["properties"]["items"] is not None:
        event["properties"]["items"] = [i if i is None else dict(i)
                                        for i in event["properties"]["items"]]
    return event, None


def classify_exact(value: bytes | str | None, kafka_timestamp_ms: int, params: ParseParams,
                   origin: str = "") -> tuple[dict | None, str | None]:
    """``classify`` by the exact emulator alone (the reference the fast path is tested on)."""
    text = None if value is None else java_text(value)
    if text is None or not text.lstrip(" ").startswith("{"):
        return None, "invalid_json: not a JSON object"
    try:
        doc = _parse_object(text)
    except _Syntax:
        return None, "invalid_json: not a JSON object"
    e, corrupt = _typed(doc.root, ENVELOPE)
    # A corrupt record counts as an object only if strict JSON parses it.
    if corrupt and (doc.nonnum or doc.duplicates or doc.lone_surrogate):
        return None, "invalid_json: not a JSON object"
    return _conclude(e, corrupt, doc, kafka_timestamp_ms, params, origin)


# ---------------------------------------------------------------- the fast path
#
# Most records are plain JSON whose every field has its schema type. For those, Python's C JSON
# scanner builds the same values as _parse_object + _typed, so the typed envelope is read from
# its output and the shared rules (_conclude) run on it. The fast path is taken only when ALL of
# these hold; anything else (or any doubt) goes to the exact emulator, classify_exact:
#
# 1. ``value`` is ``bytes`` that decode as strict UTF-8 (then Java's replacing decoder gives the
#    same text), or a ``str`` without surrogate code points (java_text leaves it unchanged).
# 2. Jackson's limits cannot be reached: the text has at most MAX_NAME_LEN (50,000) characters
#    (so no string or name is too long), at most MAX_DEPTH '{' plus '[' characters (so nesting is
#    at most 1000 deep), and no run of more than MAX_NUMBER_LEN characters of [-+.0-9eE] (so no
#    number token is too long).
# 3. No ``\uD800``-``\uDFFF`` escape (text matching ``\\u[dD][89a-fA-F]``): with 1., no string
#    can then hold a lone surrogate (doc.lone_surrogate is False, no '?' replacement).
# 4. After leading spaces the text starts with '{' and the C scanner reads one object there
#    (text after it is ignored, as Jackson does). The scanner's grammar is strict JSON, a subset
#    of _parse_object's (same whitespace set, same string scanner, ASCII-digit numbers parsed with
#    int()/float() of the same token); NaN/Infinity/-Infinity tokens (parse_constant) and a
#    duplicate key in any object (object_pairs_hook) abort the fast path, so doc.nonnum and
#    doc.duplicates are False.
# 5. Every known field (of ENVELOPE, IDENTIFIERS, PROPERTIES, ORDER_ITEM) is null, absent or of
#    exactly its type: string → str; int → int (not bool) in [-2^31, 2^31); bigint → int in
#    [-2^63, 2^63); boolean → bool; double → float, or an int in [-2^53, 2^53] (float(n) is then
#    float(token); 0 only if no "-0" in the text can be a token, as "-0" reads as -0.0); the map
#    → an object of str/null values; items → an array of objects (or nulls) of this kind; a
#    struct → an object. Unknown keys may hold anything (_typed ignores them, and with 2.-4.
#    they cannot make the parse fail). Then _typed would find no mismatch: corrupt is False and
#    each typed value is the scanner's value, in the schema's key order.
# 6. With corrupt False and no NaN token or duplicate key, get_json_object finds a path only if
#    its typed value is non-null, so the rules' _raw_present(doc, path) - asked only for a null
#    typed value - is False: _conclude runs with doc=None, for which _raw_present says False.


class _NotSure(Exception):
    """The fast path cannot vouch for this record: the exact emulator decides."""


def _no_nonnum(token: str) -> Any:
    raise _NotSure  # NaN, Infinity, -Infinity


# Objects come back as tuples of (key, value) pairs (a C call, arrays stay lists): a duplicate
# key is seen where it matters, in the objects the schema types.
_SCAN = JSONDecoder(object_pairs_hook=tuple, parse_constant=_no_nonnum).scan_once
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONG_NUMBER = re.compile(f"[-+.0-9eE]{{{MAX_NUMBER_LEN + 1}}}")
_MINUS_ZERO = re.compile(r"-0(?![.0-9eE])")  # where a "-0" token could be
_EXACT_INT = 2**53


class _Struct:
    """A struct type prepared for the fast path: its empty row and, per field, what to check:
    ``str``, ``float`` or ``bool`` (exactly that Python type), an int range (lo, hi), "map", a
    _Struct, or a one-element list holding the element _Struct."""

    __slots__ = ("row", "fields")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.row = dict.fromkeys(schema)
        simple = {"string": str, "double": float, "boolean": bool, "int": (-(2**31), 2**31),
                  "bigint": (-(2**63), 2**63), "map<string,string>": "map"}
        self.fields: dict[str, Any] = {
            k: [_Struct(t[0])] if isinstance(t, list)
            else _Struct(t) if isinstance(t, dict) else simple[t]
            for k, t in schema.items()
        }


def _fast_struct(obj: Any, struct: _Struct, text: str) -> dict[str, Any]:
    """_typed(obj, schema)'s row when it has no mismatch; raises _NotSure otherwise."""
    if type(obj) is not tuple or len(dict(obj)) != len(obj):
        raise _NotSure  # not an object, or a duplicate key
    row = struct.row.copy()
    fields = struct.fields
    for key, value in obj:
        want = fields.get(key)
        if want is None or value is None:
            continue  # unknown key (ignored) or null (the row's None)
        if want is str or want is bool:
            if type(value) is not want:
                raise _NotSure
        elif want is float:
            if type(value) is not float:
                if type(value) is not int or not -_EXACT_INT <= value <= _EXACT_INT or (
                        value == 0 and _MINUS_ZERO.search(text)):
                    raise _NotSure
                value = float(value)
        elif type(want) is tuple:
            if type(value) is not int or not want[0] <= value < want[1]:
                raise _NotSure
        elif want == "map":
            if type(value) is not tuple:
                raise _NotSure
            pairs, value = value, dict(value)
            if len(value) != len(pairs) or not all(
                    v is None or type(v) is str for v in value.values()):
                raise _NotSure
        elif type(want) is list:
            if type(value) is not list:
                raise _NotSure
            value = [None if item is None else _fast_struct(item, want[0], text)
                     for item in value]
        else:
            value = _fast_struct(value, want, text)
        row[key] = value
    return row


_ENVELOPE_STRUCT = _Struct(ENVELOPE)


def _fast_envelope(value: bytes | str | None) -> dict | None:
    """The typed envelope when conditions 1.-5. hold, else None."""
    if type(value) is bytes:
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return None
    elif type(value) is str and not _LONE_SURROGATE.search(value):
        text = value
    else:
        return None
    n = len(text)
    if (n > MAX_NAME_LEN or text.count("{") + text.count("[") > MAX_DEPTH
            or (n > MAX_NUMBER_LEN and _LONG_NUMBER.search(text))
            or ("\\u" in text and _SURROGATE_ESCAPE.search(text))):
        return None
    body = text.lstrip(" ")
    if body[:1] != "{":
        return None
    try:
        root, _ = _SCAN(text, n - len(body))
        return _fast_struct(root, _ENVELOPE_STRUCT, text)
    except (_NotSure, ValueError, StopIteration, RecursionError):
        return None


def classify(value: bytes | str | None, kafka_timestamp_ms: int, params: ParseParams,
             origin: str = "") -> tuple[dict | None, str | None]:
    """(canonical event, None) for a valid record, (None, reason) for an invalid one.

    The event is the EVENT_LOG row as ``Row.asDict(recursive=True)`` gives it, with
    ``event_time`` an aware UTC datetime; the reason is classify_records' text, rules checked in
    its order (see pipelines/stream/parse.py). ``kafka_timestamp_ms`` is the record's Kafka
    timestamp, the reference of ``future_time``.

    Plain records take the fast path (see its conditions above), all others the exact emulator
    (``classify_exact``); both give the same result.
    """
    e = _fast_envelope(value)
    if e is None:
        return classify_exact(value, kafka_timestamp_ms, params, origin)
    return _conclude(e, False, None, kafka_timestamp_ms, params, origin)


def admit(value: bytes | str | None, kafka_timestamp_ms: int, params: ParseParams,
          ) -> tuple[str, Mapping[str, str | None]] | tuple[None, str]:
    """``classify``'s verdict without building the canonical event: ``(event_id, normalized
    identifiers)`` for a valid record (the identifiers are shared: read only), ``(None,
    reason)`` for an invalid one. What the hot lane needs per record, at less cost."""
    e = _fast_envelope(value)
    if e is None:
        event, reason = classify_exact(value, kafka_timestamp_ms, params)
        return (None, reason) if event is None else (event["event_id"], event["identifiers"])
    ids, _, reason = _verdict(e, False, None, kafka_timestamp_ms, params)
    return (None, reason) if reason is not None else (e["event_id"], ids)
