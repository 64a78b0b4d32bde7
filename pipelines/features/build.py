"""Assemble the features table rows for one ``as_of`` from the event log with profile_id."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.features.engagement import activity_features, category_features
from pipelines.features.params import FeatureParams
from pipelines.features.pit import flatten
from pipelines.features.rfm import order_features, rfm_cuts, score_rfm
from pipelines.features.schema import features_schema, zero_filled
from pipelines.features.support import support_features


def prune_events(events: DataFrame, keep: tuple[str, ...] = ()) -> DataFrame:
    """The event log reduced to the flat columns features read (cache this on large logs);
    ``keep`` names extra columns to carry (e.g. ``identifiers`` for identity resolution)."""
    return flatten(events, keep)


def base_features(events: DataFrame, as_of: date, params: FeatureParams) -> DataFrame:
    """Every feature but the R/F/M scores, one row per profile with an event by as_of.

    Args:
        events: event log (EVENT_LOG shape, or ``prune_events`` of it) with ``profile_id``.
        as_of: snapshot date; each part keeps only events on or before it.
    """
    events = flatten(events)
    parts = [
        order_features(events, as_of, params),
        support_features(events, as_of, params),
        category_features(events, as_of, params),
    ]
    out = activity_features(events, as_of, params)
    for part in parts:
        out = out.join(part, "profile_id", "left")
    out = out.fillna(0, subset=zero_filled(params)).withColumn(
        "top_categories", F.coalesce(F.col("top_categories"), F.array().cast("array<string>"))
    )
    return out.withColumn("as_of", F.lit(as_of))


def conform(features: DataFrame, params: FeatureParams) -> DataFrame:
    """Exactly the table's columns, in order and type."""
    return features.select(
        *[F.col(f.name).cast(f.dataType).alias(f.name) for f in features_schema(params).fields]
    )


def build_features(events: DataFrame, as_of: date, params: FeatureParams) -> DataFrame:
    """The ``features`` rows for ``as_of``: one per profile with an event on or before it.

    Only events with ``event_time`` ≤ the end of ``as_of`` are read (point in time). R/F/M
    quintile cut points are computed over the buyers of this snapshot (one Spark job); cache
    ``events`` when calling this on a large log.
    """
    events = flatten(events)
    base = base_features(events, as_of, params)
    cuts = rfm_cuts(order_features(events, as_of, params), params)
    return conform(score_rfm(base, cuts, params), params)
