"""Reading landing files into bronze rows (I/O), and choosing which files are new.

Bronze keeps each source as it arrived: CSV columns as strings (names made Delta-safe:
lower-case, other characters → ``_``), JSON lines as the raw line, JSON documents as the raw
file; plus ``_source_file`` and ``_ingested_at``. A CSV column that only some files have (a
new optional field) is kept under its own name and is null for the files without it.
"""

from __future__ import annotations

import re
from functools import reduce

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


def first_line(spark: SparkSession, path: str) -> str | None:
    """The file's first line (a CSV header), through Hadoop's FileSystem like ``path_exists``;
    None for an empty file."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    stream = jvm.java.io.InputStreamReader(fs.open(hadoop_path), "UTF-8")
    reader = jvm.java.io.BufferedReader(stream)
    try:
        return reader.readLine()
    finally:
        reader.close()


def _read_csv(spark: SparkSession, paths: list[str]) -> DataFrame:
    # Exports quote fields RFC-4180 style: a quote inside a field is doubled.
    raw = (
        spark.read.option("header", "true")
        .option("inferSchema", "false")
        .option("mode", "PERMISSIVE")
        .option("escape", '"')
        .csv(paths)
    )
    return _with_source_file(raw.toDF(*[_safe(c) for c in raw.columns]))


def _with_source_file(df: DataFrame) -> DataFrame:
    # Per file scan: ``_metadata`` does not resolve on a union of scans.
    return df.select("*", F.col("_metadata.file_path").alias("_source_file"))


def read_csv_files(spark: SparkSession, paths: list[str]) -> DataFrame:
    """CSV files whose headers may differ (a column added, moved or dropped), matched by column
    name. Spark's reader takes the first file's header for every file and maps the others' values
    by position, which would shift every value after an inserted column; so files are read in
    groups of one header each and the groups united by name."""
    groups: dict[str | None, list[str]] = {}
    for path in paths:
        groups.setdefault(first_line(spark, path), []).append(path)
    frames = [_read_csv(spark, group) for group in groups.values()]
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)


def read_bronze(spark: SparkSession, source: Source, paths: list[str]) -> DataFrame:
    if source.file_format == "csv":
        raw = read_csv_files(spark, paths)
    elif source.file_format == "jsonl":
        raw = _with_source_file(spark.read.text(paths).withColumnRenamed("value", "raw"))
    else:
        # The keyword, not .option(): Spark 4.2 ignores option("wholetext") here.
        raw = _with_source_file(
            spark.read.text(paths, wholetext=True).withColumnRenamed("value", "raw")
        )
    return raw.select("*", F.current_timestamp().alias("_ingested_at"))
