"""Exponentially decayed scores.

An event ``a`` whole days before ``as_of`` weighs ``0.5 ** (a / half_life)``: 1 on as_of
itself, ½ one half-life earlier, ¼ two half-lives earlier. Half-lives are in conf
(``features.engagement_half_life_days``, ``features.spend_half_life_days``).

- ``engagement_score`` = Σ weight over engagement events (page_view, product_view,
  add_to_cart, checkout_started).
- ``spend_score`` = Σ weight × net amount over orders (weight from the order's date; the net
  amount is the order amount less refunds up to as_of, never below 0).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column
from pyspark.sql import functions as F

from pipelines.features.pit import age_days

ENGAGEMENT_TYPES = ("page_view", "product_view", "add_to_cart", "checkout_started")


def decay_weight(as_of: date, half_life_days: float, day_col: Column | None = None) -> Column:
    return F.pow(F.lit(0.5), age_days(as_of, day_col) / F.lit(float(half_life_days)))


def decayed_sum(value: Column, as_of: date, half_life_days: float, day_col: Column) -> Column:
    """Aggregate: Σ value × weight (0 when there is nothing to sum), rounded to 4 places."""
    return F.round(
        F.coalesce(F.sum(value * decay_weight(as_of, half_life_days, day_col)), F.lit(0.0)), 4
    )
