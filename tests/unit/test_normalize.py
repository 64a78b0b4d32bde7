"""Source normalization rules (docs/sources.md) on tiny bronze frames.

Expected values come from the rules: e.g. 12.34 USD at the configured 0.92 EUR/USD is 11.3528 EUR.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pyspark.sql import functions as F

from pipelines.ingest.normalize.common import Rules
from pipelines.ingest.normalize.crm import RAW_COLUMNS as CRM_COLUMNS
from pipelines.ingest.normalize.crm import normalize_crm
from pipelines.ingest.normalize.orders import RAW_COLUMNS as ORDER_COLUMNS
from pipelines.ingest.normalize.orders import normalize_orders
from pipelines.ingest.normalize.social import normalize_social
from pipelines.ingest.normalize.tickets import normalize_tickets
from pipelines.ingest.normalize.web import normalize_web
from pipelines.normalize import identifiers as ids

RULES = Rules(
    base_currency="EUR",
    rates={"EUR": 1.0, "USD": 0.92, "JPY": 0.0062},
    minor_unit_digits={"JPY": 0},
    crm_timezone="America/New_York",
)
INGESTED = datetime(2026, 9, 1)


def _bronze(spark, columns, rows):
    cols = [*columns, "_source_file", "_ingested_at"]
    data = [(*r, "file:/landing/x", INGESTED) for r in rows]
    schema = (
        ", ".join(f"`{c}` string" for c in columns) + ", _source_file string, "
        "_ingested_at timestamp"
    )
    return spark.createDataFrame(data, schema).select(*cols)


def _lines(spark, objects):
    rows = [(o if isinstance(o, str) else json.dumps(o),) for o in objects]
    return _bronze(spark, ["raw"], rows)


def _reasons(result):
    return sorted(r._quarantine_reason for r in result.rejects.collect())


@pytest.mark.parametrize(
    "raw, country, expected",
    [
        ("(415) 555-0134", "US", "+14155550134"),
        ("+44 20 7946 0958", None, "+442079460958"),
        ("0049 30 1234567", None, "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("12", "US", None),
        ("555-0134", None, None),
    ],
)
def test_phone_to_e164(spark, raw, country, expected):
    df = spark.createDataFrame([(raw, country)], "raw string, country string")
    assert df.select(ids.phone(F.col("raw"), F.col("country"))).first()[0] == expected


def test_email_and_handle_normalization(spark):
    df = spark.createDataFrame(
        [("  Ada.Lovelace@Example.COM ", "Twitter", "@AdaL")], "e string, p string, h string"
    )
    row = df.select(ids.email(F.col("e")), ids.social_handle(F.col("p"), F.col("h"))).first()
    assert tuple(row) == ("ada.lovelace@example.com", "twitter:adal")
    assert df.select(ids.email(F.lit("not-an-email"))).first()[0] is None


def test_crm_rows_become_profile_updates_in_utc(spark):
    rows = [
        (
            "C1",
            "Ada",
            "Lovelace",
            " ADA@Example.com ",
            "(415) 555-0134",
            "United States",
            "en-US",
            "Premium",
            "01/15/2024 09:30",
            "08/03/2026 14:22",
        ),
        (
            "C2",
            "Bob",
            "B",
            "bob@example.org",
            "",
            "de",
            "DE",
            "Free",
            "01/01/2024 00:00",
            "02/30/2026 10:00",
        ),  # impossible date
        (
            "",
            "Nobody",
            "X",
            "n@example.org",
            "",
            "DE",
            "de",
            "Free",
            "01/01/2024 00:00",
            "03/01/2026 10:00",
        ),
    ]
    result = normalize_crm(_bronze(spark, CRM_COLUMNS, rows), RULES)
    (event,) = result.events.collect()
    # 14:22 in New York (EDT, UTC−4) is 18:22 UTC.
    assert event.event_time == datetime(2026, 8, 3, 18, 22)
    assert event.event_type == "profile_updated" and event.source == "crm"
    assert (event.identifiers.customer_id, event.identifiers.email, event.identifiers.phone) == (
        "C1",
        "ada@example.com",
        "+14155550134",
    )
    attrs = event.properties.attributes
    assert (attrs["account_tier"], attrs["country"], attrs["language"]) == ("premium", "US", "en")
    assert attrs["signup_at"] == "2024-01-15T14:30:00Z"
    assert _reasons(result) == [
        "crm: missing CustomerID",
        "crm: unparseable or impossible timestamp",
    ]


def test_orders_convert_minor_units_and_currency(spark):
    items = json.dumps([{"sku": "S1", "category": "Books", "qty": 2, "unit_price_minor": 617}])
    rows = [
        ("O1", "C1", "", "2026-08-03T14:22:10+02:00", "placed", "usd", "1234", items),
        ("O2", "", "Guest@Example.com", "2026-08-04T10:00:00Z", "placed", "JPY", "1500", "[]"),
        ("O1", "C1", "", "2026-08-05T09:00:00+00:00", "refunded", "USD", "500", "[]"),
        ("O3", "C1", "", "2026-08-05T09:00:00+00:00", "placed", "XYZ", "100", "[]"),
        (
            "O4",
            "C1",
            "",
            "2026-08-05T09:00:00+00:00",
            "placed",
            "EUR",
            "100",
            json.dumps([{"sku": "S", "category": "c", "qty": -1, "unit_price_minor": 100}]),
        ),
    ]
    result = normalize_orders(_bronze(spark, ORDER_COLUMNS, rows), RULES)
    events = {(e.properties.order_id, e.event_type): e for e in result.events.collect()}
    placed = events[("O1", "order_placed")]
    assert placed.event_time == datetime(2026, 8, 3, 12, 22, 10)
    assert (placed.properties.amount, placed.properties.currency) == (12.34, "USD")
    assert placed.base_amounts.amount == pytest.approx(12.34 * 0.92)
    assert [(i.sku, i.category, i.quantity, i.unit_price) for i in placed.properties.items] == [
        ("S1", "books", 2, 6.17)
    ]
    guest = events[("O2", "order_placed")]
    assert guest.properties.amount == 1500.0 and guest.base_amounts.amount == pytest.approx(9.3)
    assert guest.identifiers.email == "guest@example.com" and guest.identifiers.customer_id is None
    assert events[("O1", "order_refunded")].properties.amount == 5.0
    assert _reasons(result) == ["orders: non-positive item quantity", "orders: unknown currency"]


def test_exact_duplicate_rows_share_an_event_id(spark):
    row = ("O1", "C1", "", "2026-08-03T14:22:10+02:00", "placed", "EUR", "100", "[]")
    events = normalize_orders(_bronze(spark, ORDER_COLUMNS, [row, row]), RULES).events
    assert events.select("event_id").distinct().count() == 1


def test_tickets_canonical_labels_lifecycle_and_csat(spark):
    base = {
        "ticket": "T-1",
        "requester": {"email": "A@x.io", "customer_number": "C1"},
        "category": "Shipping",
        "created_at": "2026-08-01 10:00:00 UTC",
    }
    lines = [
        {
            **base,
            "channel": "web_form",
            "priority": "P1",
            "status": "New",
            "updated_at": "2026-08-01 10:00:00 UTC",
            "csat": None,
        },
        {
            **base,
            "channel": "CHAT",
            "priority": "high",
            "status": "Pending",
            "updated_at": "2026-08-01 11:00:00 UTC",
            "csat": None,
        },
        {
            **base,
            "channel": "Email",
            "priority": "p3",
            "status": "Solved",
            "updated_at": "2026-08-02 09:00:00 UTC",
            "csat": 4,
        },
        {
            **base,
            "channel": "Email",
            "priority": "p3",
            "status": "Closed",
            "updated_at": "2026-08-03 09:00:00 UTC",
            "csat": 4,
        },
        "{not json",
        {
            **base,
            "requester": {"email": None, "customer_number": None},
            "status": "Open",
            "updated_at": "2026-08-01 12:00:00 UTC",
            "channel": "chat",
            "priority": "low",
        },
    ]
    result = normalize_tickets(_lines(spark, lines), RULES)
    events = sorted(result.events.collect(), key=lambda e: (e.event_time, e.event_type))
    assert [
        (e.event_type, e.properties.status, e.properties.channel, e.properties.priority)
        for e in events
        if e.event_type != "csat_submitted"
    ] == [
        ("ticket_opened", "open", "web", "urgent"),
        ("ticket_updated", "pending", "chat", "high"),
        ("ticket_closed", "solved", "email", "normal"),
        ("ticket_closed", "closed", "email", "normal"),
    ]
    csat = [e for e in events if e.event_type == "csat_submitted"]
    # Both state lines carry the score; they share one event id and collapse on dedupe.
    assert {e.event_id for e in csat} and len({e.event_id for e in csat}) == 1
    assert {e.properties.score for e in csat} == {4}
    assert _reasons(result) == ["tickets: no identifier", "tickets: unparseable JSON"]


def test_web_events_from_epoch_ms_link_anonymous_and_customer_ids(spark):
    lines = [
        {
            "event_id": "ev-1",
            "ts": 1785762769956,
            "event": "pageview",
            "anon_id": "a-1",
            "user_id": "C1",
            "device_id": "d-1",
            "session_id": "s-1",
            "url": "/",
        },
        {
            "event_id": "ev-2",
            "ts": 1785762770000,
            "event": "checkout",
            "anon_id": "a-1",
            "user_id": None,
            "device_id": "d-1",
            "session_id": "s-1",
            "price": "20.00",
            "currency": "USD",
        },
        {
            "event_id": "ev-3",
            "ts": 1785762770000,
            "event": "add_to_cart",
            "anon_id": None,
            "user_id": None,
            "device_id": None,
            "session_id": "s-1",
            "sku": "S",
            "qty": 1,
            "price": 2,
            "currency": "USD",
        },
        {"event_id": "ev-4", "ts": 1785762770000, "event": "teleport", "anon_id": "a-9"},
    ]
    result = normalize_web(_lines(spark, lines), RULES)
    events = {e.event_id: e for e in result.events.collect()}
    view = events["web:ev-1"]
    assert view.event_type == "page_view"
    assert view.event_time == datetime(2026, 8, 3, 13, 12, 49, 956000)  # 1785762769.956 s
    assert (
        view.identifiers.customer_id,
        view.identifiers.anonymous_id,
        view.identifiers.device_id,
    ) == ("C1", "a-1", "d-1")
    checkout = events["web:ev-2"]
    assert checkout.event_type == "checkout_started"
    assert checkout.properties.cart_value == 20.0
    assert checkout.base_amounts.cart_value == pytest.approx(18.4)
    assert _reasons(result) == ["web: no identifier", "web: unknown event"]


def test_social_document_and_a_corrupt_file(spark):
    good = json.dumps(
        {
            "data": [
                {
                    "id": "1",
                    "platform": "Twitter",
                    "handle": "@AdaL",
                    "created_time": "Sun Aug 02 14:22:10 +0000 2026",
                    "text": "hi",
                    "sentiment": -0.5,
                    "profile_email": "ADA@x.io",
                },
                {
                    "id": "2",
                    "platform": "twitter",
                    "handle": "@b",
                    "created_time": "2 hours ago",
                    "text": "?",
                    "sentiment": 0,
                    "profile_email": None,
                },
            ]
        }
    )
    result = normalize_social(_lines(spark, [good, '{"data": [{"id": "3", "plat']), RULES)
    (event,) = result.events.collect()
    assert event.event_time == datetime(2026, 8, 2, 14, 22, 10)
    assert (event.identifiers.social_handle, event.identifiers.email) == (
        "twitter:adal",
        "ada@x.io",
    )
    assert event.properties.sentiment == -0.5
    assert _reasons(result) == [
        "social: unparseable JSON document",
        "social: unparseable or impossible timestamp",
    ]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("us", "US"),
        (" GB ", "GB"),
        ("United States", "US"),
        ("united kingdom", "GB"),
        ("Germany", "DE"),
        ("Atlantis", None),
        ("", None),
    ],
)
def test_country_to_iso2(spark, raw, expected):
    from pipelines.normalize.attributes import country

    assert (
        spark.createDataFrame([(raw,)], "c string").select(country(F.col("c"))).first()[0]
        == expected
    )


@pytest.mark.parametrize(
    "raw, expected",
    [("en", "en"), ("EN", "en"), ("en-US", "en"), ("pt_BR", "pt"), ("", None), ("12", None)],
)
def test_language_to_primary_subtag(spark, raw, expected):
    from pipelines.normalize.attributes import language

    assert (
        spark.createDataFrame([(raw,)], "c string").select(language(F.col("c"))).first()[0]
        == expected
    )
