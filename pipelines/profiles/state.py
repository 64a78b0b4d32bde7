"""The profile fold, written once for batch and stream (ARCHITECTURE §3.3).

A profile's *state* is a commutative monoid: every column merges with an associative,
commutative rule (sum, min, max of an ordered struct, per-key merge of maps, HLL union,
bounded latest-K lists). Hence:

- ``fold_events(events)`` turns deduplicated events (with ``profile_id``) into states;
- ``merge_states(states)`` combines several states of the same profile into one;
- ``merge_states(fold(A) ∪ fold(B)) == fold(A ∪ B)`` for disjoint A, B: the stream folds
  only a micro-batch and merges it into the stored state, the batch folds everything, and
  both give the same profile whatever the arrival order.

"Latest" always means the greatest ``(event_time, event_id)``: event time, never arrival,
with ties broken on event_id.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.profiles.rules import (
    CART_TYPES,
    CONTACT_TYPES,
    DEFAULT_FOLD,
    STATE_FIELDS,
    TICKET_TYPES,
    FoldParams,
)

KEY = "profile_id"

TICKET = (
    "struct<at:timestamp,event_id:string,ticket_id:string,status:string,channel:string,"
    "priority:string,category:string>"
)
ATTR = "struct<at:timestamp,event_id:string,value:string>"
DAY = "struct<orders:bigint,spend:double>"
CART_EVENT = (
    "struct<at:timestamp,event_id:string,kind:string,sku:string,category:string,"
    "quantity:int,unit_price:double,skus:array<string>>"
)
ORDER = "struct<at:timestamp,event_id:string,order_id:string,amount:double>"
CONSENT = "struct<at:timestamp,event_id:string,personalization:boolean,marketing:boolean>"

__all__ = ["FoldParams", "fold_events", "merge_states", "unit_states", "STATE_COLUMNS"]


def _is(*types: str) -> Column:
    return F.col("event_type").isin(list(types))


def _when(cond: Column, value: Column) -> Column:
    return F.when(cond, value)


def _count(cond: Column) -> Column:
    return F.when(cond, F.lit(1)).otherwise(F.lit(0)).cast("bigint")


def _at() -> list[Column]:
    return [F.col("event_time").alias("at"), F.col("event_id")]


def unit_states(events: DataFrame) -> DataFrame:
    """One state per event: the contribution of that single event, in state columns."""
    p = lambda name: F.col(f"properties.{name}")  # noqa: E731
    amount = F.col("base_amounts.amount")
    item_skus = F.transform(p("items"), lambda i: i["sku"])
    # Distinct: an order with two items of one category must not repeat a map key.
    order_categories = F.array_distinct(
        F.filter(F.transform(p("items"), lambda i: i["category"]), lambda c: c.isNotNull())
    )
    # Only what the customer said counts towards sentiment, not the bot's or an agent's lines.
    customer_sentiment = (
        _is("chat_message", "social_mention")
        & p("sentiment").isNotNull()
        & (F.coalesce(p("role"), F.lit("customer")) == "customer")
    )
    return events.select(
        F.col(KEY),
        F.lit(1).cast("bigint").alias("event_count"),
        F.col("event_time").alias("first_seen"),
        F.col("event_time").alias("last_seen"),
        F.array(F.col("source")).alias("sources"),
        _when(
            _is("profile_updated"),
            F.transform_values(p("attributes"), lambda _k, v: F.struct(*_at(), v.alias("value"))),
        )
        .cast(f"map<string,{ATTR}>")
        .alias("attributes"),
        _when(
            _is("consent_updated"),
            F.struct(
                *_at(),
                p("personalization").alias("personalization"),
                p("marketing").alias("marketing"),
            ),
        )
        .cast(CONSENT)
        .alias("consent"),
        _count(_is("order_placed")).alias("orders_count"),
        _count(_is("order_refunded")).alias("refunds_count"),
        # 0, not null, without orders: a profile that never ordered has spent nothing
        # (net_spend is 0 there too), and every path (fold, merge, old null states) agrees.
        F.coalesce(_when(_is("order_placed"), amount), F.lit(0.0)).alias("gross_spend"),
        _when(_is("order_refunded"), amount).alias("refunded_amount"),
        _when(
            _is("order_placed"),
            F.struct(*_at(), p("order_id").alias("order_id"), amount.alias("amount")),
        )
        .cast(ORDER)
        .alias("first_order"),
        _when(
            _is("order_placed"),
            F.struct(*_at(), p("order_id").alias("order_id"), amount.alias("amount")),
        )
        .cast(ORDER)
        .alias("last_order"),
        # Refunds count against the day they happen, so windowed spend is net of refunds.
        _when(
            _is("order_placed", "order_refunded"),
            F.create_map(
                F.to_date("event_time"),
                F.struct(
                    _count(_is("order_placed")).alias("orders"),
                    F.when(_is("order_refunded"), -amount).otherwise(amount).alias("spend"),
                ),
            ),
        )
        .cast(f"map<date,{DAY}>")
        .alias("order_days"),
        _when(
            _is(*TICKET_TYPES),
            F.create_map(
                p("ticket_id"),
                F.struct(
                    *_at(),
                    p("ticket_id").alias("ticket_id"),
                    F.lower(p("status")).alias("status"),
                    p("channel").alias("channel"),
                    p("priority").alias("priority"),
                    p("category").alias("category"),
                ),
            ),
        )
        .cast(f"map<string,{TICKET}>")
        .alias("tickets"),
        _when(_is("csat_submitted"), p("score").cast("double")).alias("csat_sum"),
        _count(_is("csat_submitted") & p("score").isNotNull()).alias("csat_count"),
        _count(_is("page_view")).alias("page_views"),
        _count(_is("product_view")).alias("product_views"),
        _count(_is("chat_message")).alias("chat_messages"),
        _count(_is("social_mention")).alias("social_mentions"),
        _when(_is(*CONTACT_TYPES), F.col("event_time")).alias("last_contact_at"),
        _when(customer_sentiment, p("sentiment")).alias("sentiment_sum"),
        _count(customer_sentiment).alias("sentiment_count"),
        # An order's item categories, any other event's own category. The array functions
        # only for orders: on every event they were most of the unit state's cost.
        F.when(
            _is("order_placed"),
            F.when(
                F.size(order_categories) > 0,
                F.map_from_entries(
                    F.transform(order_categories, lambda c: F.struct(c, F.col("event_time")))
                ),
            ),
        )
        .when(p("category").isNotNull(), F.create_map(p("category"), F.col("event_time")))
        .cast("map<string,timestamp>")
        .alias("categories"),
        _when(
            _is(*CART_TYPES),
            F.array(
                F.struct(
                    *_at(),
                    F.col("event_type").alias("kind"),
                    p("sku").alias("sku"),
                    p("category").alias("category"),
                    p("quantity").alias("quantity"),
                    F.col("base_amounts.unit_price").alias("unit_price"),
                    F.when(_is("order_placed"), item_skus).alias("skus"),
                )
            ),
        )
        .cast(f"array<{CART_EVENT}>")
        .alias("cart_events"),
        _when(_is("page_view", "product_view"), p("session_id")).alias("session_id"),
    )


def _map_merge(column: str, value_type: str, pick: str) -> Column:
    """Reduce the group's maps into one, merging values of the same key with ``pick``."""
    return F.expr(
        f"aggregate(collect_list({column}), cast(map() as {value_type}), "
        f"(acc, m) -> map_zip_with(acc, m, (k, v1, v2) -> {pick}))"
    )


