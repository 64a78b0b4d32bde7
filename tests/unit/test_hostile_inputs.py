"""Fault suite: generated hostile inputs (issue 13) over the event envelope and the batch sources.

Each generated input carries the verdict the documented rules give it (docs/events.md,
docs/streaming.md "Validation", docs/sources.md "Rejected rows"), written here from the docs,
not from the code:

- ``reject``: quarantined with a reason that starts with the documented code;
- ``accept``: accepted, with the fields the docs define equal to what the rule gives
  (event_time in UTC, e-mails trimmed and lower-cased, currency upper-cased, amounts in the
  base currency = amount × rate rounded to 4 places);
- ``either``: the docs do not decide (e.g. invalid UTF-8 inside a string value): quarantined
  with a non-empty reason, or accepted.

Extra fields the contract does not name are not judged (docs/events.md and docs/sources.md,
"Schema evolution": a new optional field never breaks a record). Always: no crash, and
input count = accepted + quarantined.

The Python paths (the hot lane's ``classify`` and ``admit``) see 200 examples in the default
run and 1,000 with ``--run-long``; the Spark paths (stream ``classify_records``, each batch
source's normalizer) see one DataFrame of many generated records per source, one Spark job.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pipelines.events import validate as v
from pipelines.stream.settings import ParseParams

RATES = {"EUR": 1.0, "USD": 0.92, "JPY": 0.0062}
PARAMS = ParseParams(base_currency="EUR", rates=RATES, future_tolerance_s=600)
SENT_MS = 1_788_264_000_000  # 2026-09-01T12:00:00Z: the Kafka timestamp of every record
SENT = datetime.fromtimestamp(SENT_MS / 1000, UTC)
TOLERANCE = timedelta(seconds=600)

INJECTIONS = (
    "'; DROP TABLE events; --", "<script>alert(1)</script>", "${jndi:ldap://x/a}",
    "../../etc/passwd", "%s%s%n", "\u202etxt.exe", "Robert'); --", "{{7*7}}", "a\u0000b",
    "\U0001f600 emoji", "x" * 100_000,
)
EXTRA_VALUES = (None, 1, "x", [1, {"a": None}], {"k": "v"}, 10**40, True)
BAD_UTF8 = (b"\xff", b"\xc0\xaf", b"\xe2\x82", b"\xf0\x9f\x98", b"\xed\xa0\x80")


@dataclass
class Case:
    """One hostile input and its documented verdict."""

    value: bytes | None
    verdict: str  # "accept", "reject" or "either"
    reason: str = ""  # the documented code a rejection's reason starts with
    expect: dict[str, Any] = field(default_factory=dict)  # accepted: field -> documented value
    what: str = ""


def _half_up4(x: float) -> float:
    return float(Decimal(repr(x)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def _iso(when: datetime, offset_min: int) -> str:
    tz = UTC if offset_min == 0 else None
    local = when.astimezone(tz) if tz else when + timedelta(minutes=offset_min)
    text = local.replace(tzinfo=None).isoformat(timespec="milliseconds")
    if offset_min == 0:
        return text + "Z"
    sign = "+" if offset_min > 0 else "-"
    return f"{text}{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"


# ---------------------------------------------------------------- valid envelopes

words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                max_size=12).filter(lambda s: s.strip(" "))
money = st.floats(0, 10_000, allow_nan=False).map(lambda x: round(x, 2))


@st.composite
def valid_envelope(draw) -> tuple[dict, dict]:
    """(envelope, the documented values of the event it must become)."""
    event_type = draw(st.sampled_from(("page_view", "add_to_cart", "order_placed",
                                       "csat_submitted", "social_mention", "consent_updated")))
    source = {"page_view": "web", "add_to_cart": "web", "order_placed": "orders",
              "csat_submitted": "support", "social_mention": "social",
              "consent_updated": "crm"}[event_type]
    # Late (up to a year) or slightly ahead of the Kafka timestamp, within the tolerance.
    skew_s = draw(st.one_of(st.integers(-365 * 86400, 0), st.integers(0, 599)))
    when = SENT + timedelta(seconds=skew_s, milliseconds=draw(st.integers(0, 999)))
    offset = draw(st.sampled_from((0, 120, -300, 330, 60)))
    n = draw(st.integers(0, 10**6))
    email = draw(st.sampled_from((f"user{n}@example.com", f"  User{n}@Example.COM ",
                                  f"USER{n}@EXAMPLE.COM")))
    currency = draw(st.sampled_from(("EUR", "usd", " JPY ")))
    props: dict[str, Any]
    if event_type == "page_view":
        props = {"url": draw(words), "session_id": draw(words)}
    elif event_type == "add_to_cart":
        props = {"sku": draw(words), "category": draw(words), "quantity": draw(st.integers(1, 99)),
                 "unit_price": draw(money), "currency": currency}
    elif event_type == "order_placed":
        items = [{"sku": draw(words), "category": "home", "quantity": draw(st.integers(1, 5)),
                  "unit_price": draw(money)} for _ in range(draw(st.integers(1, 3)))]
        props = {"order_id": draw(words), "amount": draw(money), "currency": currency,
                 "items": items}
    elif event_type == "csat_submitted":
        props = {"score": draw(st.integers(1, 5))}
    elif event_type == "social_mention":
        props = {"platform": "twitter", "handle": "@x",
                 "sentiment": draw(st.floats(-1, 1, allow_nan=False))}
    else:
        props = {"personalization": draw(st.booleans()), "marketing": draw(st.booleans())}
    env = {
        "event_id": draw(words), "event_type": event_type, "event_time": _iso(when, offset),
        "source": source, "identifiers": {"email": email, "anonymous_id": f"anon-{n}"},
        "properties": props, "schema_version": 1,
    }
    expect = {"event_id": env["event_id"], "event_type": event_type, "source": source,
              "event_time": when.replace(microsecond=when.microsecond // 1000 * 1000),
              "email": email.strip().lower(), "anonymous_id": f"anon-{n}"}
    for name in ("quantity", "score", "personalization", "marketing", "url", "sku"):
        if name in props:
            expect[f"properties.{name}"] = props[name]
    if "currency" in props:
        code = currency.strip().upper()
        expect["properties.currency"] = code
        for name in ("amount", "unit_price"):
            if name in props:
                expect[f"base_amounts.{name}"] = _half_up4(props[name] * RATES[code])
    return env, expect


# ---------------------------------------------------------------- hostile changes

def _encode(env: Any) -> bytes:
    return json.dumps(env, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _deep(env: dict, depth: int) -> bytes:
    """The envelope with an extra field nested ``depth`` objects deep (as text: too deep for
    Python's own encoder)."""
    env["extra"] = "@@DEEP@@"
    return _encode(env).replace(b'"@@DEEP@@"', b'{"a":' * depth + b"1" + b"}" * depth)


NUMERIC = {"quantity": "int", "unit_price": "double", "amount": "double", "score": "int",
           "sentiment": "double", "personalization": "boolean", "marketing": "boolean"}


@st.composite
def hostile_case(draw) -> Case:
    env, expect = draw(valid_envelope())
    props = env["properties"]
    kind = draw(st.sampled_from((
        "valid", "drop_field", "schema_version_type", "unknown_type", "unknown_source",
        "time_number", "time_no_offset", "time_future", "time_garbage", "no_identifiers",
        "identifiers_not_object", "drop_property", "property_wrong_type", "huge_int",
        "non_finite", "negative", "out_of_range_score", "injection", "extra_fields",
        "deep_extra", "too_deep", "bad_utf8", "not_an_object", "truncated",
    )))
    reject = lambda reason, what=kind: Case(_encode(env), "reject", reason, what=what)  # noqa: E731
    if kind == "valid":
        return Case(_encode(env), "accept", expect=expect, what=kind)
    if kind == "drop_field":
        name = draw(st.sampled_from(("event_id", "event_type", "event_time", "source",
                                     "schema_version")))
        del env[name]
        return reject(f"missing_field: {name}")
    if kind == "schema_version_type":
        env["schema_version"] = draw(st.sampled_from(("1", 1.5, True, [1], {"v": 1}, 2, 2**70)))
        return reject("")  # wrong_type or unsupported_schema_version: any reason
    if kind == "unknown_type":
        env["event_type"] = draw(st.sampled_from(("login", "PAGE_VIEW", "page_view ", "",
                                                  *INJECTIONS[:4])))
        return reject("unknown_event_type")
    if kind == "unknown_source":
        env["source"] = draw(st.sampled_from(("fax", "Web", "", *INJECTIONS[:4])))
        return reject("unknown_source")
    if kind == "time_number":
        env["event_time"] = draw(st.sampled_from((SENT_MS, SENT_MS // 1000, 0, -1)))
        return reject("wrong_type: event_time")
    if kind == "time_no_offset":
        env["event_time"] = env["event_time"][:19]
        return reject("invalid_event_time")
    if kind == "time_future":
        ahead = timedelta(seconds=draw(st.integers(601, 10**9)))
        env["event_time"] = _iso(SENT + ahead, draw(st.sampled_from((0, 120, -300))))
        return reject("future_time")
    if kind == "time_garbage":
        env["event_time"] = draw(st.sampled_from((
            "2026-02-30T10:00:00Z", "yesterday", "2026-09-01T25:00:00Z", "", "NaN",
            "2026-09-01T10:00:00+25:00", *INJECTIONS[:3])))
        return reject("invalid_event_time")
    if kind == "no_identifiers":
        env["identifiers"] = draw(st.sampled_from(({}, {"email": None}, {"customer_id": "  "},
                                                   {"email": "not-an-email"}, {"x": "y"})))
        return reject("missing_field: identifiers")
    if kind == "identifiers_not_object":
        env["identifiers"] = draw(st.sampled_from(("a@b.com", 5, ["a@b.com"], True)))
        return reject("wrong_type: identifiers")
    if kind == "drop_property":
        name = draw(st.sampled_from(sorted(props)))
        required = {"page_view": ("url", "session_id"), "add_to_cart": (
            "sku", "category", "quantity", "unit_price", "currency"),
            "order_placed": ("order_id", "amount", "currency", "items"),
            "csat_submitted": ("score",), "social_mention": ("platform", "handle"),
            "consent_updated": ("personalization", "marketing")}[env["event_type"]]
        del props[name]
        if name in required:
            return reject(f"missing_field: properties.{name}")
        return Case(_encode(env), "accept", expect=expect, what=kind)  # an optional one
    numeric = [p for p in props if p in NUMERIC]
    if kind in ("property_wrong_type", "huge_int", "non_finite", "negative") and not numeric:
        kind = "injection"
    if kind == "property_wrong_type":
        name = draw(st.sampled_from(numeric))
        props[name] = draw(st.sampled_from(("abc", "12,50", "N/A", "", [1], {"v": 1}) + (
            ("yes", 1) if NUMERIC[name] == "boolean" else (True, "2"))))
        return reject(f"wrong_type: properties.{name}")
    if kind == "huge_int":
        ints = [p for p in numeric if NUMERIC[p] == "int"]
        if not ints:
            kind = "non_finite"
        else:
            name = draw(st.sampled_from(ints))
            props[name] = draw(st.sampled_from((2**31, -(2**31) - 1, 10**30)))
            return reject(f"wrong_type: properties.{name}")
    if kind == "non_finite":
        doubles = [p for p in numeric if NUMERIC[p] == "double"]
        if not doubles:
            kind = "negative"
        else:
            name = draw(st.sampled_from(doubles))
            props[name] = draw(st.sampled_from((math.nan, math.inf, -math.inf, 1e309)))
            # An amount, price or sentiment that is no number at all is not in its range.
            return reject("out_of_range", f"non_finite {name}")
    if kind == "negative":
        name = draw(st.sampled_from(numeric))
        if NUMERIC[name] == "boolean":
            kind = "injection"
        else:
            low = {"quantity": 0, "score": 0, "unit_price": -0.01, "amount": -1.0,
                   "sentiment": -1.5}[name]
            props[name] = low
            return reject(f"out_of_range: properties.{name}")
    if kind == "out_of_range_score":
        if env["event_type"] == "csat_submitted":
            props["score"] = draw(st.sampled_from((0, 6, -5, 2**31 - 1)))
            return reject("out_of_range: properties.score")
        kind = "injection"
    if kind == "injection":
        text = draw(st.sampled_from(INJECTIONS))
        env["event_id"] = text
        expect["event_id"] = text
        return Case(_encode(env), "accept", expect=expect, what=kind)
    if kind == "extra_fields":
        env[draw(st.sampled_from(("extra", "x-trace", "EVENT_ID", "schema")))] = draw(
            st.sampled_from(EXTRA_VALUES))
        props[draw(st.sampled_from(("coupon", "utm_source", "x")))] = draw(
            st.sampled_from(EXTRA_VALUES))
        env["identifiers"]["loyalty_card"] = "L-1"
        return Case(_encode(env), "accept", expect=expect, what=kind)
    if kind == "deep_extra":
        return Case(_deep(env, draw(st.integers(10, 990))), "accept", expect=expect, what=kind)
    if kind == "too_deep":
        return Case(_deep(env, draw(st.integers(1000, 3000))), "reject", "invalid_json",
                    what=kind)
    if kind == "bad_utf8":
        data = _encode(env)
        at = data.index(b'"event_id"') + len(b'"event_id": "')
        return Case(data[:at] + draw(st.sampled_from(BAD_UTF8)) + data[at:], "either", what=kind)
    if kind == "not_an_object":
        value = draw(st.sampled_from((b"", b"null", b"[]", b'"x"', b"42", None, b"\xff\xfe",
                                      b"{'event_id': 'x'}", b"\x00" * 10)))
        return Case(value, "reject", "invalid_json", what=kind)
    data = _encode(env)  # truncated: any proper prefix of the object
    return Case(data[: draw(st.integers(0, len(data) - 1))], "reject", "invalid_json", what=kind)


# ---------------------------------------------------------------- the oracle


def _field(event: dict, dotted: str) -> Any:
    if dotted in ("email", "anonymous_id"):
        return event["identifiers"][dotted]
    node: Any = event
    for part in dotted.split("."):
        node = node[part]
    return node


def check(case: Case, event: dict | None, reason: str | None) -> None:
    """The documented verdict holds for one input's (event, reason)."""
    assert (event is None) != (reason is None), "exactly one of event and reason"
    if event is None:
        assert case.verdict != "accept", f"{case.what}: quarantined ({reason}) {case.value[:300]!r}"
        assert reason and reason.strip(), f"{case.what}: empty reason"
        assert reason.startswith(case.reason), f"{case.what}: {reason!r} {case.value[:300]!r}"
        return
    assert case.verdict != "reject", f"{case.what}: accepted, wanted {case.reason!r}: " \
                                     f"{case.value[:300]!r}"
    for name, want in case.expect.items():
        got = _field(event, name)
        if name == "event_time":
            got = got.astimezone(UTC)
        assert got == want, f"{case.what}: {name} = {got!r}, documented {want!r}"
    if "event_time" in case.expect:
        assert event["event_date"] == case.expect["event_time"].date()


def _python_paths(cases: list[Case]) -> None:
    for case in cases:
        event, reason = v.classify(case.value, SENT_MS, PARAMS)
        check(case, event, reason)
        event_id, ids_or_reason = v.admit(case.value, SENT_MS, PARAMS)
        if event_id is None:
            check(case, None, ids_or_reason)
        else:
            assert event is not None and event_id == event["event_id"]
            assert dict(ids_or_reason) == event["identifiers"]


_PY = dict(deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(max_examples=200, **_PY)
@given(case=hostile_case())
def test_hostile_envelopes_python_paths(case):
    _python_paths([case])


@pytest.mark.long
@settings(max_examples=1000, **_PY)
@given(case=hostile_case())
def test_hostile_envelopes_python_paths_long(case):
    _python_paths([case])


# ---------------------------------------------------------------- the Spark paths
#
# One DataFrame of many generated inputs per path, one Spark job: a Spark job per example would
# cost seconds each. No shrinking (each step would be another job); the message names the input.
# Hypothesis' first example is its simplest (all valid), so the inputs are collected from a
# whole run of examples first, then judged together.

KAFKA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"


def _stream_path(spark, cases: list[Case]) -> None:
    from pipelines.gate.quarantine import REASON
    from pipelines.stream import parse

    sent = datetime(1970, 1, 1) + timedelta(milliseconds=SENT_MS)
    rows = [(b"k", case.value, "t", 0, i, sent) for i, case in enumerate(cases)]
    out = parse.classify_records(spark.createDataFrame(rows, KAFKA), PARAMS).select(
        "offset", REASON, "event_id", "event_type", "event_time", "event_date", "source",
        "identifiers", "properties", "base_amounts").collect()
    assert sorted(r.offset for r in out) == list(range(len(cases)))  # none lost, none doubled
    for r in out:
        row = r.asDict(recursive=True)
        reason = row.pop(REASON)
        check(cases[row.pop("offset")], None if reason is not None else row, reason)


def generated(strategy: st.SearchStrategy, n: int) -> list:
    """``n`` examples of ``strategy`` as Hypothesis explores it (the first is its simplest,
    the rest spread over every branch), collected for one Spark job."""
    out: list = []

    @settings(max_examples=n, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example):
        out.append(example)

    collect()
    return out


def test_hostile_envelopes_stream_classify(spark):
    _stream_path(spark, generated(hostile_case(), 200))


@pytest.mark.long
def test_hostile_envelopes_stream_classify_long(spark):
    _stream_path(spark, generated(hostile_case(), 1000))


# ---------------------------------------------------------------- the batch sources
#
# Each generated row is a documented base row (tests/unit/test_normalize.py) with one hostile
# change and the verdict docs/sources.md gives it. Each row gets its own _source_file, which
# every event's origin (`<file>#<key>`) and every reject keep: so each row is found again.

FUTURE_S = 10 * 365 * 86400  # far past ingest.max_future_s (300 s) from any wall clock


@dataclass
class Row:
    data: dict | str  # a JSON-lines object/text, or the CSV columns
    verdict: str
    reason: str = ""
    expect: dict[str, Any] = field(default_factory=dict)
    what: str = ""


def _utc(text: str, fmt: str) -> datetime:
    return datetime.strptime(text, fmt).replace(tzinfo=UTC)


@st.composite
def web_row(draw) -> Row:
    from tests.unit.test_normalize import WEB_LINE

    line = dict(WEB_LINE, event_id=f"ev-{draw(st.integers(0, 10**9)):x}")
    ok = {"event_time": datetime.fromtimestamp(line["ts"] / 1000, UTC),
          "properties.quantity": 2, "base_amounts.unit_price": _half_up4(165.99 * 0.92)}
    kind = draw(st.sampled_from(("valid", "ts_garbage", "ts_type", "ts_old", "ts_future",
                                 "qty_type", "qty_range", "price_type", "price_nonfinite", "no_id",
                                 "injection", "extra", "not_json", "unknown_event")))
    if kind == "valid":
        return Row(line, "accept", expect=ok, what=kind)
    if kind == "ts_garbage":
        line["ts"] = None
        return Row(line, "reject", "web: unparseable or impossible timestamp", what=kind)
    if kind == "ts_type":  # epoch ms is a JSON number (docs/sources.md, schema evolution)
        line["ts"] = draw(st.sampled_from(("yesterday", "2026-08-01T10:00:00Z", [1], 10**30)))
        return Row(line, "reject", "web: wrong_type: ts", what=kind)
    if kind == "ts_old":
        line["ts"] = draw(st.integers(-(10**12), 946_684_799_999))
        return Row(line, "reject", "web: timestamp before 2000-01-01", what=kind)
    if kind == "ts_future":
        line["ts"] = int((datetime.now(UTC).timestamp() + FUTURE_S) * 1000)
        return Row(line, "reject", "web: timestamp in the future", what=kind)
    if kind in ("qty_type", "price_type"):
        name = "qty" if kind == "qty_type" else "price"
        line[name] = draw(st.sampled_from(("two", "12,50", "N/A", True, [1], {"n": 1}, 10**30)
                                          if name == "qty" else ("cheap", "12,50", True, [1])))
        return Row(line, "reject", f"web: wrong_type: {name}", what=kind)
    if kind == "qty_range":
        line["qty"] = draw(st.integers(-(2**31), 0))
        return Row(line, "reject", "web: out_of_range: properties.quantity", what=kind)
    if kind == "price_nonfinite":
        line["price"] = draw(st.sampled_from(("NaN", "Infinity", "-Infinity", math.nan, 1e309)))
        # As text: a number out of range; as a bare NaN/Infinity token: not JSON (any reason).
        return Row(line, "reject", "web: out_of_range: properties.unit_price"
                   if isinstance(line["price"], str) else "web: ", what=kind)
    if kind == "no_id":
        line.update(anon_id=None, user_id=draw(st.sampled_from((None, "", "  "))), device_id=None)
        return Row(line, "reject", "web: no identifier", what=kind)
    if kind == "injection":
        line["url"] = draw(st.sampled_from(INJECTIONS))
        return Row(line, "accept", expect={**ok, "properties.url": line["url"]}, what=kind)
    if kind == "extra":
        line["coupon"] = draw(st.sampled_from(EXTRA_VALUES))
        text = json.dumps(line)[:-1] + ', "trace": ' + '{"a":' * 200 + "1" + "}" * 200 + "}"
        return Row(text, "accept", expect=ok, what=kind)
    if kind == "unknown_event":
        line["event"] = draw(st.sampled_from(("login", "", *INJECTIONS[:3])))
        return Row(line, "reject", "web: unknown event", what=kind)
    text = json.dumps(line)
    return Row(draw(st.sampled_from(("{'event_id': 'x'}", "", "[]", "null", text[:len(text) // 2],
                                     "\x00\x01"))), "reject", "web: ", what=kind)


@st.composite
def social_row(draw) -> Row:
    from tests.unit.test_normalize import MENTION

    m = dict(MENTION, id=str(draw(st.integers(0, 10**18))))
    ok = {"event_time": _utc("Aug 12 16:26:11 2026", "%b %d %H:%M:%S %Y"),
          "properties.sentiment": 0.78}
    kind = draw(st.sampled_from(("valid", "time_garbage", "time_old", "time_future",
                                 "sentiment_type", "sentiment_range", "sentiment_token", "no_id",
                                 "injection",
                                 "extra", "no_id_field")))
    if kind == "valid":
        return Row(m, "accept", expect=ok, what=kind)
    if kind == "time_garbage":
        m["created_time"] = draw(st.sampled_from(("2 hours ago", "", None, "Wed Feb 30 10:00:00 "
                                                  "+0000 2026", *INJECTIONS[:2])))
        return Row(m, "reject", "social: unparseable or impossible timestamp", what=kind)
    if kind == "time_old":
        m["created_time"] = "Fri Dec 31 23:59:59 +0000 1999"
        return Row(m, "reject", "social: timestamp before 2000-01-01", what=kind)
    if kind == "time_future":
        m["created_time"] = "Sun Aug 12 16:26:11 +0000 2091"
        return Row(m, "reject", "social: timestamp in the future", what=kind)
    if kind == "sentiment_type":
        m["sentiment"] = draw(st.sampled_from(("very happy", "12,5", True, [0.5])))
        return Row(m, "reject", "social: wrong_type: sentiment", what=kind)
    if kind == "sentiment_range":
        m["sentiment"] = draw(st.sampled_from((3.5, -1.01, "NaN", "-Infinity")))
        return Row(m, "reject", "social: out_of_range: properties.sentiment", what=kind)
    if kind == "sentiment_token":  # a bare NaN/Infinity token is not JSON: any reason
        m["sentiment"] = draw(st.sampled_from((math.nan, math.inf, 1e309)))
        return Row(m, "reject", "social: ", what=kind)
    if kind == "no_id":
        m.update(handle=None, profile_email=draw(st.sampled_from((None, "", "not an email"))))
        return Row(m, "reject", "social: no identifier", what=kind)
    if kind == "no_id_field":
        m["id"] = draw(st.sampled_from((None, "", "   ")))
        return Row(m, "reject", "social: ", what=kind)
    if kind == "injection":
        m["text"] = draw(st.sampled_from(INJECTIONS))
        return Row(m, "accept", expect=ok, what=kind)
    m["lang"] = draw(st.sampled_from(EXTRA_VALUES))
    return Row(m, "accept", expect=ok, what=kind)


@st.composite
def ticket_row(draw) -> Row:
    from tests.unit.test_normalize import TICKET_LINE

    t = dict(TICKET_LINE, ticket=f"T-{draw(st.integers(0, 10**12)):016X}")
    ok = {"event_time": _utc("2026-08-07 10:00:00", "%Y-%m-%d %H:%M:%S")}
    kind = draw(st.sampled_from(("valid", "time_garbage", "time_future", "created_garbage",
                                 "csat_type", "csat_range", "no_id", "injection", "extra")))
    if kind == "valid":
        return Row(t, "accept", expect=ok, what=kind)
    if kind == "time_garbage":
        t["updated_at"] = draw(st.sampled_from(("05/08/2026 14:22", "2026-02-30 10:00:00 UTC",
                                                "", None, 1785547311562)))
        return Row(t, "reject", "tickets: unparseable or impossible timestamp", what=kind)
    if kind == "time_future":
        t["updated_at"] = "2091-08-07 10:00:00 UTC"
        return Row(t, "reject", "tickets: timestamp in the future", what=kind)
    if kind == "created_garbage":
        t["created_at"] = draw(st.sampled_from(("2026-02-30 09:37:08 UTC", "soon")))
        return Row(t, "reject", "tickets: unparseable or impossible created_at", what=kind)
    if kind == "csat_type":
        t["csat"] = draw(st.sampled_from(("great", "4.5", True, 10**30, [4])))
        return Row(t, "reject", "tickets: wrong_type: csat", what=kind)
    if kind == "csat_range":
        t["csat"] = draw(st.sampled_from((0, 6, 7, -1, 2**31 - 1)))
        return Row(t, "reject", "tickets: out_of_range: properties.score (1-5)", what=kind)
    if kind == "no_id":
        t["requester"] = draw(st.sampled_from(({"email": None, "customer_number": None}, None,
                                               {}, {"email": " ", "customer_number": ""})))
        return Row(t, "reject", "tickets: no identifier", what=kind)
    if kind == "injection":
        t["category"] = draw(st.sampled_from(INJECTIONS[:4]))
        return Row(t, "accept", expect={**ok, "properties.category": t["category"].lower()},
                   what=kind)
    t["tags"] = draw(st.sampled_from(EXTRA_VALUES))
    return Row(t, "accept", expect=ok, what=kind)


@st.composite
def order_row(draw) -> Row:
    from tests.unit.test_normalize import ORDER_ROW

    o = dict(ORDER_ROW, order_id=f"ORD-{draw(st.integers(0, 10**15)):016X}")
    ok = {"event_time": _utc("2026-08-07T16:31:13", "%Y-%m-%dT%H:%M:%S"),
          "properties.amount": 82.99, "properties.currency": "EUR"}
    kind = draw(st.sampled_from(("valid", "time_garbage", "time_future", "currency",
                                 "amount_type", "items_json", "items_range", "no_id",
                                 "injection")))
    if kind == "valid":
        return Row(o, "accept", expect=ok, what=kind)
    if kind == "time_garbage":
        o["order_ts"] = draw(st.sampled_from(("08/03/2026 02:22 PM", "2026-02-30T18:31:13+02:00",
                                              "", None, "1785547311562")))
        return Row(o, "reject", "orders: unparseable or impossible timestamp", what=kind)
    if kind == "time_future":
        o["order_ts"] = "2091-08-07T18:31:13+02:00"
        return Row(o, "reject", "orders: timestamp in the future", what=kind)
    if kind == "currency":
        o["currency"] = draw(st.sampled_from(("XYZ", "", "€", *INJECTIONS[:2])))
        return Row(o, "reject", "orders: unknown currency", what=kind)
    if kind == "amount_type":
        o["total_amount_minor"] = draw(st.sampled_from(("abc", "82.99", "NaN", "1e400", "",
                                                        "9" * 40)))
        return Row(o, "reject", "orders: ", what=kind)
    if kind == "items_json":
        o["items"] = draw(st.sampled_from(("not json", "{'sku': 1}", '{"sku": "a"}', "[" * 50)))
        return Row(o, "reject", "orders: ", what=kind)
    if kind == "items_range":
        o["items"] = json.dumps([{"sku": "S", "category": "c", "qty": draw(st.integers(-99, 0)),
                                  "unit_price_minor": 100}])
        return Row(o, "reject", "orders: out_of_range: properties.items", what=kind)
    if kind == "no_id":
        o.update(customer_ref=None, email=draw(st.sampled_from((None, "", "   "))))
        return Row(o, "reject", "orders: no identifier", what=kind)
    o["order_id"] = draw(st.sampled_from(INJECTIONS[:4])) + o["order_id"]
    return Row(o, "accept", expect={**ok, "properties.order_id": o["order_id"]}, what=kind)


@st.composite
def crm_row(draw) -> Row:
    from tests.unit.test_normalize import CRM_ROW

    c = dict(CRM_ROW, customerid=f"C{draw(st.integers(0, 10**9)):09d}")
    # 08/05/2026 05:03 in the CRM's time zone (America/New_York, EDT = UTC-4)
    ok = {"event_time": _utc("2026-08-05 09:03", "%Y-%m-%d %H:%M")}
    kind = draw(st.sampled_from(("valid", "time_garbage", "time_old", "created", "email",
                                 "no_customer", "injection")))
    if kind == "valid":
        return Row(c, "accept", expect=ok, what=kind)
    if kind == "time_garbage":
        c["last_modified"] = draw(st.sampled_from(("2026.08.05 05h03", "02/30/2026 10:00", "",
                                                   None, "yesterday")))
        return Row(c, "reject", "crm: unparseable or impossible timestamp", what=kind)
    if kind == "time_old":
        c["last_modified"] = "06/30/1999 12:00"
        return Row(c, "reject", "crm: timestamp before 2000-01-01", what=kind)
    if kind == "created":
        c["created"] = draw(st.sampled_from(("02/30/2026 03:43", "never")))
        return Row(c, "reject", "crm: unparseable or impossible Created", what=kind)
    if kind == "email":
        c["e_mail"] = draw(st.sampled_from(("maria at gmail.com", "a@b", *INJECTIONS[:3])))
        return Row(c, "reject", "crm: invalid e-mail", what=kind)
    if kind == "no_customer":
        c["customerid"] = draw(st.sampled_from((None, "", "   ")))
        return Row(c, "reject", "crm: missing CustomerID", what=kind)
    c["first_name"] = draw(st.sampled_from(INJECTIONS[:4]))
    return Row(c, "accept", expect=ok, what=kind)


def _batch_path(spark, source: str, rows: list[Row]) -> None:
    from pyspark.sql import functions as F

    from tests.unit import test_normalize as tn

    columns = {"crm": tn.CRM_COLUMNS, "orders": tn.ORDER_COLUMNS}.get(source, ("raw",))
    data = []
    for i, row in enumerate(rows):
        if source in ("crm", "orders"):
            values = tuple(row.data[c] for c in columns)
        else:
            obj = {"data": [row.data]} if source == "social" and isinstance(row.data, dict) \
                else row.data
            values = (obj if isinstance(obj, str) else json.dumps(obj, allow_nan=True),)
        data.append((*values, f"file:/landing/row{i}", tn.INGESTED))
    schema = ", ".join(f"`{c}` string" for c in columns) + \
        ", _source_file string, _ingested_at timestamp"
    normalize = {"crm": tn.normalize_crm, "orders": tn.normalize_orders,
                 "tickets": tn.normalize_tickets, "web": tn.normalize_web,
                 "social": tn.normalize_social}[source]
    result = normalize(spark.createDataFrame(data, schema), tn.RULES)
    events = result.events.select(
        F.substring_index("origin", "#", 1).alias("file"), F.lit(None).cast("string").alias("why"),
        F.to_json(F.struct("event_type", F.unix_micros("event_time").alias("event_time"),
                           "identifiers", "properties", "base_amounts")).alias("event"))
    rejects = result.rejects.select(F.col("_source_file").alias("file"),
                                    F.col("_quarantine_reason").alias("why"),
                                    F.lit(None).cast("string").alias("event"))
    seen: dict[int, list] = {}
    for r in events.unionByName(rejects).collect():
        seen.setdefault(int(r.file.removeprefix("file:/landing/row")), []).append(r)
    assert sorted(seen) == list(range(len(rows))), "every row lands or is quarantined"
    for i, row in enumerate(rows):
        reasons = [r.why for r in seen[i] if r.why is not None]
        label = f"{source} {row.what}: {str(row.data)[:300]!r}"
        if reasons:
            assert len(seen[i]) == 1, f"{label}: quarantined and also landed"
            assert row.verdict != "accept", f"{label}: quarantined ({reasons[0]})"
            assert reasons[0].startswith(row.reason), f"{label}: {reasons[0]!r}"
            continue
        assert row.verdict != "reject", f"{label}: landed, wanted {row.reason!r}"
        event = json.loads(seen[i][0].event)
        event["event_time"] = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            microseconds=event["event_time"])
        for name, want in row.expect.items():
            node: Any = event
            for part in name.split("."):
                node = node[part]
            assert node == want, f"{label}: {name} = {node!r}, documented {want!r}"


BATCH_SOURCES = {"web": web_row, "social": social_row, "tickets": ticket_row,
                 "orders": order_row, "crm": crm_row}


@pytest.mark.parametrize("source", list(BATCH_SOURCES))
def test_hostile_rows_of_each_batch_source(spark, source):
    _batch_path(spark, source, generated(BATCH_SOURCES[source](), 80))


@pytest.mark.long
@pytest.mark.parametrize("source", list(BATCH_SOURCES))
def test_hostile_rows_of_each_batch_source_long(spark, source):
    _batch_path(spark, source, generated(BATCH_SOURCES[source](), 1000))
