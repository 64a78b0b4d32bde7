"""Build small canonical event DataFrames (EVENT_LOG + profile_id) for tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from pipelines.schemas.canonical import EVENT_LOG
from pipelines.schemas.events import PROPERTIES

SCHEMA = StructType([StructField("profile_id", StringType()), *EVENT_LOG.fields])
_PROPERTY_NAMES = [f.name for f in PROPERTIES.fields]


def ts(text: str) -> datetime:
    """A naive UTC datetime: what PySpark returns for timestamps (tests run with TZ=UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=None)


def event(
    event_id: str,
    event_type: str,
    at: str,
    profile: str = "p1",
    source: str = "web",
    identifiers: dict[str, str] | None = None,
    **props: Any,
) -> dict[str, Any]:
    """One event; amounts in ``props`` are taken as already in the base currency."""
    unknown = set(props) - set(_PROPERTY_NAMES)
    assert not unknown, f"not envelope properties: {unknown}"
    properties = {name: props.get(name) for name in _PROPERTY_NAMES}
    when = ts(at)
    return {
        "profile_id": profile,
        "event_id": event_id,
        "event_type": event_type,
        "event_time": when,
        "source": source,
        "identifiers": identifiers or {},
        "properties": properties,
        "base_amounts": {
            "amount": props.get("amount"),
            "cart_value": props.get("cart_value"),
            "unit_price": props.get("unit_price"),
        },
        "origin": "test",
        "ingested_at": when,
        "event_date": when.date(),
    }


def events_df(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    return spark.createDataFrame(rows, SCHEMA)
