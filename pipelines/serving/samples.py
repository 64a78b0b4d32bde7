"""Synthetic profiles and segments with the profiles table's columns, for the serving demo and
benchmarks when no pipeline has produced profiles yet.

Profile ``i`` (0-based) has profile_id ``p_`` + 16 hex digits of i + 1 and customer_id
``C%07d`` of i + 1. The first two are the showcase customers: C0000001 is a German premium
customer with electronics in the cart; C0000002 an English standard customer who spends a
lot, is at high churn risk and has an open shipping ticket. The rest vary deterministically.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

CART = "array<struct<sku:string,category:string,quantity:int,unit_price:double,added_at:timestamp>>"


def _pick(values: tuple[str, ...], index: Column) -> Column:
    return F.element_at(F.array(*[F.lit(x) for x in values]), (index % len(values) + 1).cast("int"))


def profile_id_for(index: int) -> str:
    return f"p_{index + 1:016x}"


def sample_profiles(spark: SparkSession, n: int, now: datetime) -> DataFrame:
    """``n`` profiles (see the module doc); ``now`` is their as_of and updated_at."""
    i = F.col("id")
    n1 = i + 1
    first = _pick(("Anna", "Bob", "Chloé", "Diego", "Emma", "Felix", "Grace"), i)
    language = F.when(i == 0, "de").when(i == 1, "en").otherwise(_pick(("en", "de", "fr", "es"), i))
    tier = (
        F.when(i == 0, "premium")
        .when(i == 1, "standard")
        .otherwise(_pick(("free", "standard", "premium"), i))
    )
    has_cart = (i == 0) | ((i % 3 == 0) & (i != 1))
    has_ticket = (i == 1) | (i % 5 == 1)
    category = _pick(("electronics", "home", "fashion", "shoes", "books"), i)
    at = F.lit(now).cast("timestamp")
    cart_line = F.struct(
        F.format_string("SKU-%05d", (10000 + i % 977).cast("int")).alias("sku"),
        category.alias("category"),
        F.lit(1).alias("quantity"),
        F.round(F.lit(19.0) + i % 180, 2).cast("double").alias("unit_price"),
        (at - F.expr("INTERVAL 5 MINUTES")).alias("added_at"),
    )
    ticket = F.struct(
        (at - F.expr("INTERVAL 1 DAY")).alias("at"),
        F.format_string("e-%d", n1).alias("event_id"),
        F.format_string("T-%d", n1).alias("ticket_id"),
        F.lit("pending").alias("status"),
        F.lit("email").alias("channel"),
        F.lit("high").alias("priority"),
        F.lit("shipping").alias("category"),
    )
    cid = F.format_string("C%07d", n1)
    return spark.range(n).select(
        F.format_string("p_%016x", n1).alias("profile_id"),
        F.create_map(
            F.lit("customer_id"),
            F.array(cid),
            F.lit("email"),
            F.array(F.format_string("customer%d@example.org", n1)),
            F.lit("phone"),
            F.array(F.format_string("+4915%09d", n1)),
            F.lit("device_id"),
            F.array(F.format_string("dev-%d", n1)),
        ).alias("identifiers"),
        first.alias("first_name"),
        F.lit("Sample").alias("last_name"),
        language.alias("language"),
        F.lit("DE").alias("country"),
        tier.alias("account_tier"),
        (i % 50 != 7).alias("consent_personalization"),
        F.when(i == 1, F.lit(900.0)).otherwise((i % 40) * 25.0).alias("net_spend"),
        (i % 3).cast("bigint").alias("orders_30d"),
        F.format_string("O-%d", n1).alias("last_order_id"),
        (at - F.expr("INTERVAL 3 DAYS")).alias("last_order_at"),
        F.when(has_ticket, 1).otherwise(0).alias("open_tickets"),
        F.when(has_ticket, F.array(F.format_string("T-%d", n1)))
        .otherwise(F.array().cast("array<string>"))
        .alias("open_ticket_ids"),
        F.when(has_ticket, ticket).alias("last_ticket"),
        F.lit(3.5).alias("avg_csat"),
        F.when(has_cart, F.array(cart_line)).otherwise(F.array().cast(CART)).alias("cart"),
        F.when(has_cart, cart_line["unit_price"]).otherwise(F.lit(0.0)).alias("cart_value"),
        F.when(has_cart, cart_line["added_at"]).alias("cart_updated_at"),
        F.when(has_cart, "cart").otherwise("browsing").alias("intent"),
        F.when(has_ticket, ticket["at"]).alias("last_contact_at"),
        F.array(category).alias("recent_categories"),
        at.alias("last_seen"),
        at.alias("as_of"),
        (i % 9 + 1).cast("bigint").alias("version"),
        at.alias("updated_at"),
    )


def sample_segments(spark: SparkSession, n: int, now: datetime) -> DataFrame:
    """One segments snapshot for the sample profiles (C0000002 at high churn risk)."""
    i = F.col("id")
    band = F.when(i == 1, "high").otherwise(_pick(("low", "medium", "high"), i))
    return spark.range(n).select(
        F.format_string("p_%016x", i + 1).alias("profile_id"),
        F.lit(now).cast("timestamp").alias("as_of"),
        F.array(F.when(band == "high", "at_risk").otherwise("active")).alias("rule_segments"),
        _pick(("bargain_hunters", "gadget_fans"), i).alias("cluster_name"),
        F.when(band == "high", 0.8).otherwise(0.2).alias("churn_score"),
        band.alias("churn_band"),
        F.when(band == "high", "at_risk").otherwise("loyal").alias("rfm_label"),
    )
