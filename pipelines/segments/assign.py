"""Assemble the ``segments`` rows: rule segments with hysteresis, primary segment, cluster,
churn score and band, staleness.

Definitions (docs/segments.md):
- ``rule_segments``: every rule the profile is a member of (hysteresis applied), by priority.
- ``segment_reasons``: for each of them, in the same order, the condition that put the
  profile there: the rule's ``condition`` when it holds, else its ``keep_condition`` with
  ``kept`` = true (a member from before, held by hysteresis).
- ``churn_reasons``: the churn score's top three reasons (pipelines/models/churn.py).
- ``primary_segment``: the first of them (lowest priority number), else ``Unsegmented``.
- ``churn_band``: from ``churn_score`` with the band edges and hysteresis; null without score.
- ``is_stale``: no event for more than ``features.stale_days`` days before as_of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    StringType,
    StructField,
    StructType,
)

from pipelines.segments.hysteresis import HysteresisParams, churn_band, sticky_member
from pipelines.segments.rules import SegmentRule

UNSEGMENTED = "Unsegmented"
SEGMENT_REASON_TYPE = "array<struct<segment:string,condition:string,kept:boolean>>"
SEGMENT_REASON = StructType(
    [
        StructField("segment", StringType()),
        StructField("condition", StringType()),
        StructField("kept", BooleanType()),
    ]
)

SEGMENTS = StructType(
    [
        StructField("profile_id", StringType()),
        StructField("as_of", DateType()),
        StructField("primary_segment", StringType()),
        StructField("rule_segments", ArrayType(StringType())),
        StructField("previous_primary_segment", StringType()),
        StructField("segment_changed", BooleanType()),
        StructField("rfm_label", StringType()),
        StructField("cluster_id", IntegerType()),
        StructField("cluster_name", StringType()),
        StructField("churn_score", DoubleType()),
        StructField("churn_band", StringType()),
        StructField("churn_reasons", ArrayType(StringType())),
        StructField("segment_reasons", ArrayType(SEGMENT_REASON)),
        StructField("model_version", StringType()),
        StructField("days_since_last_event", IntegerType()),
        StructField("is_stale", BooleanType()),
    ]
)

# Added with the reasons; segments tables written before get them on the next write.
ADDED_SEGMENT_COLUMNS = {
    "churn_reasons": "array<string>",
    "segment_reasons": SEGMENT_REASON_TYPE,
}


@dataclass(frozen=True)
class SegmentParams:
    band_edges: tuple[float, float] = (0.4, 0.7)  # medium_from, high_from
    stale_days: int = 60
    hysteresis: HysteresisParams = HysteresisParams()


def assign_segments(
    features: DataFrame,
    clusters: DataFrame | None,
    churn: DataFrame | None,
    previous: DataFrame | None,
    rules: list[SegmentRule],
    as_of: date,
    params: SegmentParams,
) -> DataFrame:
    """The ``segments`` rows for ``as_of``.

    Args:
        features: the features rows of as_of.
        clusters: (profile_id, cluster_id, cluster_name) or None.
        churn: (profile_id, churn_score, model_version, churn_reasons?) or None (no model).
        previous: the segments rows of the latest earlier as_of, or None; ignored when older
            than ``max_gap_days`` or when hysteresis is off.
        rules: from ``load_rules`` (validated).
    """
    df = features
    spark = features.sparkSession
    if clusters is None:
        clusters = spark.createDataFrame(
            [], "profile_id string, cluster_id int, cluster_name string"
        )
    if churn is None:
        churn = spark.createDataFrame(
            [], "profile_id string, churn_score double, model_version string"
        )
    df = df.join(clusters.select("profile_id", "cluster_id", "cluster_name"), "profile_id", "left")
    reasons = (
        F.col("churn_reasons")
        if "churn_reasons" in churn.columns
        else F.lit(None).cast("array<string>").alias("churn_reasons")
    )
    df = df.join(
        churn.select("profile_id", "churn_score", "model_version", reasons), "profile_id", "left"
    )

    h = params.hysteresis
    use_previous = previous is not None and h.enabled
    if use_previous:
        prev = previous.where(F.col("as_of") >= F.date_sub(F.lit(as_of), h.max_gap_days)).select(
            "profile_id",
            F.col("rule_segments").alias("_prev_segments"),
            F.col("primary_segment").alias("previous_primary_segment"),
            F.col("churn_band").alias("_prev_band"),
        )
        df = df.join(prev, "profile_id", "left")
    else:
        df = (
            df.withColumn("_prev_segments", F.lit(None).cast("array<string>"))
            .withColumn("previous_primary_segment", F.lit(None).cast("string"))
            .withColumn("_prev_band", F.lit(None).cast("string"))
        )
    margin = h.churn_band_margin if use_previous else 0.0
    df = df.withColumn(
        "churn_band",
        churn_band(F.col("churn_score"), params.band_edges, F.col("_prev_band"), margin),
    )
    for rule in rules:
        was = F.array_contains(
            F.coalesce("_prev_segments", F.array().cast("array<string>")), rule.name
        )
        df = df.withColumn(
            rule.column, sticky_member(F.expr(rule.condition), F.expr(rule.keep_condition), was)
        )
    members = F.filter(
        F.array(*[F.when(F.col(r.column), F.lit(r.name)) for r in rules]), lambda x: x.isNotNull()
    )
    df = df.withColumn("rule_segments", members).withColumn(
        "segment_reasons", _segment_reasons(rules)
    )
    primary = F.coalesce(F.get("rule_segments", 0), F.lit(UNSEGMENTED))
    df = df.withColumn("primary_segment", primary).withColumn(
        "segment_changed",
        F.col("previous_primary_segment").isNotNull()
        & (F.col("previous_primary_segment") != F.col("primary_segment")),
    )
    df = df.withColumn("is_stale", F.col("days_since_last_event") > params.stale_days).withColumn(
        "model_version", F.when(F.col("churn_score").isNotNull(), F.col("model_version"))
    )
    return df.withColumn("as_of", F.lit(as_of)).select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in SEGMENTS.fields]
    )


def _segment_reasons(rules: list[SegmentRule]) -> Column:
    """Per member rule, by priority: the condition that holds (the entry condition first)."""

    def reason(rule: SegmentRule) -> Column:
        entered = F.coalesce(F.expr(rule.condition), F.lit(False))
        return F.when(
            F.col(rule.column),
            F.struct(
                F.lit(rule.name).alias("segment"),
                F.when(entered, F.lit(rule.condition))
                .otherwise(F.lit(rule.keep_condition))
                .alias("condition"),
                (~entered).alias("kept"),
            ),
        )

    return F.filter(F.array(*[reason(r) for r in rules]), lambda x: x.isNotNull())
