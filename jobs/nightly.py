"""The nightly batch: features → models → segments → drift for a date or a backfill range.

    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/nightly.py --env cluster --as-of 2026-10-01
    python -m jobs.nightly --as-of 2026-10-01                    # local, embedded Spark
    python -m jobs.nightly --from 2026-09-01 --to 2026-09-30     # backfill, oldest first

Idempotent: each date's partitions of ``features`` and ``segments`` are replaced, so a rerun
gives the same rows and no duplicates (MLflow gets new runs; a retrained model that is not
better than the champion is registered but not promoted). A lock file
(``nightly.lock_file``) keeps two runs from overlapping. One progress line per stage; each
date gets an MLflow run "nightly <date>" with the stage runs nested in it.
"""

from __future__ import annotations

from datetime import date

from pyspark import StorageLevel
from pyspark.sql import SparkSession

from jobs import assign_segments, build_features, monitor_drift, train_models
from pipelines.config import Conf, load_conf
from pipelines.locks import run_lock
from pipelines.models import runs
from pipelines.nightly.cli import dates, parser
from pipelines.nightly.progress import Progress
from pipelines.session import get_spark
from pipelines.tracking import configure_mlflow


def run_nightly(spark: SparkSession, conf: Conf, as_of: date) -> Progress:
    """Every stage for one date; returns the progress (seconds and details per stage)."""
    import mlflow

    progress = Progress(as_of)
    configure_mlflow(conf)
    with runs.stage_run("nightly", as_of) as run:
        with progress.stage("events") as out:
            events = build_features.load_events(spark, conf, as_of)
            events = events.persist(StorageLevel.MEMORY_AND_DISK)
            out["events"] = events.count()
        try:
            with progress.stage("features") as out:
                out.update(build_features.run(spark, conf, as_of, events))
            with progress.stage("models") as out:
                out.update(train_models.run(spark, conf, as_of, events))
        finally:
            events.unpersist()
        with progress.stage("segments") as out:
            out.update(assign_segments.run(spark, conf, as_of))
        with progress.stage("drift") as out:
            out.update(monitor_drift.run(spark, conf, as_of))
        for stage, seconds in progress.timings.items():
            mlflow.log_metric(f"seconds.{stage}", seconds)
        progress.say(
            f"done in {sum(progress.timings.values()):.1f} s — MLflow run {run.info.run_id} "
            f"(experiment '{conf.get('mlflow.experiment')}', {conf.get('mlflow.tracking_uri')})"
        )
    return progress


def run_dates(spark: SparkSession, conf: Conf, days: list[date]) -> list[Progress]:
    """Run the dates in order under the nightly lock (raises LockHeld if a run holds it)."""
    with run_lock(conf.path("nightly.lock_file"), conf.get("nightly.lock_stale_after_s")):
        return [run_nightly(spark, conf, d) for d in days]


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    conf = load_conf(args.env)
    run_dates(get_spark(conf, "profilake-nightly"), conf, dates(args))


if __name__ == "__main__":
    main()
