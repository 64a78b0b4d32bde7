"""Drift and staleness for one date, logged to MLflow.

    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/monitor_drift.py --env cluster --as-of 2026-10-01
    python -m jobs.monitor_drift --as-of 2026-10-01

PSI of each ``models.drift.columns`` feature against the previous as_of in ``features``
(pipelines/models/drift.py); profiles with no event for more than ``features.stale_days``
days are counted as stale (the segments table flags each one, ``is_stale``).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.models import runs
from pipelines.models.drift import feature_psi
from pipelines.nightly import io
from pipelines.nightly.cli import run_stage
from pipelines.tracking import configure_mlflow


def run(spark: SparkSession, conf: Conf, as_of: date) -> dict:
    import mlflow

    catalog = Catalog(conf)
    current = io.read_partition(spark, catalog, "features", as_of)
    if current is None:
        raise RuntimeError(f"no features for {as_of}: run jobs/build_features.py first")
    stale_days = int(conf.get("features.stale_days"))
    counts = current.agg(
        F.count(F.lit(1)).alias("profiles"),
        F.count(F.when(F.col("days_since_last_event") > stale_days, 1)).alias("stale"),
    ).first()
    configure_mlflow(conf)
    before = io.previous_as_of(spark, catalog, "features", as_of)
    out = {"stale": int(counts["stale"]), "previous_as_of": str(before) if before else "none"}
    with runs.stage_run("drift", as_of) as run:
        mlflow.log_params({"stale_days": stale_days, "previous_as_of": out["previous_as_of"]})
        mlflow.log_metric("stale_profiles", counts["stale"])
        mlflow.log_metric("stale_share", counts["stale"] / max(counts["profiles"], 1))
        if before:
            previous = io.read_partition(spark, catalog, "features", before)
            psi = feature_psi(
                current,
                previous,
                list(conf.get("models.drift.columns")),
                int(conf.get("models.drift.psi_bins")),
            )
            for column, value in psi.items():
                mlflow.log_metric(f"psi.{column}", value)
            alert = float(conf.get("models.drift.psi_alert"))
            drifted = sorted(c for c, v in psi.items() if v > alert)
            mlflow.set_tag("drifted_columns", ",".join(drifted) or "none")
            mlflow.log_dict(
                {"previous_as_of": str(before), "psi": psi, "alert": alert}, "drift.json"
            )
            out.update(max_psi=max(psi.values(), default=0.0), drifted=",".join(drifted) or "none")
        out["drift_run"] = run.info.run_id
    return out


def main(argv: list[str] | None = None) -> None:
    run_stage(argv, __doc__, "drift", run)


if __name__ == "__main__":
    main()
