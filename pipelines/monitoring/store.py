"""The ``metrics`` and ``alerts`` tables: appended through the gate like every table write,
and read back for what the rules compare with (the previous null rates, the last post of
each alert)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate import gated_write
from pipelines.gate.delta_io import read_if_exists
from pipelines.monitoring.lake import as_utc
from pipelines.monitoring.records import ALERTS_SCHEMA, METRICS_SCHEMA, Alert, Metric

METRICS_TABLE = "metrics"
ALERTS_TABLE = "alerts"


def write_metrics(
    spark: SparkSession, catalog: Catalog, metrics: Sequence[Metric], run_id: str, at: datetime
) -> int:
    """Append the run's metrics (one row each); returns the rows written."""
    # A NaN or infinite value (a PSI MLflow stored as NaN) would pass the not-null check and
    # mean nothing on /metrics: left out.
    rows = [(run_id, at, at.date(), m.name, dict(m.labels), float(m.value)) for m in metrics
            if math.isfinite(m.value)]
    if not rows:
        return 0
    df = spark.createDataFrame(rows, METRICS_SCHEMA)
    return gated_write(catalog, df, METRICS_TABLE, run_id=f"{run_id}-metrics").rows_written


def write_alerts(
    spark: SparkSession, catalog: Catalog, alerts: Sequence[tuple[Alert, str]], run_id: str,
    at: datetime,
) -> int:
    """Append the run's alerts with how each was delivered; returns the rows written."""
    if not alerts:
        return 0
    rows = [(run_id, at, a.rule, a.severity, a.subject, _num(a.value), _num(a.threshold),
             a.message, delivery) for a, delivery in alerts]
    df = spark.createDataFrame(rows, ALERTS_SCHEMA)
    return gated_write(catalog, df, ALERTS_TABLE, run_id=f"{run_id}-alerts").rows_written


def previous_values(
    spark: SparkSession, catalog: Catalog, metric: str, keys: Sequence[str]
) -> dict[tuple[str, ...], float]:
    """The latest stored value of ``metric`` per combination of the label ``keys``."""
    table = read_if_exists(spark, catalog.path(METRICS_TABLE))
    if table is None:
        return {}
    rows = (
        table.where(F.col("metric") == metric)
        .select(*[F.col("labels")[k].alias(k) for k in keys], "measured_at", "value")
        .groupBy(*keys)
        .agg(F.max_by("value", "measured_at").alias("value"))
        .collect()
    )
    return {tuple(r[k] for k in keys): float(r["value"]) for r in rows}


def last_posted(spark: SparkSession, catalog: Catalog) -> dict[tuple[str, str], datetime]:
    """When each (rule, subject) was last posted to the webhook successfully."""
    table = read_if_exists(spark, catalog.path(ALERTS_TABLE))
    if table is None:
        return {}
    rows = (
        table.where(F.col("delivery") == "posted")
        .groupBy("rule", "subject").agg(F.max("raised_at").alias("at")).collect()
    )
    return {(r["rule"], r["subject"]): as_utc(r["at"]) for r in rows}


def _num(value: float | None) -> float | None:
    return None if value is None else float(value)
