"""Which Kafka offsets a micro-batch covers: its end offsets, from the query's checkpoint.

Structured Streaming writes ``<checkpoint>/offsets/<batch id>`` before it runs the batch: a
version line, a metadata line, then one JSON line per source with that batch's end offsets
(exclusive), ``{"topic": {"partition": offset}}``. Every partition is listed, including those
the batch read nothing from, which is what the hot lane needs: a base built by this batch
holds every event of its profiles below these offsets (pipelines/hot/overlay.py).
"""

from __future__ import annotations

import json

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F


def checkpoint_end_offsets(spark: SparkSession, checkpoint: str, batch_id: int) -> dict[str, int]:
    """``{"topic:partition": end}`` of batch ``batch_id``; empty when the file is not there."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/offsets/{batch_id}")
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return {}
    stream = fs.open(path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        lines = []
        while (line := reader.readLine()) is not None:
            lines.append(line)
    finally:
        stream.close()
    return parse_offsets_file(lines)


def records_in_batch(spark: SparkSession, checkpoint: str, batch_id: int,
                     end: dict[str, int]) -> int | None:
    """How many Kafka records batch ``batch_id`` covers, from its end offsets (``end``, as
    ``checkpoint_end_offsets`` read them) and the batch before's, before reading any: None
    when either is missing (a query's first batch). An upper bound: transaction markers and
    compacted-away records take offsets too."""
    if batch_id < 1:
        return None
    start = checkpoint_end_offsets(spark, checkpoint, batch_id - 1)
    if not end or not start:
        return None
    return sum(offset - start.get(key, 0) for key, offset in end.items())


def last_committed_end_offsets(spark: SparkSession, checkpoint: str) -> dict[str, int]:
    """End offsets of the query's last committed micro-batch (the highest batch id under
    ``<checkpoint>/commits``): every record below them is in the lakehouse. Empty when the
    query never committed a batch."""
    jvm = spark.sparkContext._jvm
    commits = jvm.org.apache.hadoop.fs.Path(f"{checkpoint.rstrip('/')}/commits")
    fs = commits.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(commits):
        return {}
    ids = [int(s.getPath().getName()) for s in fs.listStatus(commits)
           if s.getPath().getName().isdigit()]
    return checkpoint_end_offsets(spark, checkpoint, max(ids)) if ids else {}

def parse_offsets_file(lines: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in lines[2:]:
        try:
            source = json.loads(line)
        except ValueError:
            continue
        if not isinstance(source, dict):
            continue
        for topic, partitions in source.items():
            if isinstance(partitions, dict):
                for partition, offset in partitions.items():
                    out[f"{topic}:{partition}"] = int(offset)
    return out


def batch_end_offsets(batch_df: DataFrame) -> dict[str, int]:
    """Fallback without a checkpoint (a batch applied by hand): one past the largest offset
    read per partition. Partitions the batch did not read are missing, so it covers less."""
    rows = batch_df.groupBy("topic", "partition").agg(F.max("offset").alias("o")).collect()
    return {f"{r.topic}:{r.partition}": int(r.o) + 1 for r in rows}
