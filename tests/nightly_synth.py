"""Synthetic event logs for the nightly: built in Spark from ``spark.range``, so the same code
makes 300 customers for a test and 1M for the benchmark, without the source generator.

Every customer signs up on a seeded day, is active until the end of the window or — for about
a third — lapses on a seeded day and is never seen again, so "no order in the next N days" is
learnable. Everything is a pure function of (seed, customer, event index): the output does not
depend on partitioning. Customer ``c`` is ``identifiers.customer_id = c_<c>`` and profile
``p_<c as 16 hex digits>``.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.events.envelope import EVENT_SOURCE
from pipelines.identity.schemas import LINKS
from pipelines.schemas.canonical import EVENT_LOG
from pipelines.schemas.events import IDENTIFIER_TYPES, PROPERTIES

COUNTRIES = ("DE", "FR", "US", "GB", "ES")
CATEGORIES = ("shoes", "socks", "hats", "bags", "coats", "shirts", "toys", "books")
# event type → share of a customer's non-order events (orders have a per-customer share).
MIX = (
    ("order_refunded", 0.01),
    ("ticket_opened", 0.04),
    ("ticket_updated", 0.02),
    ("ticket_closed", 0.03),
    ("csat_submitted", 0.015),
    ("chat_message", 0.02),
    ("product_view", 0.25),
    ("add_to_cart", 0.08),
    ("checkout_started", 0.03),
)


def _u(seed: int, salt: str, *cols: Column) -> Column:
    """A uniform [0, 1) draw, a pure function of (seed, salt, cols)."""
    h = F.xxhash64(F.lit(seed), F.lit(salt), *cols)
    return F.pmod(h, F.lit(1 << 30)).cast("double") / float(1 << 30)


def _pick(values: tuple[str, ...], u: Column) -> Column:
    return F.element_at(F.array(*[F.lit(v) for v in values]), (u * len(values)).cast("int") + 1)


def _midnight(d: date) -> Column:
    """Midnight of ``d`` in the session time zone (UTC), whatever the driver's local zone."""
    return F.to_timestamp(F.lit(f"{d.isoformat()} 00:00:00"))


def profile_id(c: Column) -> Column:
    return F.format_string("p_%016x", c)


