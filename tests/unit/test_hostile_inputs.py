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

Extra fields the contract does not name are ignored by the checks (assumed rule, consistent
with schema evolution: a new optional field never breaks a record). Always: no crash, and
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

_SPARK = dict(deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.large_base_example])
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


@settings(max_examples=1, **_SPARK)
@given(cases=st.lists(hostile_case(), min_size=150, max_size=150))
def test_hostile_envelopes_stream_classify(spark, cases):
    _stream_path(spark, cases)


@pytest.mark.long
@settings(max_examples=4, **_SPARK)
@given(cases=st.lists(hostile_case(), min_size=250, max_size=250))
def test_hostile_envelopes_stream_classify_long(spark, cases):
    _stream_path(spark, cases)
