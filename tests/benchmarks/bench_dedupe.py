"""The stream's dedupe against the event log (``flag_logged``) as the log's day partition grows.

Every micro-batch checks its event ids against the ``event_date`` partitions it touches; in a
live stream that is today's partition, which grows all day (100 events/s make 8.6M a day). A
batch's cost must not grow with it: the figure is the seconds per check of a 3,000-event batch
(30 of them already logged) against a log of each size, in the stream's session settings.
"""

from __future__ import annotations

import statistics

from pyspark.sql import functions as F

from pipelines.session import get_spark
from pipelines.stream.microbatch import flag_logged
from pipelines.stream.settings import stream_conf
from tests.benchmarks.measure import timer

SIZES = {"small": (50_000, 400_000), "full": (50_000, 350_000, 1_600_000, 6_000_000)}
BATCH, LOGGED, REPEATS = 3_000, 30, 4


def _events(spark, start: int, n: int):
    """Event-log rows with unique ids, one day, times in id order."""
    return spark.range(start, start + n).select(
        F.sha2(F.col("id").cast("string"), 256).substr(1, 36).alias("event_id"),
        F.lit("2026-12-05").cast("date").alias("event_date"),
        (F.lit(1_780_000_000) + F.col("id") / 100).cast("timestamp").alias("event_time"),
        F.lit("page_view").alias("event_type"),
    )


def run(ctx) -> list[dict]:
    spark = get_spark(stream_conf(ctx.conf), "bench")
    path = str(ctx.workdir / "dedupe_events")
    rows, logged = [], 0
    for size in SIZES[ctx.scale]:
        _events(spark, logged, size - logged).write.format("delta").mode("append") \
            .partitionBy("event_date").save(path)
        logged = size
        # The batch's last LOGGED ids are the log's last ones: replays of logged events.
        batch = _events(spark, size - LOGGED, BATCH).localCheckpoint(eager=True)
        seconds, found = [], None
        for _ in range(REPEATS):
            with timer() as t:
                flagged = flag_logged(spark, path, batch).localCheckpoint(eager=True)
                found = flagged.agg(F.sum(F.col("_in_log").cast("long"))).first()[0]
            seconds.append(t["seconds"])
        if found != LOGGED:
            raise RuntimeError(f"dedupe found {found} logged events, expected {LOGGED}")
        rows.append({"name": f"stream_dedupe_log_{size}", "logged_events": size,
                     "batch_events": BATCH, "median_s": round(statistics.median(seconds), 3),
                     "first_s": round(seconds[0], 3)})
    return rows
