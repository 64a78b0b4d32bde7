"""Assign tonight's segments for one date: rule segments with hysteresis, cluster name,
churn score and band from the champion model.

    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/assign_segments.py --env cluster --as-of 2026-10-01
    python -m jobs.assign_segments --as-of 2026-10-01

Needs the ``features`` partition of as_of; uses the clustering saved for as_of and the model
version the registry's ``champion`` alias points at, when they exist. Replaces the as_of
partition of ``segments`` through the gate.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.features import FeatureParams, features_schema
from pipelines.gate.delta_io import add_missing_columns
from pipelines.models.churn import ChurnParams, score_churn
from pipelines.models.clustering import assign_clusters
from pipelines.models.promotion import champion_version
from pipelines.nightly import io
from pipelines.nightly.cli import run_stage
from pipelines.segments.assign import ADDED_SEGMENT_COLUMNS, SegmentParams, assign_segments
from pipelines.segments.hysteresis import HysteresisParams
from pipelines.segments.rules import load_rules
from pipelines.tracking import configure_mlflow


def segment_params(conf: Conf) -> SegmentParams:
    churn = ChurnParams.from_conf(conf)
    return SegmentParams(
        band_edges=(churn.medium_from, churn.high_from),
        stale_days=int(conf.get("features.stale_days")),
        hysteresis=HysteresisParams.from_conf(conf),
    )


def run(spark: SparkSession, conf: Conf, as_of: date) -> dict:
    import mlflow
    import mlflow.xgboost

    catalog = Catalog(conf)
    features = io.read_partition(spark, catalog, "features", as_of)
    if features is None:
        raise RuntimeError(f"no features for {as_of}: run jobs/build_features.py first")
    rules = load_rules(
        conf.path("segments.rules_file"), spark, features_schema(FeatureParams.from_conf(conf))
    )
    clustering = io.load_clustering(spark, io.clustering_location(conf, as_of))
    clusters = assign_clusters(features, clustering) if clustering else None
    configure_mlflow(conf)
    name = str(conf.get("models.churn.registered_model"))
    version = champion_version(mlflow.MlflowClient(), name)
    churn = None
    if version:
        booster = mlflow.xgboost.load_model(f"models:/{name}/{version}")
        churn_params = ChurnParams.from_conf(conf)
        churn = score_churn(
            features, booster, churn_params.population, churn_params.reason_labels
        ).withColumn(
            "model_version", F.lit(version)
        )
    before = io.previous_as_of(spark, catalog, "segments", as_of)
    previous = io.read_partition(spark, catalog, "segments", before) if before else None
    segments = assign_segments(
        features, clusters, churn, previous, rules, as_of, segment_params(conf)
    )
    # Tables written before the reasons existed get their columns first (autoMerge is off).
    add_missing_columns(spark, catalog.path("segments"), ADDED_SEGMENT_COLUMNS)
    report = io.write_partition(catalog, segments, "segments", as_of)
    return {
        "rows": report.rows_written,
        "model_version": version or "none",
        "previous_as_of": str(before) if before else "none",
    }


def main(argv: list[str] | None = None) -> None:
    run_stage(argv, __doc__, "segments", run)


if __name__ == "__main__":
    main()
