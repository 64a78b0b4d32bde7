"""From a profile state to the columns a chatbot reads (ARCHITECTURE §3.3).

Business rules:
- Static attributes (first_name, last_name, country, language, account_tier…) are the value of
  the latest ``profile_updated`` by event time; each keeps its ``*_set_at``.
- Spend, in the base currency: ``gross_spend`` = Σ ``order_placed`` amounts (a state sum,
  0 without orders); ``net_spend`` = gross_spend − Σ ``order_refunded`` amounts, rounded to
  cents (0 without orders or refunds). Windowed orders/spend count order days within the last
  N days before ``as_of`` (refunds on the day they happen).
- Open tickets: tickets whose latest status is neither solved nor closed.
- The cart replays the latest cart events in event-time order: ``add_to_cart`` adds quantity to
  its sku, ``remove_from_cart`` removes the sku, ``order_placed`` removes what was bought.
- Intent: ``checkout`` when a checkout started after the last cart change and the cart is not
  empty, ``cart`` when the cart is not empty, ``browsing`` when products were viewed, else none.
- Consent: personalization defaults to allowed, marketing to not allowed, until an event says.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

STATIC_ATTRIBUTES = ("first_name", "last_name", "country", "language", "account_tier")
CLOSED_STATUSES = ("solved", "closed", "resolved")
CART_LINE = (
    "map<string,struct<sku:string,category:string,quantity:int,unit_price:double,"
    "added_at:timestamp>>"
)


def _window(days: int, as_of: Column, field: str) -> Column:
    start = F.date_sub(as_of, days - 1)
    in_window = F.map_filter("order_days", lambda d, _v: (d >= start) & (d <= as_of))
    return F.aggregate(
        F.map_values(in_window),
        F.lit(0).cast("double" if field == "spend" else "bigint"),
        lambda acc, v: acc + v[field],
    )


def _cart() -> Column:
    # cart_events are stored newest first; the cart replays them oldest first.
    return F.expr(
        f"aggregate(reverse(cart_events), cast(map() as {CART_LINE}), (acc, e) -> "
        "case e.kind "
        " when 'add_to_cart' then map_concat(map_filter(acc, (k, v) -> k != e.sku), "
        "   map(e.sku, named_struct('sku', e.sku, 'category', e.category, "
        "     'quantity', coalesce(acc[e.sku].quantity, 0) + coalesce(e.quantity, 1), "
        "     'unit_price', e.unit_price, 'added_at', e.at))) "
        " when 'remove_from_cart' then map_filter(acc, (k, v) -> k != e.sku) "
        " when 'order_placed' then map_filter(acc, (k, v) -> not array_contains(e.skus, k)) "
        " else acc end)"
    )


def finalize(
    states: DataFrame, as_of: datetime | Column, windows: Sequence[int] = (30, 90, 365)
) -> DataFrame:
    """Add the readable profile columns to states; ``as_of`` anchors the windowed figures."""
    as_of_col = as_of if isinstance(as_of, Column) else F.lit(as_of).cast("timestamp")
    as_of_date = F.to_date(as_of_col)
    out = states.withColumn("_cart", _cart())
    cart_lines = F.map_values("_cart")
    last_cart_change = F.aggregate(
        F.filter("cart_events", lambda e: e["kind"] != "checkout_started"),
        F.lit(None).cast("timestamp"),
        lambda acc, e: F.greatest(acc, e["at"]),
    )
    last_checkout = F.aggregate(
        F.filter("cart_events", lambda e: e["kind"] == "checkout_started"),
        F.lit(None).cast("timestamp"),
        lambda acc, e: F.greatest(acc, e["at"]),
    )
    open_tickets = F.filter(
        F.map_values("tickets"),
        lambda t: ~F.coalesce(t["status"], F.lit("open")).isin(list(CLOSED_STATUSES)),
    )
    columns: dict[str, Column] = {
        **{a: F.col("attributes")[a]["value"] for a in STATIC_ATTRIBUTES},
        **{f"{a}_set_at": F.col("attributes")[a]["at"] for a in STATIC_ATTRIBUTES},
        "consent_personalization": F.coalesce(F.col("consent.personalization"), F.lit(True)),
        "consent_marketing": F.coalesce(F.col("consent.marketing"), F.lit(False)),
        "net_spend": F.round(
            F.coalesce("gross_spend", F.lit(0.0)) - F.coalesce("refunded_amount", F.lit(0.0)), 2
        ),
        "avg_order_value": F.round(
            F.col("gross_spend") / F.nullif(F.col("orders_count"), F.lit(0)), 2
        ),
        "first_order_at": F.col("first_order.at"),
        "last_order_at": F.col("last_order.at"),
        "last_order_id": F.col("last_order.order_id"),
        **{f"orders_{d}d": _window(d, as_of_date, "orders") for d in windows},
        **{f"spend_{d}d": F.round(_window(d, as_of_date, "spend"), 2) for d in windows},
        "open_tickets": F.size(open_tickets),
        "open_ticket_ids": F.array_sort(F.transform(open_tickets, lambda t: t["ticket_id"])),
        "tickets_total": F.size("tickets"),
        "last_ticket": F.array_max(F.map_values("tickets")),
        "avg_csat": F.round(F.col("csat_sum") / F.nullif(F.col("csat_count"), F.lit(0)), 2),
        "avg_sentiment": F.round(
            F.col("sentiment_sum") / F.nullif(F.col("sentiment_count"), F.lit(0)), 3
        ),
        "sessions": F.coalesce(F.hll_sketch_estimate("sessions_sketch"), F.lit(0)),
        "recent_categories": F.transform(
            F.slice(
                F.sort_array(
                    F.transform(
                        F.map_entries("categories"),
                        lambda e: F.struct(e["value"].alias("at"), e["key"].alias("c")),
                    ),
                    asc=False,
                ),
                1,
                5,
            ),
            lambda e: e["c"],
        ),
        "cart": F.array_sort(cart_lines),
        "cart_value": F.round(
            F.aggregate(
                cart_lines,
                F.lit(0.0),
                lambda acc, line: (
                    acc + line["quantity"] * F.coalesce(line["unit_price"], F.lit(0.0))
                ),
            ),
            2,
        ),
        "cart_updated_at": last_cart_change,
        "intent": F.when((F.size(cart_lines) > 0) & (last_checkout > last_cart_change), "checkout")
        .when(F.size(cart_lines) > 0, "cart")
        .when(F.col("product_views") > 0, "browsing"),
        "as_of": as_of_col,
    }
    out = out.withColumns(columns).drop("_cart")
    return out.withColumn("state_hash", _state_hash())


def _state_hash() -> Column:
    """Fingerprint of the folded state: a profile changes (and its version increases) only
    when this changes. Derived columns that depend on ``as_of`` are left out on purpose."""
    from pipelines.profiles.state import STATE_COLUMNS

    # Canonical forms: map key order and sketch bytes depend on merge order, their content not.
    maps = {"attributes", "order_days", "tickets", "categories"}
    parts = [
        F.array_sort(F.map_entries(c)).alias(c)
        if c in maps
        else F.hll_sketch_estimate(c).alias(c)
        if c == "sessions_sketch"
        else F.col(c)
        for c in STATE_COLUMNS
    ]
    return F.sha2(F.to_json(F.struct(*parts)), 256)
