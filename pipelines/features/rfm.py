"""RFM: recency, frequency and monetary value of a profile's orders, as of a date.

Definitions (docs/features.md):
- An *order* is an ``order_placed`` event's ``order_id`` (placed twice, it counts once: its
  earliest placement's date, the larger amount). Its *net amount* is the placed amount
  (``base_amounts.amount``, base currency) less refunds for that ``order_id`` up to as_of,
  never below 0. An order is *refunded* when those refunds are more than 0 and
  reach 99 % of the amount (conversion rounding), so a 0 order without refund is an order;
  partly refunded orders still count. Refunds naming an order that
  is not in the log cannot be attributed and are ignored.
- ``orders_<N>d`` / ``orders_lifetime``: non-refunded orders placed in the window (the last N
  days ending on as_of, inclusive) / ever.
- ``spend_<N>d`` / ``spend_lifetime``: Σ net amount of orders placed in the window / ever.
- ``first_order_date`` / ``last_order_date``: dates of the first / last non-refunded order.
- ``recency_days``: days from the last non-refunded order's date to as_of (0 = ordered that
  day); null when there is none.
- ``distinct_purchase_days``: distinct dates with a non-refunded order.
- ``avg_order_value``: ``spend_lifetime / orders_lifetime`` (null without orders).
- ``spend_score``: decayed spend (pipelines/features/decay.py).
- R/F/M scores 1–5 over *buyers* (``orders_lifetime > 0``) at this as_of: cut points are the
  20/40/60/80th percentiles of the buyers' values; F and M score 1 + the number of cut points
  strictly below the value, R scores 5 − the number of cut points strictly below
  ``recency_days`` (recent = high). Non-buyers get no scores and the label ``No Purchases``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.features.decay import decayed_sum
from pipelines.features.params import FeatureParams
from pipelines.features.pit import age_days, in_window, is_type, point_in_time

REFUNDED_SHARE = 0.99
QUINTILES = (0.2, 0.4, 0.6, 0.8)
NO_PURCHASES = "No Purchases"

# First match wins; r, f and m are the 1–5 scores. Every (r, f) pair has a label.
RFM_LABELS: tuple[tuple[str, str, Callable[[Column, Column, Column], Column]], ...] = (
    ("Champions", "r ≥ 4, f ≥ 4, m ≥ 4", lambda r, f, m: (r >= 4) & (f >= 4) & (m >= 4)),
    ("Loyal", "r ≥ 3, f ≥ 4", lambda r, f, m: (r >= 3) & (f >= 4)),
    ("At Risk", "r ≤ 2, f ≥ 3", lambda r, f, m: (r <= 2) & (f >= 3)),
    ("Hibernating", "r ≤ 2, f ≤ 2", lambda r, f, m: r <= 2),
    ("New Customers", "r ≥ 4, f = 1", lambda r, f, m: (r >= 4) & (f == 1)),
    ("Potential Loyalists", "r ≥ 4, f 2–3", lambda r, f, m: r >= 4),
    ("Need Attention", "r = 3, f ≤ 3", lambda r, f, m: r == 3),
)


def order_facts(events: DataFrame, as_of: date) -> DataFrame:
    """One row per (profile_id, order_id) placed by as_of: order_date, amount, refunded,
    net_amount, is_refunded — refunds after as_of do not count."""
    ev = point_in_time(events, as_of).where(
        is_type("order_placed", "order_refunded") & F.col("order_id").isNotNull()
    )
    placed = is_type("order_placed")
    amount = F.col("amount")
    per_order = ev.groupBy("profile_id", F.col("order_id").alias("order_id")).agg(
        F.min(F.when(placed, F.to_date("event_time"))).alias("order_date"),
        F.max(F.when(placed, amount)).alias("amount"),
        F.sum(F.when(~placed, amount)).alias("refunded"),
    )
    refunded = F.coalesce(F.col("refunded"), F.lit(0.0))
    return per_order.where(F.col("order_date").isNotNull()).select(
        "profile_id",
        "order_id",
        "order_date",
        F.coalesce(F.col("amount"), F.lit(0.0)).alias("amount"),
        refunded.alias("refunded"),
        F.greatest(F.coalesce(F.col("amount"), F.lit(0.0)) - refunded, F.lit(0.0)).alias(
            "net_amount"
        ),
        ((refunded > 0) & (refunded >= F.col("amount") * REFUNDED_SHARE)).alias("is_refunded"),
    )


def order_features(events: DataFrame, as_of: date, params: FeatureParams) -> DataFrame:
    """Per profile with at least one order by as_of: the RFM inputs (see module docstring).

    Args:
        events: the event log with ``profile_id`` (EVENT_LOG shape).
        as_of: snapshot date; only events on or before it count.
    Returns:
        profile_id, orders_<N>d, orders_lifetime, spend_<N>d, spend_lifetime,
        first_order_date, last_order_date, recency_days, distinct_purchase_days,
        avg_order_value, spend_score.
    """
    orders = order_facts(events, as_of)
    kept = ~F.col("is_refunded")
    d = F.col("order_date")
    per_window = []
    for n in params.order_windows:
        win = in_window(n, as_of, d)
        per_window += [
            F.count(F.when(kept & win, 1)).alias(f"orders_{n}d"),
            F.round(F.coalesce(F.sum(F.when(win, F.col("net_amount"))), F.lit(0.0)), 2).alias(
                f"spend_{n}d"
            ),
        ]
    agg = orders.groupBy("profile_id").agg(
        *per_window,
        F.count(F.when(kept, 1)).alias("orders_lifetime"),
        F.round(F.sum("net_amount"), 2).alias("spend_lifetime"),
        F.min(F.when(kept, d)).alias("first_order_date"),
        F.max(F.when(kept, d)).alias("last_order_date"),
        F.size(F.collect_set(F.when(kept, d))).alias("distinct_purchase_days"),
        decayed_sum(F.col("net_amount"), as_of, params.spend_half_life, d).alias("spend_score"),
    )
    return agg.withColumn("recency_days", age_days(as_of, F.col("last_order_date"))).withColumn(
        "avg_order_value",
        F.round(F.col("spend_lifetime") / F.nullif(F.col("orders_lifetime"), F.lit(0)), 2),
    )


def rfm_inputs(params: FeatureParams) -> dict[str, str]:
    return {
        "r": "recency_days",
        "f": params.rfm_frequency_column,
        "m": params.rfm_monetary_column,
    }


def rfm_cuts(features: DataFrame, params: FeatureParams) -> dict[str, list[float]]:
    """The quintile cut points of R, F and M over buyers (an action: runs a Spark job)."""
    columns = rfm_inputs(params)
    buyers = features.where(F.col("orders_lifetime") > 0)
    quantiles = buyers.approxQuantile(
        list(columns.values()), list(QUINTILES), params.rfm_quantile_error
    )
    return {k: [float(v) for v in q] for k, q in zip(columns, quantiles, strict=True)}


def _below(value: Column, cuts: list[float]) -> Column:
    """How many cut points lie strictly below ``value``."""
    total = F.lit(0)
    for c in cuts:
        total = total + F.when(value > F.lit(c), 1).otherwise(0)
    return total


def rfm_label(r: Column, f: Column, m: Column) -> Column:
    """The RFM label of the scores: the first matching rule of ``RFM_LABELS``."""
    label = F.lit(NO_PURCHASES)
    for name, _text, rule in reversed(RFM_LABELS):
        label = F.when(rule(r, f, m), F.lit(name)).otherwise(label)
    return F.when(r.isNull() | f.isNull() | m.isNull(), F.lit(NO_PURCHASES)).otherwise(label)


def score_rfm(
    features: DataFrame, cuts: dict[str, list[float]], params: FeatureParams
) -> DataFrame:
    """Add r_score, f_score, m_score (1–5, buyers only) and rfm_label from ``cuts``."""
    cols = rfm_inputs(params)
    buyer = F.col("orders_lifetime") > 0
    if not any(cuts.values()):  # no buyers at all: every cut list is empty
        cuts = {k: [] for k in cols}
    r = F.when(buyer, 5 - _below(F.col(cols["r"]), cuts["r"]))
    f = F.when(buyer, 1 + _below(F.col(cols["f"]), cuts["f"]))
    m = F.when(buyer, 1 + _below(F.col(cols["m"]), cuts["m"]))
    out = (
        features.withColumn("r_score", r.cast("int"))
        .withColumn("f_score", f.cast("int"))
        .withColumn("m_score", m.cast("int"))
    )
    return out.withColumn(
        "rfm_label", rfm_label(F.col("r_score"), F.col("f_score"), F.col("m_score"))
    )