def synthetic_events(
    spark: SparkSession,
    customers: int,
    end: date,
    days: int = 400,
    events_per_customer: int = 20,
    seed: int = 42,
    partitions: int | None = None,
    with_profile_id: bool = False,
) -> DataFrame:
    """EVENT_LOG rows (plus ``profile_id`` when asked) for ``customers`` people over the
    ``days`` days ending on ``end``, about ``events_per_customer`` each."""
    c = F.col("id")
    start = end - timedelta(days=days - 1)
    people = spark.range(0, customers, numPartitions=partitions or max(2, customers // 50_000))
    people = people.select(
        c.alias("c"),
        F.floor(_u(seed, "signup", c) * days * 0.6).cast("int").alias("signup"),
        (_u(seed, "lapses", c) < 0.35).alias("lapses"),
        _u(seed, "lapse_at", c).alias("lapse_u"),
        (1 + F.floor(_u(seed, "n", c) * 2 * (events_per_customer - 1))).cast("int").alias("n"),
        _pick(COUNTRIES, _u(seed, "country", c)).alias("country"),
        (20 + 180 * _u(seed, "spend", c)).alias("price"),
        (0.04 + 0.2 * _u(seed, "buy", c)).alias("p_order"),
    ).withColumn(
        "active_until",
        F.when(
            F.col("lapses"),
            F.col("signup") + F.floor((days - F.col("signup")) * F.col("lapse_u")).cast("int"),
        ).otherwise(days - 1),
    )
    ev = people.select("*", F.explode(F.sequence(F.lit(0), F.col("n") - 1)).alias("e"))
    cc, e = F.col("c"), F.col("e")
    span = F.greatest(F.col("active_until") - F.col("signup"), F.lit(1))
    day = F.when(e == 0, F.col("signup")).otherwise(
        F.col("signup") + F.floor(_u(seed, "day", cc, e) * span).cast("int")
    )
    r = _u(seed, "type", cc, e)
    kind = F.when(e == 0, F.lit("profile_updated")).when(r < F.col("p_order"), "order_placed")
    edge = F.col("p_order")
    for name, share in MIX:
        kind = kind.when(r < edge + share, F.lit(name))
        edge = edge + share
    kind = kind.otherwise(F.lit("page_view"))
    ev = ev.withColumn("event_type", kind).withColumn("day", day)
    t = F.col("event_type")
    when_ = F.timestamp_seconds(
        F.unix_timestamp(_midnight(start))
        + F.col("day") * 86400
        + F.floor(_u(seed, "sec", cc, e) * 86399).cast("long")
    )
    category = _pick(CATEGORIES, _u(seed, "cat", cc, e))
    amount = F.round(F.col("price") * (0.5 + _u(seed, "amt", cc, e)), 2)
    ticket = F.format_string("t_%d_%d", cc, F.floor(e / 4).cast("int"))
    status = (
        F.when(t == "ticket_opened", "open")
        .when(t == "ticket_closed", "closed")
        .when(
            t == "ticket_updated",
            F.when(_u(seed, "esc", cc, e) < 0.1, "escalated").otherwise("pending"),
        )
    )
    is_ticket = t.isin("ticket_opened", "ticket_updated", "ticket_closed")
    props = F.struct(
        F.when(t.isin("page_view", "product_view"), F.format_string("/p/%d", e)).alias("url"),
        F.when(
            t.isin("page_view", "product_view"), F.format_string("s_%d_%d", cc, F.col("day"))
        ).alias("session_id"),
        F.when(t.isin("product_view", "add_to_cart"), F.format_string("sku_%d", e % 50)).alias(
            "sku"
        ),
        F.when(t.isin("product_view", "add_to_cart"), category).alias("category"),
        F.when(t == "add_to_cart", F.lit(1)).alias("quantity"),
        F.when(t == "add_to_cart", amount).alias("unit_price"),
        F.when(
            t.isin("add_to_cart", "order_placed", "order_refunded", "checkout_started"),
            F.lit("EUR"),
        ).alias("currency"),
        F.when(t == "checkout_started", amount).alias("cart_value"),
        F.when(t == "order_placed", F.format_string("o_%d_%d", cc, e))
        .when(t == "order_refunded", F.format_string("o_%d_%d", cc, e - 1))
        .alias("order_id"),
        F.when(t.isin("order_placed", "order_refunded"), amount).alias("amount"),
        F.when(
            t == "order_placed",
            F.array(
                F.struct(
                    F.format_string("sku_%d", e % 50).alias("sku"),
                    category.alias("category"),
                    F.lit(1).alias("quantity"),
                    amount.alias("unit_price"),
                )
            ),
        ).alias("items"),
        F.when(is_ticket | (t == "csat_submitted"), ticket).alias("ticket_id"),
        F.when(is_ticket, F.lit("email")).alias("channel"),
        F.when(
            is_ticket,
            _pick(("low", "normal", "high", "urgent"), _u(seed, "prio", cc, F.floor(e / 4))),
        ).alias("priority"),
        status.alias("status"),
        F.when(t == "csat_submitted", (1 + F.floor(_u(seed, "csat", cc, e) * 5)).cast("int")).alias(
            "score"
        ),
        F.when(t == "chat_message", F.format_string("conv_%d", cc)).alias("conversation_id"),
        F.when(t == "chat_message", F.lit("customer")).alias("role"),
        F.when(t == "chat_message", F.round(_u(seed, "sent", cc, e) * 2 - 1, 2)).alias("sentiment"),
        F.when(
            t == "profile_updated",
            F.create_map(
                F.lit("country"),
                F.col("country"),
                F.lit("account_tier"),
                _pick(("free", "standard", "premium"), _u(seed, "tier", cc)),
                F.lit("language"),
                F.lit("en"),
            ),
        ).alias("attributes"),
        F.lit(None).cast("boolean").alias("personalization"),
        F.lit(None).cast("boolean").alias("marketing"),
        F.lit(None).cast("string").alias("platform"),
        F.lit(None).cast("string").alias("handle"),
    ).cast(PROPERTIES)
    source = F.lit("web")
    for name, src in EVENT_SOURCE.items():
        source = F.when(t == name, F.lit(src)).otherwise(source)
    out = ev.select(
        *([profile_id(cc).alias("profile_id")] if with_profile_id else []),
        F.format_string("e_%d_%d", cc, e).alias("event_id"),
        t.alias("event_type"),
        when_.alias("event_time"),
        source.alias("source"),
        F.struct(
            *[
                (
                    F.format_string("c_%d", cc)
                    if f == "customer_id"
                    else F.lit(None).cast("string")
                ).alias(f)
                for f in IDENTIFIER_TYPES
            ]
        ).alias("identifiers"),
        props.alias("properties"),
        F.struct(
            props["amount"].alias("amount"),
            props["cart_value"].alias("cart_value"),
            props["unit_price"].alias("unit_price"),
        ).alias("base_amounts"),
        F.lit("synthetic").alias("origin"),
        when_.alias("ingested_at"),
        F.to_date(when_).alias("event_date"),
    )
    schema = [f.name for f in EVENT_LOG.fields]
    return out.select(*(["profile_id"] if with_profile_id else []), *schema)


def synthetic_links(
    spark: SparkSession, customers: int, at: date, partitions: int | None = None
) -> DataFrame:
    """identity_links rows: one customer_id link per customer."""
    c = F.col("id")
    ts = _midnight(at)
    rows = spark.range(
        0, customers, numPartitions=partitions or max(2, customers // 200_000)
    ).select(
        F.lit("customer_id").alias("id_type"),
        F.format_string("c_%d", c).alias("id_value"),
        profile_id(c).alias("profile_id"),
        ts.alias("profile_created_at"),
        ts.alias("first_seen"),
        ts.alias("last_seen"),
        ts.alias("updated_at"),
        F.lit(False).alias("shared"),
        F.array(F.format_string("c_%d", c)).alias("customer_ids"),
        F.lit(None).alias("anonymous_ids"),
        profile_id(c).alias("origin_profile_id"),
    )
    return rows.select(*[F.col(f.name).cast(f.dataType) for f in LINKS.fields])
