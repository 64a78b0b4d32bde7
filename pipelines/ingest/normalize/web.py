"""Web analytics events (JSON lines) → page, product and cart events.

Fields: ``event_id``, ``ts`` (epoch milliseconds, UTC), ``event`` (pageview, product_view,
add_to_cart, remove_from_cart, checkout), ``anon_id``, ``user_id`` (the customer id when
logged in, else null), ``device_id``, ``session_id``, ``url``, ``sku``, ``category``, ``qty``,
``price`` and ``currency`` (for a checkout, ``price`` is the cart value). A logged-in event
carries both the customer id and the anonymous/device ids: that is what links anonymous
browsing to the customer.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.ingest.normalize.common import (
    Normalized,
    Rules,
    any_identifier,
    base_amounts,
    canonical,
    event_id,
    identifiers,
    known_currency,
    origin,
    out_of_range,
    properties,
    split,
    time_checks,
    to_base,
)
from pipelines.normalize import identifiers as ids
from pipelines.normalize.types import wrong_type

LINE = (
    "struct<event_id:string,ts:string,event:string,anon_id:string,user_id:string,"
    "device_id:string,session_id:string,url:string,sku:string,category:string,qty:string,"
    "price:string,currency:string>"
)
# The documented type of each field (docs/sources.md): a line whose value does not fit is
# rejected with ``wrong_type: <field>`` (pipelines.normalize.types).
TYPES = (
    LINE.replace("ts:string", "ts:bigint")
    .replace("qty:string", "qty:int")
    .replace("price:string", "price:double")
)
EVENTS = {
    "pageview": "page_view",
    "page_view": "page_view",
    "product_view": "product_view",
    "add_to_cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
    "checkout": "checkout_started",
    "checkout_started": "checkout_started",
}
PRICED = ("add_to_cart", "remove_from_cart", "checkout_started")


def normalize_web(bronze: DataFrame, rules: Rules) -> Normalized:
    w = lambda name: F.col(f"_w.{name}")  # noqa: E731
    parsed = bronze.withColumn("_w", F.from_json(F.col("raw"), LINE))
    event_type = F.create_map(*[F.lit(x) for kv in EVENTS.items() for x in kv])[
        F.lower(F.trim(w("event")))
    ]
    currency = F.upper(F.trim(w("currency")))
    price = w("price").try_cast("double")
    quantity = w("qty").try_cast("int")
    is_checkout = event_type == "checkout_started"
    shaped = parsed.select(
        "*",
        F.coalesce(
            F.concat(F.lit("web:"), ids.blank_to_null(w("event_id"))), event_id("web", F.col("raw"))
        ).alias("event_id"),
        event_type.alias("event_type"),
        F.timestamp_millis(w("ts").try_cast("bigint")).alias("event_time"),
        F.lit("web").alias("source"),
        identifiers(
            customer_id=ids.blank_to_null(w("user_id")),
            device_id=ids.blank_to_null(w("device_id")),
            anonymous_id=ids.blank_to_null(w("anon_id")),
        ).alias("identifiers"),
        properties(
            url=w("url"),
            session_id=w("session_id"),
            sku=w("sku"),
            category=F.lower(w("category")),
            quantity=quantity,
            unit_price=F.when(~is_checkout, price),
            currency=currency,
            cart_value=F.when(is_checkout, price),
        ).alias("properties"),
        base_amounts(
            unit_price=F.when(~is_checkout, to_base(price, currency, rules)),
            cart_value=F.when(is_checkout, to_base(price, currency, rules)),
        ).alias("base_amounts"),
    )
    priced = F.col("event_type").isin(*PRICED)
    mistyped = wrong_type(F.col("raw"), TYPES)
    valid, rejects, checked = split(
        shaped,
        [
            (F.get_json_object(F.col("raw"), "$").isNull(), "unparseable JSON"),
            (mistyped.isNotNull(), mistyped),
            (F.col("event_type").isNull(), "unknown event"),
            *time_checks(F.col("event_time"), rules),
            (~any_identifier(F.col("identifiers")), "no identifier"),
            (priced & ~known_currency(currency, rules), "unknown currency"),
            out_of_range(F.col("properties")),
        ],
        "web",
    )
    return Normalized(
        canonical(valid, origin(w("event_id"))),
        rejects.select(*bronze.columns, "_quarantine_reason"),
        checked,
    )
