"""The streaming plumbing, in one place: Kafka source → foreachBatch(process_batch), and
beside it the probable refresher's thread (``probable_sync``).

Used by the job (jobs/stream_profiles.py), the demo and the benchmarks; the logic it runs
(``process_batch``) works on plain batch DataFrames.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from pipelines.config import Conf
from pipelines.stream.microbatch import StreamContext, process_batch
from pipelines.stream.parse import classify_records
from pipelines.stream.settings import StreamSettings


def kafka_source(spark: SparkSession, settings: StreamSettings) -> DataFrame:
    """The Kafka topics as a streaming DataFrame (key, value, topic, partition, offset,
    timestamp, …). Offsets live in the query's checkpoint, never in Kafka."""
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.bootstrap_servers)
        .option("subscribe", ",".join(settings.topics))
        .option("startingOffsets", settings.starting_offsets)
        .option("failOnDataLoss", str(settings.fail_on_data_loss).lower())
        .option("maxOffsetsPerTrigger", str(settings.max_offsets_per_trigger))
        .load()
    )


@dataclass
class ProfileStream:
    """A running profiles query and what runs beside it."""

    query: StreamingQuery
    spark: SparkSession
    ctx: StreamContext

    def stop(self, *, flush: bool = False, timeout_s: float = 300.0) -> None:
        """Stop the query between batches (``stop_between_batches``), then the probable
        refresher; ``flush``: refresh once more if a batch committed since its last
        refresh began (``ProbableSync.stop``).

        Raises:
            ProbableRefreshFailed: a background refresh failed.
        """
        if self.query.isActive:
            stop_between_batches(self.query, timeout_s)
        if self.ctx.probable is not None:
            self.ctx.probable.stop(self.spark, self.ctx, flush=flush, timeout_s=timeout_s)


def start_profile_stream(
    spark: SparkSession,
    conf: Conf,
    *,
    settings: StreamSettings | None = None,
    available_now: bool = False,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
    on_batch_start: Callable[[int], None] | None = None,
    on_refresh: Callable[[dict[str, Any]], None] | None = None,
) -> ProfileStream:
    """Start the profiles query: trigger every ``trigger_interval``, or ``available_now``
    (process what is in Kafka now, in batches of at most ``max_offsets_per_trigger``, then
    stop). ``on_batch`` gets each batch's metrics row, ``on_batch_start`` its id as it begins.
    With the probable tier on, its refresher starts too; ``on_refresh`` gets each refresh's
    report (``ProbableSync.refresh``). Returns the running stream: stop it
    with ``ProfileStream.stop``."""
    settings = settings or StreamSettings.from_conf(conf)
    ctx = StreamContext.from_conf(conf, settings, on_batch=on_batch)

    def body(batch_df: DataFrame, batch_id: int) -> None:
        if on_batch_start is not None:
            on_batch_start(batch_id)
        process_batch(batch_df, batch_id, ctx)

    # Validation is part of the streaming plan: its large expression tree is built and
    # analyzed once per query instead of once per micro-batch.
    writer = (
        classify_records(kafka_source(spark, settings), settings.parse)
        .writeStream.queryName(settings.query_name)
        .option("checkpointLocation", settings.checkpoint)
        .foreachBatch(body)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=settings.trigger_interval)
    query = writer.start()
    if ctx.probable is not None:
        ctx.probable.on_refresh = on_refresh
        ctx.probable.start(spark, ctx)
    return ProfileStream(query, spark, ctx)


def stop_between_batches(query: StreamingQuery, timeout_s: float = 300.0) -> None:
    """Stop ``query`` once the micro-batch running now, if any, has committed (or after
    ``timeout_s``).

    A backlog runs batches back to back, so there may be no idle moment to wait for: the stop
    comes right after the running batch's progress is reported, when the next batch (if one
    began) has at most just started reading; Spark runs that one again on the next start, as
    it does after any interruption (exactly once)."""
    deadline = time.monotonic() + timeout_s
    committed = _last_batch_id(query)
    while (query.isActive and query.status["isTriggerActive"]
           and _last_batch_id(query) <= committed and time.monotonic() < deadline):
        time.sleep(0.05)
    query.stop()


def _last_batch_id(query: StreamingQuery) -> int:
    progress = query.lastProgress
    return int(progress["batchId"]) if progress else -1
