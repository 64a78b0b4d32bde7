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
    assert _reasons(result) == [
        "orders: out_of_range: properties.items",
        "orders: unknown currency",
    ]


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
            "price": 20.00,
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


# Every "Invalid rows" case of docs/sources.md, one source row each, on a row that is valid
# without the defect (checked first). Expected reasons are the texts docs/sources.md gives.
CRM_ROW = {
    "customerid": "C0000091",
    "first_name": "María",
    "last_name": "Garcia",
    "e_mail": "  mgarcia91@outlook.com ",
    "phone": "312-194-7277",
    "country": "US",
    "preferred_language": "en",
    "tier": "Standard",
    "created": "05/30/2026 03:43",
    "last_modified": "08/05/2026 05:03",
}
ORDER_ROW = {
    "order_id": "ORD-514806496E091CAE",
    "customer_ref": "C0000076",
    "email": "hugo_lefevre76@orange.fr",
    "order_ts": "2026-08-07T18:31:13+02:00",
    "status": "placed",
    "currency": "EUR",
    "total_amount_minor": "8299",
    "items": json.dumps(
        [{"sku": "SKU-14023", "category": "beauty", "qty": 1, "unit_price_minor": 8299}]
    ),
}
TICKET_LINE = {
    "ticket": "T-1D1BB20FD62B35BF",
    "requester": {"email": "Ann@Initech.com", "customer_number": "C0000052"},
    "channel": "email",
    "priority": "normal",
    "category": "Technical",
    "status": "Solved",
    "created_at": "2026-08-06 09:37:08 UTC",
    "updated_at": "2026-08-07 10:00:00 UTC",
    "csat": 4,
}
WEB_LINE = {
    "event_id": "ev-300d9e860efc4124",
    "ts": 1785547311562,
    "event": "add_to_cart",
    "anon_id": "a-e4b1c97a7a918835",
    "user_id": "C0000085",
    "device_id": "d-45b200b50281c941",
    "session_id": "s-b9b802273c251670",
    "url": "https://www.acmeshop.example/p/sku-15019",
    "sku": "SKU-15019",
    "category": "sports",
    "qty": 2,
    "price": 165.99,
    "currency": "USD",
}
MENTION = {
    "id": "4844304184805656627",
    "platform": "twitter",
    "handle": "@HugoRobert24",
    "created_time": "Wed Aug 12 16:26:11 +0000 2026",
    "text": "Love my new toys stuff from @AcmeShop!",
    "sentiment": 0.78,
    "profile_email": None,
}


def _crm(spark, row):
    return normalize_crm(_bronze(spark, CRM_COLUMNS, [tuple(row[c] for c in CRM_COLUMNS)]), RULES)


def _orders(spark, row):
    return normalize_orders(
        _bronze(spark, ORDER_COLUMNS, [tuple(row[c] for c in ORDER_COLUMNS)]), RULES
    )


def _tickets(spark, line):
    return normalize_tickets(_lines(spark, [line]), RULES)


def _web(spark, line):
    return normalize_web(_lines(spark, [line]), RULES)


def _social(spark, mention):
    return normalize_social(_lines(spark, [{"data": [mention]}]), RULES)


SOURCES = {
    "crm": (_crm, CRM_ROW),
    "orders": (_orders, ORDER_ROW),
    "tickets": (_tickets, TICKET_LINE),
    "web": (_web, WEB_LINE),
    "social": (_social, MENTION),
}
FAR_FUTURE_MS = 1785547311562 + 30 * 365 * 86_400_000  # decades after the row's own time