_LATEST = "case when v1 is null then v2 when v2 is null then v1 when v2 > v1 then v2 else v1 end"
_SUM_DAY = (
    "named_struct('orders', coalesce(v1.orders, 0) + coalesce(v2.orders, 0), "
    "'spend', coalesce(v1.spend, 0D) + coalesce(v2.spend, 0D))"
)


def _latest_first(a: Column, b: Column) -> Column:
    """Comparator: newer (event_time, event_id) first."""
    return (
        F.when(a["at"] > b["at"], -1)
        .when(a["at"] < b["at"], 1)
        .otherwise(
            F.when(a["event_id"] > b["event_id"], -1)
            .when(a["event_id"] < b["event_id"], 1)
            .otherwise(0)
        )
    )


def _merge_aggs(params: FoldParams) -> list[Column]:
    """Aggregations that merge states (or unit states) of one profile; shared by both stages."""
    latest_first = _latest_first
    return [
        F.sum("event_count").alias("event_count"),
        F.min("first_seen").alias("first_seen"),
        F.max("last_seen").alias("last_seen"),
        # A set: a profile's states repeat a few source lists many times.
        F.array_sort(F.array_distinct(F.flatten(F.collect_set("sources")))).alias("sources"),
        _map_merge("attributes", f"map<string,{ATTR}>", _LATEST).alias("attributes"),
        F.max("consent").alias("consent"),
        F.sum("orders_count").alias("orders_count"),
        F.sum("refunds_count").alias("refunds_count"),
        F.sum("gross_spend").alias("gross_spend"),
        F.sum("refunded_amount").alias("refunded_amount"),
        F.min("first_order").alias("first_order"),
        F.max("last_order").alias("last_order"),
        _map_merge("order_days", f"map<date,{DAY}>", _SUM_DAY).alias("order_days"),
        _map_merge("tickets", f"map<string,{TICKET}>", _LATEST).alias("tickets"),
        F.sum("csat_sum").alias("csat_sum"),
        F.sum("csat_count").alias("csat_count"),
        F.sum("page_views").alias("page_views"),
        F.sum("product_views").alias("product_views"),
        F.sum("chat_messages").alias("chat_messages"),
        F.sum("social_mentions").alias("social_mentions"),
        F.max("last_contact_at").alias("last_contact_at"),
        F.sum("sentiment_sum").alias("sentiment_sum"),
        F.sum("sentiment_count").alias("sentiment_count"),
        _map_merge(
            "categories",
            "map<string,timestamp>",
            "case when v1 is null or v2 > v1 then v2 else v1 end",
        ).alias("categories"),
        F.slice(
            F.array_sort(F.array_distinct(F.flatten(F.collect_list("cart_events"))), latest_first),
            1,
            params.cart_events_kept,
        ).alias("cart_events"),
    ]


