"""Reading landing files into bronze rows (I/O), and choosing which files are new.

Bronze keeps each source as it arrived: CSV columns as strings (names made Delta-safe:
lower-case, other characters → ``_``), JSON lines as the raw line, JSON documents as the raw
file; plus ``_source_file`` and ``_ingested_at``.
"""

from __future__ import annotations

import re

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.ingest.sources import Source

LISTING_SCHEMA = "path string, size long, modified timestamp"


def list_files(spark: SparkSession, folder: str, source: Source) -> DataFrame:
    """Files of ``source`` under ``folder``/<source> (any depth), without reading contents."""
    location = f"{folder}/{source.name}"
    if not path_exists(spark, location):
        return spark.createDataFrame([], LISTING_SCHEMA)
    found = (
        spark.read.format("binaryFile")
        .option("pathGlobFilter", source.glob)
        .option("recursiveFileLookup", "true")
        .load(location)
    )
    return found.select(
        "path", F.col("length").alias("size"), F.col("modificationTime").alias("modified")
    )


def path_exists(spark: SparkSession, location: str) -> bool:
    """Through Hadoop's FileSystem, so it works for local paths and object stores alike."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(location)
    return bool(path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).exists(path))


def new_files(listing: DataFrame, ingested: DataFrame | None) -> DataFrame:
    """Files not ingested before: a file counts as seen by path, size and modification time,
    so a file rewritten in place is ingested again (its rows dedupe by event id)."""
    if ingested is None:
        return listing
    return listing.join(
        ingested.select("path", "size", "modified"), ["path", "size", "modified"], "left_anti"
    )


def _safe(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def read_bronze(spark: SparkSession, source: Source, paths: list[str]) -> DataFrame:
    if source.file_format == "csv":
        # Exports quote fields RFC-4180 style: a quote inside a field is doubled.
        raw = (
            spark.read.option("header", "true")
            .option("inferSchema", "false")
            .option("mode", "PERMISSIVE")
            .option("escape", '"')
            .csv(paths)
        )
        raw = raw.toDF(*[_safe(c) for c in raw.columns])
    elif source.file_format == "jsonl":
        raw = spark.read.text(paths).withColumnRenamed("value", "raw")
    else:
        # The keyword, not .option(): Spark 4.2 ignores option("wholetext") here.
        raw = spark.read.text(paths, wholetext=True).withColumnRenamed("value", "raw")
    return raw.select(
        "*",
        F.col("_metadata.file_path").alias("_source_file"),
        F.current_timestamp().alias("_ingested_at"),
    )