INVALID_CASES = [
    ("crm", {"last_modified": "2026.08.05 05h03"}, "crm: unparseable or impossible timestamp"),
    ("crm", {"created": "02/30/2026 03:43"}, "crm: unparseable or impossible Created"),
    ("crm", {"e_mail": "maria at gmail.com"}, "crm: invalid e-mail"),
    ("crm", {"customerid": None, "e_mail": None, "phone": None}, "crm: missing CustomerID"),
    ("crm", {"last_modified": "06/30/1999 12:00"}, "crm: timestamp before 2000-01-01"),
    ("orders", {"order_ts": "08/03/2026 02:22 PM"}, "orders: unparseable or impossible timestamp"),
    (
        "orders",
        {"order_ts": "2026-02-30T18:31:13+02:00"},
        "orders: unparseable or impossible timestamp",
    ),
    ("orders", {"currency": "XYZ"}, "orders: unknown currency"),
    (
        "orders",
        {
            "items": json.dumps(
                [{"sku": "SKU-14023", "category": "beauty", "qty": -1, "unit_price_minor": 8299}]
            )
        },
        "orders: out_of_range: properties.items",
    ),
    ("orders", {"customer_ref": None, "email": None}, "orders: no identifier"),
    # from_json would read a lone object as a one-element array
    ("orders", {"items": json.dumps({"sku": "SKU-14023", "qty": 1, "unit_price_minor": 8299})},
     "orders: items are not a JSON array"),
    (
        "tickets",
        {"updated_at": "05/08/2026 14:22"},
        "tickets: unparseable or impossible timestamp",
    ),
    (
        "tickets",
        {"created_at": "2026-02-30 09:37:08 UTC"},
        "tickets: unparseable or impossible created_at",
    ),
    ("tickets", {"csat": 7}, "tickets: out_of_range: properties.score (1-5)"),
    (
        "tickets",
        {"requester": {"email": None, "customer_number": None}},
        "tickets: no identifier",
    ),
    ("web", {"ts": None}, "web: unparseable or impossible timestamp"),
    ("web", {"ts": FAR_FUTURE_MS}, "web: timestamp in the future"),
    ("web", {"qty": -2}, "web: out_of_range: properties.quantity (>= 1)"),
    ("web", {"anon_id": None, "user_id": None, "device_id": None}, "web: no identifier"),
    ("social", {"created_time": "2 hours ago"}, "social: unparseable or impossible timestamp"),
    ("social", {"sentiment": 3.5}, "social: out_of_range: properties.sentiment (-1..1)"),
    ("social", {"handle": None, "profile_email": None}, "social: no identifier"),
]


@pytest.mark.parametrize("source", list(SOURCES))
def test_the_base_rows_of_the_invalid_cases_are_valid(spark, source):
    normalize, row = SOURCES[source]
    result = normalize(spark, row)
    assert result.events.count() >= 1 and _reasons(result) == []


@pytest.mark.parametrize(
    "source, change, reason",
    INVALID_CASES,
    ids=[f"{s}-{'-'.join(c)}-{r.split(': ', 1)[1]}" for s, c, r in INVALID_CASES],
)
def test_each_documented_invalid_row_is_quarantined_with_its_reason(spark, source, change, reason):
    normalize, row = SOURCES[source]
    result = normalize(spark, {**row, **change})
    assert result.events.count() == 0  # nothing of the row lands, not even a csat event
    assert _reasons(result) == [reason]


@pytest.mark.parametrize(
    "source, change, reason",
    [
        ("social", {"sentiment": "very happy"}, "social: wrong_type: sentiment"),
        ("tickets", {"csat": "great"}, "tickets: wrong_type: csat"),
        ("web", {"qty": "two"}, "web: wrong_type: qty"),
        ("web", {"price": "cheap"}, "web: wrong_type: price"),
        ("web", {"price": "NaN"}, "web: out_of_range: properties.unit_price (finite)"),
    ],
)
def test_a_value_of_the_wrong_type_is_quarantined_not_nulled(spark, source, change, reason):
    normalize, row = SOURCES[source]
    assert _reasons(normalize(spark, {**row, **change})) == [reason]


def test_a_key_given_twice_is_judged_by_its_last_value(spark):
    """pipelines/normalize/types.py: the typed parse reads a repeated key's last value, and a
    record it reads without a conversion failure has no wrong type — a category sent as text
    then null is a category not given; a qty that cannot be read as a number is a wrong type
    whatever follows it."""
    line = json.dumps(WEB_LINE)
    assert '"category": "sports", "qty": 2,' in line
    lines = [line.replace('"category": "sports"', '"category": "sports", "category": null'),
             line.replace('"qty": 2', '"qty": "two", "qty": null')
                 .replace('"event_id": "', '"event_id": "x')]
    result = normalize_web(_lines(spark, lines), RULES)
    assert [r.properties.category for r in result.events.collect()] == [None]
    assert _reasons(result) == ["web: wrong_type: qty"]


def test_a_bad_value_gets_the_same_reason_in_batch_as_in_the_stream(spark):
    """One range rule for both lanes: the batch reason is the stream's, after the source."""
    from pipelines.stream.parse import classify_records
    from pipelines.stream.settings import ParseParams

    envelope = {
        "event_id": "e-1",
        "event_type": "social_mention",
        "event_time": "2026-08-12T16:26:11Z",
        "source": "social",
        "identifiers": {"social_handle": "twitter:@HugoRobert24"},
        "properties": {"platform": "twitter", "handle": "@HugoRobert24", "sentiment": 3.5},
        "schema_version": 1,
    }
    kafka = spark.createDataFrame(
        [(b"k", json.dumps(envelope).encode(), "events", 0, 0, datetime(2026, 9, 1))],
        "key binary, value binary, topic string, partition int, offset long, "
        "timestamp timestamp",
    )
    params = ParseParams(base_currency="EUR", rates={"EUR": 1.0}, future_tolerance_s=600)
    (stream_reason,) = [r[0] for r in classify_records(kafka, params).select(
        "_quarantine_reason").collect()]
    assert stream_reason == "out_of_range: properties.sentiment (-1..1)"
    assert _reasons(_social(spark, {**MENTION, "sentiment": 3.5})) == [f"social: {stream_reason}"]



