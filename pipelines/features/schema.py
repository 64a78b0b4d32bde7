"""The gold ``features`` table schema: built from the windows in conf, so one definition feeds
the build (column order and types), the rule validator and the docs."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from pipelines.features.params import FeatureParams


def features_schema(params: FeatureParams | None = None) -> StructType:
    p = params or FeatureParams()
    cols: list[tuple[str, DataType]] = [
        ("profile_id", StringType()),
        ("as_of", DateType()),
        ("country", StringType()),
        ("account_tier", StringType()),
        ("language", StringType()),
        ("first_seen_date", DateType()),
        ("last_event_date", DateType()),
        ("tenure_days", IntegerType()),
        ("days_since_last_event", IntegerType()),
        # RFM
        *[(f"orders_{n}d", LongType()) for n in p.order_windows],
        ("orders_lifetime", LongType()),
        *[(f"spend_{n}d", DoubleType()) for n in p.order_windows],
        ("spend_lifetime", DoubleType()),
        ("first_order_date", DateType()),
        ("last_order_date", DateType()),
        ("recency_days", IntegerType()),
        ("distinct_purchase_days", IntegerType()),
        ("avg_order_value", DoubleType()),
        ("r_score", IntegerType()),
        ("f_score", IntegerType()),
        ("m_score", IntegerType()),
        ("rfm_label", StringType()),
        # support
        *[(f"tickets_{n}d", LongType()) for n in p.activity_windows],
        ("tickets_lifetime", LongType()),
        ("open_tickets", LongType()),
        ("escalations", LongType()),
        ("avg_resolution_hours", DoubleType()),
        ("avg_csat", DoubleType()),
        ("csat_responses", LongType()),
        # engagement
        *[(f"sessions_{n}d", LongType()) for n in p.activity_windows],
        *[(f"product_views_{n}d", LongType()) for n in p.activity_windows],
        *[(f"cart_adds_{n}d", LongType()) for n in p.activity_windows],
        ("top_categories", ArrayType(StringType())),
        # decayed scores
        ("engagement_score", DoubleType()),
        ("spend_score", DoubleType()),
    ]
    return StructType([StructField(name, dtype) for name, dtype in cols])


def zero_filled(params: FeatureParams | None = None) -> list[str]:
    """Count and amount columns that are 0 (not null) for a profile without such events."""
    p = params or FeatureParams()
    nullable = {
        "tenure_days",
        "days_since_last_event",
        "recency_days",
        "avg_order_value",
        "avg_resolution_hours",
        "avg_csat",
        "r_score",
        "f_score",
        "m_score",
    }
    numeric = (LongType, DoubleType, IntegerType)
    return [
        f.name
        for f in features_schema(p).fields
        if isinstance(f.dataType, numeric) and f.name not in nullable
    ]
