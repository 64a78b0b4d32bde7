"""Table access for the nightly jobs, always through the catalog (never a path in code)."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate import GateReport, gated_write


def exists(spark: SparkSession, catalog: Catalog, table: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, catalog.path(table))


def read(spark: SparkSession, catalog: Catalog, table: str) -> DataFrame:
    return spark.read.format("delta").load(catalog.path(table))


def read_partition(
    spark: SparkSession, catalog: Catalog, table: str, as_of: date
) -> DataFrame | None:
    """The rows of ``as_of``, or None when the table or the partition does not exist."""
    if not exists(spark, catalog, table):
        return None
    rows = read(spark, catalog, table).where(F.col("as_of") == F.lit(as_of))
    return rows if rows.limit(1).count() else None


def previous_as_of(spark: SparkSession, catalog: Catalog, table: str, before: date) -> date | None:
    """The latest as_of of ``table`` strictly before ``before``."""
    if not exists(spark, catalog, table):
        return None
    row = (
        read(spark, catalog, table)
        .where(F.col("as_of") < F.lit(before))
        .agg(F.max("as_of"))
        .first()
    )
    return row[0] if row else None


def events_until(spark: SparkSession, catalog: Catalog, until: date) -> DataFrame:
    """The event log up to ``until`` (by event date: partition pruning)."""
    return read(spark, catalog, "events").where(F.col("event_date") <= F.lit(until))


def with_profile_ids(spark: SparkSession, catalog: Catalog, events: DataFrame) -> DataFrame:
    """``events`` (with event_id, event_time, identifiers) with each event's current
    profile_id through ``identity_links`` (and the never-link rules); events linking no
    profile are left out."""
    from pipelines.identity.params import IdentityParams
    from pipelines.identity.store import read_never_link
    from pipelines.profiles.build import events_with_profiles

    rules = IdentityParams(never_link=read_never_link(spark, catalog))
    with_profile, _unlinked = events_with_profiles(
        events, read(spark, catalog, "identity_links"), rules)
    return with_profile


def write_partition(
    catalog: Catalog, df: DataFrame, table: str, as_of: date, run_id: str | None = None
) -> GateReport:
    """Replace the ``as_of`` partition of ``table`` through the gate: a rerun of a date
    replaces its rows, never adds to them."""
    return gated_write(
        catalog,
        df,
        table,
        mode="overwrite",
        replace_where=f"as_of = '{as_of.isoformat()}'",
        run_id=run_id,
    )


def clustering_location(conf, as_of: date) -> str:
    return f"{conf.path('models.clustering.model_dir').rstrip('/')}/{as_of.isoformat()}"


def save_clustering(spark: SparkSession, result, location: str) -> None:
    """The fitted pipeline and its names/centroids (one JSON line) under ``location``."""
    result.model.write().overwrite().save(f"{location}/pipeline")
    text = result.names_json().replace("\n", " ")
    spark.createDataFrame([(text,)], "value string").coalesce(1).write.mode("overwrite").text(
        f"{location}/names"
    )


def load_clustering(spark: SparkSession, location: str):
    """What ``save_clustering`` wrote, as a ClusteringResult; None when nothing is there."""
    import json

    from pyspark.ml import PipelineModel

    from pipelines.models.clustering import ClusteringResult

    try:
        meta = json.loads(spark.read.text(f"{location}/names").first()[0])
        model = PipelineModel.load(f"{location}/pipeline")
    except Exception as exc:  # AnalysisException / Py4JJavaError: path does not exist
        if "does not exist" in str(exc) or "PATH_NOT_FOUND" in str(exc):
            return None
        raise
    return ClusteringResult(
        model=model,
        algorithm=meta["algorithm"],
        k=int(meta["k"]),
        silhouettes=meta["silhouettes"],
        centroids=meta["centroids"],
        names={int(k): v for k, v in meta["names"].items()},
        sample_rows=0,
        columns=list(meta["columns"]),
    )
