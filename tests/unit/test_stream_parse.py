"""Kafka record parsing and validation (pipelines/stream/parse.py) on small DataFrames.

Expected values are written out by hand from the envelope contract (ARCHITECTURE §3.1) and
conf ``currency.rates`` (units of base per unit: USD 0.92 in the test conf).
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime

import pytest
from chispa import assert_df_equality

from pipelines.events.envelope import MALFORMED_FLAWS, Customer, build_envelope, malformed
from pipelines.gate.quarantine import REASON
from pipelines.schemas.canonical import EVENT_LOG
from pipelines.stream.parse import classify_records, parse_kafka_records
from pipelines.stream.settings import ParseParams

PARAMS = ParseParams(base_currency="EUR", rates={"EUR": 1.0, "USD": 0.92}, future_tolerance_s=600)
KAFKA = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
SENT = datetime(2026, 9, 1, 12, 0, 0)  # Kafka timestamp of every record (naive UTC)


def envelope(**changes) -> dict:
    base = {
        "event_id": "e-1",
        "event_type": "add_to_cart",
        "event_time": "2026-09-01T13:59:00+02:00",
        "source": "web",
        "identifiers": {"email": "  Ann.Lee@Example.COM ", "anonymous_id": " anon-1 "},
        "properties": {
            "sku": "SKU-1",
            "category": "home",
            "quantity": 2,
            "unit_price": 10.0,
            "currency": "usd",
        },
        "schema_version": 1,
    }
    base.update(changes)
    return base


def records(spark, *values, partition=0, first_offset=0, sent=SENT):
    rows = []
    for i, value in enumerate(values):
        raw = value if isinstance(value, (str, type(None))) else json.dumps(value)
        rows.append(
            (
                b"k",
                None if raw is None else raw.encode(),
                "events",
                partition,
                first_offset + i,
                sent,
            )
        )
    return spark.createDataFrame(rows, KAFKA)


def reasons(spark, *values) -> list[str | None]:
    out = classify_records(records(spark, *values), PARAMS).orderBy("offset")
    return [r[REASON] for r in out.select(REASON).collect()]


def test_valid_record_becomes_a_canonical_event(spark):
    valid, invalid = parse_kafka_records(records(spark, envelope(), first_offset=41), PARAMS)
    props = {f: None for f in EVENT_LOG["properties"].dataType.fieldNames()}
    props.update(sku="SKU-1", category="home", quantity=2, unit_price=10.0, currency="USD")
    expected = spark.createDataFrame(
        [
            {
                "event_id": "e-1",
                "event_type": "add_to_cart",
                "event_time": datetime(2026, 9, 1, 11, 59, 0),  # 13:59 at +02:00, stored in UTC
                "source": "web",
                "identifiers": {
                    "customer_id": None,
                    "email": "ann.lee@example.com",
                    "phone": None,
                    "device_id": None,
                    "anonymous_id": "anon-1",
                    "social_handle": None,
                },
                "properties": props,
                "base_amounts": {"amount": None, "cart_value": None, "unit_price": 9.2},  # 10 USD
                "origin": "events/0/41",
                "ingested_at": None,
                "event_date": date(2026, 9, 1),
            }
        ],
        EVENT_LOG,
    )
    assert invalid.count() == 0
    assert_df_equality(valid, expected, ignore_nullable=True)


# (record, the reason it gets): one per validation rule, in the order the rules run.
INVALID_CASES = [
    ('{"event_id": "e-1", "event_type": "page_', "invalid_json: not a JSON object"),
    ("{'event_id': 'e-1', 'event_type': 'page_view'}", "invalid_json: not a JSON object"),
    ("[1, 2]", "invalid_json: not a JSON object"),
    ("", "invalid_json: not a JSON object"),
    (None, "invalid_json: not a JSON object"),
    (envelope(event_id=None), "missing_field: event_id"),
    (envelope(source=None), "missing_field: source"),
    (envelope(schema_version=2), "unsupported_schema_version: 2"),
    (envelope(schema_version="one"), "wrong_type: schema_version"),
    (envelope(event_type="cart_abandoned"), "unknown_event_type: cart_abandoned"),
    (envelope(source="fax"), "unknown_source: fax"),
    (
        envelope(event_time=1788264000000),
        "wrong_type: event_time (a number; ISO-8601 text with offset required)",
    ),
    (envelope(event_time="2026-09-01 12:00:00"), "invalid_event_time: 2026-09-01 12:00:00"),
    (envelope(event_time="2026-02-30T12:00:00Z"), "invalid_event_time: 2026-02-30T12:00:00Z"),
    (envelope(event_time="2026-09-02T12:00:00Z"), "future_time: 2026-09-02T12:00:00Z"),
    (envelope(identifiers={}), "missing_field: identifiers"),
    (
        envelope(identifiers={"email": "not-an-email"}),
        "missing_field: identifiers (none usable after normalization)",
    ),
    (envelope(identifiers="ann@example.com"), "wrong_type: identifiers"),
    (
        envelope(
            properties={"category": "home", "quantity": 1, "unit_price": 1.0, "currency": "EUR"}
        ),
        "missing_field: properties.sku",
    ),
    (
        envelope(
            properties={
                "sku": "S",
                "category": "home",
                "quantity": "two",
                "unit_price": 1.0,
                "currency": "EUR",
            }
        ),
        "wrong_type: properties.quantity",
    ),
    (
        envelope(
            properties={
                "sku": "S",
                "category": "home",
                "quantity": 1,
                "unit_price": 1.0,
                "currency": "XXX",
            }
        ),
        "unknown_currency: XXX",
    ),
    (
        envelope(
            properties={
                "sku": "S",
                "category": "home",
                "quantity": 0,
                "unit_price": 1.0,
                "currency": "EUR",
            }
        ),
        "out_of_range: properties.quantity (>= 1)",
    ),
    (
        envelope(event_type="csat_submitted", source="support", properties={"score": 7}),
        "out_of_range: properties.score (1-5)",
    ),
    (
        envelope(
            event_type="order_placed",
            source="orders",
            properties={
                "order_id": "O1",
                "amount": 5.0,
                "currency": "EUR",
                "items": [{"category": "home", "quantity": 1, "unit_price": 5.0}],
            },
        ),
        "wrong_type: properties.items (each needs sku, quantity, unit_price)",
    ),
    (
        envelope(
            event_type="chat_message",
            source="chat",
            properties={"conversation_id": "C1", "role": "customer", "sentiment": "happy"},
        ),
        "wrong_type: properties.sentiment",
    ),
]


@pytest.fixture(scope="module")
def case_reasons(spark) -> list[str | None]:
    """Every INVALID_CASES record classified in one Spark job, each at its own offset (the
    rules judge a record alone; a job per case cost ~1.3 s)."""
    return reasons(spark, *[value for value, _reason in INVALID_CASES])


@pytest.mark.parametrize(("case", "reason"), list(enumerate(r for _v, r in INVALID_CASES)))
def test_invalid_records_get_the_first_failed_rule_as_reason(case_reasons, case, reason):
    assert case_reasons[case] == reason


def test_future_tolerance_is_measured_from_the_kafka_timestamp(spark):
    just_inside = envelope(event_id="a", event_time="2026-09-01T12:09:59Z")  # SENT + 599 s
    just_outside = envelope(event_id="b", event_time="2026-09-01T12:10:01Z")  # SENT + 601 s
    assert reasons(spark, just_inside, just_outside) == [None, "future_time: 2026-09-01T12:10:01Z"]


def test_every_producer_flaw_is_caught_under_its_own_name(spark):
    rng = random.Random(5)
    customer = Customer(
        customer_id="C1",
        email="ann@example.com",
        anonymous_id="anon-1",
        device_id="dev-1",
        first_name="Ann",
        country="DE",
    )
    now = SENT.replace(tzinfo=None).timestamp()
    values, flaws = [], []
    for i in range(60):
        event_type = ("add_to_cart", "order_placed", "csat_submitted", "consent_updated")[i % 4]
        env = build_envelope(event_type, customer, rng, now - 5, f"e-{i}")
        payload, _, tag = malformed(env, now, rng, MALFORMED_FLAWS[i % len(MALFORMED_FLAWS)])
        values.append(payload.decode("utf-8", "replace"))
        flaws.append(tag.partition(":")[0])
    got = reasons(spark, *values)
    assert [r.partition(":")[0] if r else None for r in got] == flaws


def test_a_repeated_event_id_keeps_the_record_at_the_smallest_position(spark):
    first = records(spark, envelope(), partition=1, first_offset=7)
    again = records(spark, envelope(), partition=0, first_offset=9)
    later = records(spark, envelope(), partition=1, first_offset=3)
    valid, _ = parse_kafka_records(first.unionByName(again).unionByName(later), PARAMS)
    assert [(r.event_id, r.origin) for r in valid.collect()] == [("e-1", "events/0/9")]


def test_invalid_records_keep_raw_value_and_kafka_position(spark):
    raw = '{"event_id": "e-9", "broken'
    _, invalid = parse_kafka_records(records(spark, raw, partition=1, first_offset=77), PARAMS)
    rows = invalid.collect()
    assert len(rows) == 1
    r = rows[0]
    assert (r.value, r.topic, r.partition, r.offset, r.timestamp) == (raw, "events", 1, 77, SENT)
    assert r[REASON] == "invalid_json: not a JSON object"
