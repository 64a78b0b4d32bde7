"""Small profile/segment frames for the serving tests: the columns build_export reads, typed
as the profiles table has them (pipelines/profiles/finalize.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession

PROFILE_SCHEMA = (
    "profile_id string, identifiers map<string,array<string>>, first_name string, "
    "last_name string, language string, country string, account_tier string, "
    "consent_personalization boolean, net_spend double, orders_30d bigint, "
    "last_order_id string, last_order_at timestamp, open_tickets int, "
    "open_ticket_ids array<string>, last_ticket struct<at:timestamp,event_id:string,"
    "ticket_id:string,status:string,channel:string,priority:string,category:string>, "
    "avg_csat double, cart array<struct<sku:string,category:string,quantity:int,"
    "unit_price:double,added_at:timestamp>>, cart_value double, cart_updated_at timestamp, "
    "intent string, last_contact_at timestamp, recent_categories array<string>, "
    "last_seen timestamp, as_of timestamp, version bigint, updated_at timestamp"
)
SEGMENT_SCHEMA = (
    "profile_id string, as_of timestamp, rule_segments array<string>, cluster_name string, "
    "churn_score double, churn_band string, rfm_label string"
)

PROBABLE_SCHEMA = (
    "profile_id string, probable_confidence double, probable_recent_categories array<string>, "
    "probable_last_viewed struct<sku:string,category:string,at:timestamp>"
)

ANNA = "p_aaaaaaaaaaaaaaa1"  # premium, German, electronics in the cart
BOB = "p_bbbbbbbbbbbbbbb2"  # standard, high value, churn risk, open ticket
CARLA = "p_ccccccccccccccc3"  # consent to personalization withdrawn
DAN = "p_ddddddddddddddd4"  # merged into Bob

AS_OF = datetime(2026, 9, 1, 2, 0, 0)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def profile(pid: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "profile_id": pid,
        "identifiers": {},
        "consent_personalization": True,
        "open_tickets": 0,
        "open_ticket_ids": [],
        "cart": [],
        "cart_value": 0.0,
        "recent_categories": [],
        "as_of": AS_OF,
        "version": 3,
        "updated_at": ts("2026-08-31T18:00:00"),
    }
    row.update(values)
    return row


def people() -> list[dict[str, Any]]:
    return [
        profile(
            ANNA,
            identifiers={
                "customer_id": ["C0000001"],
                "email": ["anna.schmidt@example.org"],
                "phone": ["+4915112345678"],
                "device_id": ["dev-anna"],
                "anonymous_id": ["anon-anna"],
                "social_handle": ["twitter:anna_s"],
            },
            first_name="Anna",
            last_name="Schmidt",
            language="de",
            country="DE",
            account_tier="premium",
            net_spend=1200.0,
            orders_30d=2,
            last_order_id="O-1001",
            last_order_at=ts("2026-08-28T10:00:00"),
            cart=[
                {
                    "sku": "SKU-10003",
                    "category": "electronics",
                    "quantity": 1,
                    "unit_price": 199.0,
                    "added_at": ts("2026-08-31T17:55:00"),
                }
            ],
            cart_value=199.0,
            cart_updated_at=ts("2026-08-31T17:55:00"),
            intent="cart",
            recent_categories=["electronics", "books"],
        ),
        profile(
            BOB,
            identifiers={"customer_id": ["C0000002"], "email": ["bob.jones@example.com"]},
            first_name="Bob",
            last_name="Jones",
            language="en",
            country="US",
            account_tier="standard",
            net_spend=800.0,
            last_order_id="O-2002",
            last_order_at=ts("2026-08-20T09:00:00"),
            open_tickets=1,
            open_ticket_ids=["T-9"],
            last_ticket={
                "at": ts("2026-08-30T12:00:00"),
                "event_id": "e-9",
                "ticket_id": "T-9",
                "status": "pending",
                "channel": "email",
                "priority": "high",
                "category": "shipping",
            },
            avg_csat=2.0,
            last_contact_at=ts("2026-08-30T12:00:00"),
            version=7,
        ),
        profile(
            CARLA,
            identifiers={"customer_id": ["C0000003"], "email": ["carla@example.fr"]},
            first_name="Carla",
            last_name="Martin",
            language="fr",
            account_tier="premium",
            consent_personalization=False,
            net_spend=300.0,
        ),
    ]


def dan() -> dict[str, Any]:
    return profile(
        DAN,
        identifiers={"customer_id": ["C0000004"], "device_id": ["dev-dan"]},
        first_name="Dan",
        language="en",
        account_tier="free",
        version=1,
    )


def profiles_df(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame(rows, PROFILE_SCHEMA)


def segments_df(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [
            (BOB, ts("2026-08-01T02:00:00"), ["loyal"], "bargain_hunters", 0.1, "low", "champion"),
            (BOB, ts("2026-09-01T02:00:00"), ["at_risk"], "lapsing", 0.8, "high", "at_risk"),
            (ANNA, ts("2026-09-01T02:00:00"), ["vip"], "gadget_fans", 0.05, "low", "champion"),
        ],
        SEGMENT_SCHEMA,
    )


def probable_df(spark: SparkSession) -> DataFrame:
    """probable_activity rows: Anna browsed shoes on her phone before logging in; Carla too,
    but she withdrew consent to personalization."""
    return spark.createDataFrame(
        [
            (ANNA, 0.97, ["shoes", "toys"], ("S-77", "shoes", ts("2026-08-31T09:00:00"))),
            (CARLA, 0.9, ["home"], ("S-5", "home", ts("2026-08-30T09:00:00"))),
        ],
        PROBABLE_SCHEMA,
    )