def _bound(states: DataFrame, params: FoldParams) -> DataFrame:
    """Trim unbounded maps. Trimming keeps the newest entries, so it commutes with merging."""
    newest_categories = F.slice(
        F.sort_array(
            F.transform(
                F.map_entries("categories"),
                lambda e: F.struct(e["value"].alias("at"), e["key"].alias("k")),
            ),
            asc=False,
        ),
        1,
        params.categories_kept,
    )
    return states.withColumn(
        "categories",
        F.map_from_arrays(
            F.transform(newest_categories, lambda e: e["k"]),
            F.transform(newest_categories, lambda e: e["at"]),
        ),
    ).withColumn(
        "order_days",
        F.map_filter(
            "order_days",
            lambda d, _v: (
                d >= F.date_sub(F.array_max(F.map_keys("order_days")), params.order_days_kept)
            ),
        ),
    )


def fold_events(events: DataFrame, params: FoldParams = DEFAULT_FOLD) -> DataFrame:
    """Fold deduplicated events (EVENT_LOG columns + ``profile_id``) into one state per profile."""
    units = unit_states(events)
    states = units.groupBy(KEY).agg(
        *_merge_aggs(params), F.hll_sketch_agg("session_id").alias("sessions_sketch")
    )
    return _bound(states, params)


STATE_COLUMNS = (KEY, *STATE_FIELDS, "sessions_sketch")


def merge_states(states: DataFrame, params: FoldParams = DEFAULT_FOLD) -> DataFrame:
    """Combine several states per profile (a stored state and a micro-batch fold, or the states
    of profiles that identity resolution merged, re-keyed to the survivor) into one."""
    merged = (
        states.select(*STATE_COLUMNS)
        .groupBy(KEY)
        .agg(*_merge_aggs(params), F.hll_union_agg("sessions_sketch").alias("sessions_sketch"))
    )
    return _bound(merged, params)


# Microseconds: the hot lane compares event times at full precision (ties break on event_id).
STATE_JSON_OPTIONS = {"timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"}


def state_json() -> Column:
    """The state columns (all but ``profile_id`` and the HLL ``sessions_sketch``, which has no
    Python twin) as one JSON object: the wire form ``state_local.from_json`` reads."""
    fields = [
        # to_json writes date map keys as days since the epoch: ISO dates instead.
        F.transform_keys(c, lambda k, _v: F.date_format(k, "yyyy-MM-dd")).alias(c)
        if c == "order_days"
        else F.col(c)
        for c in STATE_COLUMNS
        if c not in (KEY, "sessions_sketch")
    ]
    return F.to_json(F.struct(*fields), STATE_JSON_OPTIONS)