# Schema evolution (docs/sources.md): a field the source's schema does not name rides along;
# a documented field whose value changed type is rejected. Per JSON source, one frame: the
# row with new fields (valid, lands like the row without them), then each retyped row.
NEW_FIELDS = {"loyalty_tier": "gold", "referrer": {"utm_source": "news", "n": [1, 2]}}
RETYPED = {
    "tickets": [  # a number sent as text; an object sent as a string
        ({"csat": "4"}, "tickets: wrong_type: csat"),
        ({"requester": "ann@initech.com"}, "tickets: wrong_type: requester"),
    ],
    "web": [  # a number sent as text; epoch milliseconds sent as ISO text
        ({"qty": "2"}, "web: wrong_type: qty"),
        ({"ts": "2026-08-01T10:00:00Z"}, "web: wrong_type: ts"),
    ],
}  # social: in test_batch_and_stream_judge_new_and_retyped_fields_alike
KEY = {"tickets": "ticket", "web": "event_id"}


@pytest.mark.parametrize("source", list(RETYPED))
def test_new_fields_land_and_retyped_fields_are_quarantined(spark, source):
    _normalize, row = SOURCES[source]
    key = KEY[source]
    rows = [{**row, **NEW_FIELDS}] + [
        {**row, **change, key: f"{row[key]}-{i}"} for i, (change, _r) in enumerate(RETYPED[source])
    ]
    normalize = {"tickets": normalize_tickets, "web": normalize_web}[source]
    result, base = normalize(_lines(spark, rows), RULES), _normalize(spark, row)
    # Not the event id: a ticket line's id hashes the whole line.
    same = ["event_type", "event_time", "identifiers", "properties", "base_amounts"]
    landed, expected = (sorted(r.events.select(same).collect()) for r in (result, base))
    assert landed == expected
    assert _reasons(result) == sorted(reason for _c, reason in RETYPED[source])


def test_batch_and_stream_judge_new_and_retyped_fields_alike(spark):
    """The same change to the same record, as a batch row and as an envelope: a new field passes
    in both lanes (Spark and the hot lane); a number sent as text is rejected as wrong_type in
    both (pipelines/normalize/types.py is the one rule)."""
    from pipelines.events.validate import classify
    from pipelines.stream.parse import classify_records
    from pipelines.stream.settings import ParseParams

    def envelope(properties, **top):
        return {
            "event_id": "e-1",
            "event_type": "social_mention",
            "event_time": "2026-08-12T16:26:11Z",
            "source": "social",
            "identifiers": {"social_handle": "twitter:@HugoRobert24"},
            "properties": {"platform": "twitter", "handle": "@HugoRobert24", **properties},
            "schema_version": 1,
            **top,
        }

    cases = [  # (batch mention change, envelope, expected code or None when valid)
        ({}, envelope({"sentiment": 0.5}), None),
        (NEW_FIELDS, envelope({"sentiment": 0.5, **NEW_FIELDS}, **NEW_FIELDS), None),
        ({"sentiment": "0.5"}, envelope({"sentiment": "0.5"}), "wrong_type"),
    ]
    sent = datetime(2026, 9, 1)
    kafka = spark.createDataFrame(
        [(b"k", json.dumps(env).encode(), "events", 0, i, sent)
         for i, (_c, env, _e) in enumerate(cases)],
        "key binary, value binary, topic string, partition int, offset long, "
        "timestamp timestamp",
    )
    params = ParseParams(base_currency="EUR", rates={"EUR": 1.0}, future_tolerance_s=600)
    spark_reasons = [r[0] for r in classify_records(kafka, params).orderBy("offset").select(
        "_quarantine_reason").collect()]
    mentions = [{**MENTION, **change, "id": f"m-{i}"} for i, (change, _v, _e) in enumerate(cases)]
    rejects = normalize_social(_lines(spark, [{"data": mentions}]), RULES).rejects.collect()
    batch_reasons = {json.loads(r.raw)["id"]: r._quarantine_reason for r in rejects}
    sent_ms = int((sent - datetime(1970, 1, 1)).total_seconds() * 1000)
    code = lambda reason: reason and reason.removeprefix("social: ").split(":")[0]  # noqa: E731
    for i, ((_c, env, expected), stream_reason) in enumerate(
        zip(cases, spark_reasons, strict=True)
    ):
        _event, hot_reason = classify(json.dumps(env).encode(), sent_ms, params)
        verdicts = (code(stream_reason), code(hot_reason), code(batch_reasons.get(f"m-{i}")))
        assert verdicts == (expected,) * 3, (env, stream_reason, hot_reason, batch_reasons)
