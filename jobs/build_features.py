"""Build the gold ``features`` snapshot of one date (or a range) from the event log.

    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/build_features.py --env cluster --as-of 2026-10-01
    python -m jobs.build_features --as-of 2026-10-01          # local, embedded Spark

Reads ``events`` (up to as_of) and ``identity_links`` through the catalog, resolves each
event's profile, builds the point-in-time features (docs/features.md) and replaces the as_of
partition of ``features`` through the gate, so a rerun gives the same rows.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.features import FeatureParams, build_features, prune_events
from pipelines.nightly import io
from pipelines.nightly.cli import run_stage


def load_events(spark: SparkSession, conf: Conf, as_of: date) -> DataFrame:
    """The event log up to as_of, pruned to what features read, with each event's current
    profile_id (cache it when reusing it). Pruning comes first: the identity join then
    shuffles a few flat columns instead of whole events."""
    events = prune_events(io.events_until(spark, Catalog(conf), as_of), keep=("identifiers",))
    return io.with_profile_ids(spark, Catalog(conf), events).drop("identifiers")


def run(spark: SparkSession, conf: Conf, as_of: date, events: DataFrame | None = None) -> dict:
    events = events if events is not None else load_events(spark, conf, as_of)
    features = build_features(events, as_of, FeatureParams.from_conf(conf))
    report = io.write_partition(Catalog(conf), features, "features", as_of)
    return {"rows": report.rows_written, "quarantined": report.rows_quarantined}


def main(argv: list[str] | None = None) -> None:
    run_stage(argv, __doc__, "features", run)


if __name__ == "__main__":
    main()
