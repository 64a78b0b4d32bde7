"""The canonical event log (silver ``events``): every source, batch or stream, lands here in
one shape — the envelope of ARCHITECTURE §3.1 with a UTC timestamp, normalized identifiers,
amounts also in the base currency, and where the row came from.

Profiles, identity and features are all computed from this one table.
"""

from __future__ import annotations

from pyspark.sql.types import (
    DateType,
    DoubleType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from pipelines.schemas.events import IDENTIFIERS, PROPERTIES

# Amounts converted to conf `currency.base`; the original amount and currency stay in
# `properties` next to them.
BASE_AMOUNTS = StructType(
    [
        StructField("amount", DoubleType()),
        StructField("cart_value", DoubleType()),
        StructField("unit_price", DoubleType()),
    ]
)

EVENT_LOG = StructType(
    [
        StructField("event_id", StringType(), nullable=False),
        StructField("event_type", StringType(), nullable=False),
        StructField("event_time", TimestampType(), nullable=False),
        StructField("source", StringType(), nullable=False),
        StructField("identifiers", IDENTIFIERS),
        StructField("properties", PROPERTIES),
        StructField("base_amounts", BASE_AMOUNTS),
        StructField("origin", StringType()),  # file path, or topic/partition/offset
        StructField("ingested_at", TimestampType()),
        StructField("event_date", DateType()),  # partition column, from event_time
    ]
)
