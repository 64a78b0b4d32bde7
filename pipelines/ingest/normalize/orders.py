"""Shop orders export (CSV) → ``order_placed`` / ``order_refunded`` events.

``order_ts`` is ISO-8601 with an offset; amounts are integers in minor units of ``currency``
(cents; JPY has none) and are kept as the original amount and currency plus the amount in
the base currency. ``items`` is a JSON array of {sku, category, qty, unit_price_minor}.
A refund is a row with status ``refunded`` for the same order_id.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.ingest.normalize.common import (
    Normalized,
    Rules,
    any_identifier,
    base_amounts,
    canonical,
    event_id,
    from_minor_units,
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

RAW_COLUMNS = (
    "order_id",
    "customer_ref",
    "email",
    "order_ts",
    "status",
    "currency",
    "total_amount_minor",
    "items",
)
RAW_ITEMS = "array<struct<sku:string,category:string,qty:int,unit_price_minor:bigint>>"
STATUS_TO_TYPE = {"placed": "order_placed", "refunded": "order_refunded"}


# The record key as the source system names the record (ground truth uses the same key).
def record_key() -> Column:
    return F.concat_ws("|", F.trim(F.col("order_id")), F.lower(F.trim(F.col("status"))))


def normalize_orders(bronze: DataFrame, rules: Rules) -> Normalized:
    currency = F.upper(F.trim(F.col("currency")))
    amount = from_minor_units(F.col("total_amount_minor").try_cast("bigint"), currency, rules)
    raw_items = F.from_json(F.col("items"), RAW_ITEMS)
    items = F.transform(
        raw_items,
        lambda i: F.struct(
            i["sku"].alias("sku"),
            F.lower(i["category"]).alias("category"),
            i["qty"].alias("quantity"),
            from_minor_units(i["unit_price_minor"], currency, rules).alias("unit_price"),
        ),
    )
    status = F.lower(F.trim(F.col("status")))
    event_type = F.create_map(*[F.lit(x) for kv in STATUS_TO_TYPE.items() for x in kv])[status]
    shaped = bronze.select(
        "*",
        event_id("orders", *[F.col(c) for c in RAW_COLUMNS]).alias("event_id"),
        event_type.alias("event_type"),
        F.try_to_timestamp(F.trim(F.col("order_ts")), F.lit("yyyy-MM-dd'T'HH:mm:ssXXX")).alias(
            "event_time"
        ),
        F.lit("orders").alias("source"),
        identifiers(
            customer_id=ids.blank_to_null(F.col("customer_ref")), email=ids.email(F.col("email"))
        ).alias("identifiers"),
        properties(
            order_id=F.trim(F.col("order_id")), amount=amount, currency=currency, items=items
        ).alias("properties"),
        base_amounts(amount=to_base(amount, currency, rules)).alias("base_amounts"),
        raw_items.alias("_raw_items"),
    )
    valid, rejects, checked = split(
        shaped,
        [
            (ids.blank_to_null(F.col("order_id")).isNull(), "missing order_id"),
            (F.col("event_type").isNull(), "unknown status"),
            *time_checks(F.col("event_time"), rules),
            (~any_identifier(F.col("identifiers")), "no identifier"),
            (~known_currency(currency, rules), "unknown currency"),
            (amount.isNull(), "total_amount_minor missing or not an integer"),
            (
                F.col("items").isNotNull()
                & (F.trim(F.col("items")) != "")
                # from_json reads a lone object as a one-element array: not the documented shape
                & (F.col("_raw_items").isNull() | ~F.trim(F.col("items")).startswith("[")),
                "items are not a JSON array",
            ),
            out_of_range(F.col("properties")),
        ],
        "orders",
    )
    return Normalized(
        canonical(
            valid,
            origin(F.concat_ws("|", F.trim(F.col("order_id")), F.lower(F.trim(F.col("status"))))),
        ),
        rejects.select(*bronze.columns, "_quarantine_reason"),
        checked,
    )
