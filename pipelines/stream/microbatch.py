"""The foreachBatch body: one micro-batch of Kafka records → quarantine, identity, profiles,
event log and metrics, exactly once (docs/streaming.md has the argument in full).

Steps and their order (each write carries the Delta txn (query name, batch id), or an app id
derived from it for shared sinks, so a replayed batch skips what already committed):

1. parse + validate; invalid records → ``quarantine`` (raw value, topic/partition/offset,
   reason);
2. dedupe: one row per event_id in the batch, minus event_ids already in ``events`` (only the
   log's files whose event_date range holds one of the batch's dates are read);
3. identity: resolve the new events' identifiers against the links they reach; write merges,
   then links;
4. profiles: stored state of every touched profile (merged-away ones re-keyed to their
   survivor) merged with the fold of the new events, finalized, MERGEd (version + 1 on change);
5. profiles merged away are deleted;
6. the chatbot export and cache get the changed profiles (``streaming.chatbot_sync``);
7. the new events are appended to ``events``;
8. one row of metrics is appended to ``stream_metrics``.

Why the event log is written *after* the profiles: the log is what step 2 deduplicates
against. Were it written first, a crash before the profile MERGE would leave the batch's
events in the log, and the replay would drop them as duplicates — never counted. Written last,
the log is the batch's commit record: until it commits, a replay sees the same new events;
once it commits, every earlier step has committed too, and Delta skips them all.
That same order leaves the batch's profile rows ahead of the log between steps 4 and 7, which
is why a batch holds the profile writers' lock (``pipelines/locks.py``) from step 1 to its
end: a batch job rebuilding profiles from the log never reads it in that span.

A replay also has to recompute only what is still missing, from a state that may already hold
part of the batch: step 4 checks the profiles table's committed txn version and skips the
recomputation outright when its MERGE committed (the stored states would already include the
batch); merges already recorded by a crashed attempt (whose links are already repointed, so
``resolve`` no longer finds them) are recovered from ``identity_merges`` by their linking
event, which is one of the batch's new events.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.conflicts import with_retries
from pipelines.gate import Txn, deferred_results, gated_write
from pipelines.gate.delta_io import (
    add_missing_columns,
    ensure_table,
    read_if_exists,
    table_version,
    txn_confs,
    write_delta,
)
from pipelines.gate.quarantine import REASON, quarantine
from pipelines.identity import (
    IdentityParams,
    apply_links,
    empty_links,
    linked_profiles,
    observations_from_events,
    resolve,
    write_identity,
)
from pipelines.identity.graph import identifier_rows
from pipelines.identity.resolve import links_reached
from pipelines.identity.schemas import MERGES, conform
from pipelines.identity.small_batch import resolve_small
from pipelines.identity.store import NEVER_LINK_TABLE, read_never_link
from pipelines.locks import SharedHold, WritersLock
from pipelines.profiles.build import (
    NO_PROFILE,
    attach_profiles,
    profile_identifiers,
    with_identifiers,
)
from pipelines.profiles.finalize import finalize
from pipelines.profiles.state import STATE_COLUMNS, FoldParams, fold_events, merge_states
from pipelines.profiles.store import delete_profiles, write_profiles
from pipelines.serving.coverage import encode_offsets
from pipelines.serving.publish import read_merges
from pipelines.stream.chatbot_sync import ChatbotSync
from pipelines.stream.faults import Faults
from pipelines.stream.offsets import (
    batch_end_offsets,
    checkpoint_end_offsets,
    records_in_batch,
)
from pipelines.stream.parse import classify_records, dedupe_batch, invalid_records, valid_events
from pipelines.stream.probable_sync import ProbableSync
from pipelines.stream.settings import StreamSettings, fold_params
from pipelines.stream.txn import committed_txn_version

log = logging.getLogger("profilake.stream")

STEPS = ("quarantine", "identity", "profiles", "merged_deleted", "chatbot", "events", "metrics")
# Added to the profiles table by the stream (docs/streaming.md): which events the latest
# change applied, and which micro-batch applied it. History shows them per version.
EXTRA_PROFILE_COLUMNS = {
    "last_event_ids": "array<string>",
    "last_batch": "string",
    # The batch's end offsets (hot.overlay.encode_offsets): the base's coverage for the hot lane.
    "covered_offsets": "string",
}

METRICS_SCHEMA = (
    "query_name string, batch_id long, started_at timestamp, committed_at timestamp, "
    "finished_at timestamp, input_rows long, valid_rows long, invalid_rows long, "
    "duplicates_in_batch long, duplicates_in_log long, new_events long, "
    "unassigned_events long, profiles_written long, merges long, chatbot_rows long, "
    "processing_s double, "
    "lag_p50_s double, lag_p95_s double, lag_p99_s double, lag_max_s double, "
    "max_event_time timestamp, replayed boolean, step_s map<string,double>"
)


@dataclass
class StreamContext:
    """Everything ``process_batch`` needs besides the batch: built once per query."""

    catalog: Catalog
    settings: StreamSettings
    identity: IdentityParams
    fold: FoldParams = field(default_factory=FoldParams)
    faults: Faults = field(default_factory=Faults.from_env)
    chatbot: ChatbotSync | None = None
    probable: ProbableSync | None = None
    on_batch: Callable[[dict[str, Any]], None] | None = None
    # Taken by every batch, shared with the probable refresher (pipelines/locks.py).
    lock: SharedHold | WritersLock | None = None
    _profiles_ready: bool = False
    _codegen: tuple[str, str] | None = None  # the session's own code generation settings
    _never_link_version: int | None = None

    @classmethod
    def from_conf(
        cls,
        conf: Conf,
        settings: StreamSettings | None = None,
        on_batch: Callable[[dict[str, Any]], None] | None = None,
    ) -> StreamContext:
        return cls(
            catalog=Catalog(conf),
            settings=settings or StreamSettings.from_conf(conf),
            identity=IdentityParams.from_conf(conf),
            fold=fold_params(conf),
            chatbot=ChatbotSync.from_conf(conf),
            probable=ProbableSync.from_conf(conf),
            on_batch=on_batch,
            lock=SharedHold(WritersLock.from_conf(conf)),
        )


class _Clock:
    def __init__(self) -> None:
        self.steps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.steps[step] = round(self.steps.get(step, 0.0) + now - self._last, 3)
        self._last = now


def process_batch(batch_df: DataFrame, batch_id: int, ctx: StreamContext) -> dict[str, Any]:
    """Apply one micro-batch of Kafka records exactly once; returns its metrics row.

    ``batch_df``: Kafka source rows (key, value, topic, partition, offset, timestamp), or the
    same already passed through ``classify_records`` (what the runner hands over).
    """
    def say(message: str) -> None:
        print(f"[stream] batch {batch_id} {message}", file=sys.stderr, flush=True)

    held = ctx.lock.hold(f"stream {ctx.settings.query_name}", say=say) if ctx.lock \
        else nullcontext()
    if ctx.probable is not None:
        ctx.probable.raise_failure()  # the refresher's, beside the batches: stop the query
    # The gate's validation_results rows of every table this batch writes: one commit.
    with held, deferred_results(ctx.catalog, Txn(ctx.settings.query_name, batch_id)):
        return _apply(batch_df, batch_id, ctx)


def _apply(batch_df: DataFrame, batch_id: int, ctx: StreamContext) -> dict[str, Any]:
    spark = batch_df.sparkSession
    s = ctx.settings
    query, catalog = s.query_name, ctx.catalog
    txn = Txn(query, batch_id)
    run_id = f"{query}:{batch_id}"
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    clock = _Clock()

    def retried(name: str, step: Callable[[], Any]) -> Any:
        return with_retries(step, name=f"{run_id} {name}", attempts=s.retry_attempts,
                            backoff_s=s.retry_backoff_s)

    # The runner classifies inside the streaming plan (built once per query, not per batch);
    # raw Kafka rows (tests, replays by hand) are classified here.
    classified = batch_df if REASON in batch_df.columns else classify_records(batch_df, s.parse)
    end_offsets = checkpoint_end_offsets(spark, s.checkpoint, batch_id)
    _choose_codegen(spark, ctx, records_in_batch(spark, s.checkpoint, batch_id, end_offsets))
    classified = classified.persist(StorageLevel.MEMORY_AND_DISK)
    cached: list[DataFrame] = [classified]
    try:
        row = classified.agg(
            F.count(F.lit(1)).alias("rows"),
            F.count(F.col(REASON)).alias("invalid"),
        ).first()
        input_rows, invalid_rows = int(row["rows"]), int(row["invalid"])
        offsets = end_offsets or batch_end_offsets(classified)
        clock.lap("parse")
        if invalid_rows:
            retried("quarantine", lambda: quarantine(
                catalog, invalid_records(classified), "events", run_id,
                Txn(f"{query}/quarantine/parse", batch_id)))
        clock.lap("quarantine")
        ctx.faults.reached("quarantine", batch_id)

        # -- dedupe: within the batch, then against the event log
        deduped = dedupe_batch(valid_events(classified))
        # Materialized without lineage, not persisted: writing `events` later in this batch
        # makes Delta re-cache every cached plan that reads it, and a recomputation would then
        # find all of the batch's events "already logged".
        flagged = flag_logged(spark, catalog.path("events"), deduped).localCheckpoint(
            eager=True)
        counts = flagged.agg(
            F.count(F.lit(1)).alias("deduped"),
            F.sum(F.col("_in_log").cast("long")).alias("in_log"),
        ).first()
        deduped_rows, in_log = int(counts["deduped"]), int(counts["in_log"] or 0)
        new = flagged.where(~F.col("_in_log")).drop("_in_log")
        new_events = deduped_rows - in_log
        clock.lap("dedupe")

        # The event log is written after the profiles, so "profiles committed" also covers a
        # replay after the log append.
        profiles_done = replayed = _committed(spark, catalog.path("profiles"), query, batch_id)
        merges: DataFrame | None = None
        unassigned = profiles_written = 0
        committed_at = None
        if new_events and not profiles_done:
            observations = observations_from_events(new)
            existing, result, assigned = retried("identity", lambda: _resolve_and_write(
                spark, ctx, observations, new_events, txn, started_at))
            cached.append(existing)
            merges = _all_merges(spark, catalog, result.merges, new)
            clock.lap("identity")
            ctx.faults.reached("identity", batch_id)

            with_profile, without = attach_profiles(new, assigned)
            with_profile = with_profile.persist(StorageLevel.MEMORY_AND_DISK)
            cached.append(with_profile)
            unassigned = new_events - with_profile.count()
            if unassigned:
                rows = without.withColumn(REASON, F.lit(NO_PROFILE))
                retried("quarantine unassigned", lambda: quarantine(
                    catalog, rows, "profiles", run_id,
                    Txn(f"{query}/quarantine/unassigned", batch_id)))
            profiles_written = retried("profiles", lambda: _write_profiles(
                spark, ctx, with_profile, merges, apply_links(existing, result.links), txn,
                started_at, run_id, encode_offsets(offsets)))
            committed_at = datetime.now(UTC)
            clock.lap("profiles")
        elif new_events:
            # The MERGE of this batch committed before a crash: only what follows it is left.
            merges = _recorded_merges(spark, catalog, new)
        ctx.faults.reached("profiles", batch_id)

        merge_count = 0
        if merges is not None and not merges.isEmpty():
            merged_ids = merges.select(F.col("merged_profile_id").alias("profile_id"))
            merge_count = merged_ids.count()
            # Idempotent without a txn: deleting an absent profile deletes nothing.
            retried("delete merged", lambda: delete_profiles(catalog, merged_ids))
        clock.lap("merged_deleted")
        ctx.faults.reached("merged_deleted", batch_id)

        # Before the event log: a replay (the log not yet written) publishes again, and the
        # txn and the cache's version check make that a no-op for what already landed.
        chatbot_rows = 0
        if ctx.chatbot is not None and new_events:
            sync = Txn(f"{query}/chatbot", batch_id)
            chatbot_rows = retried("chatbot", lambda: ctx.chatbot(
                spark, catalog, run_id, merges, sync))
        if ctx.chatbot is not None:
            # Every base of this batch is in the cache: the hot lane may drop what it covers.
            retried("frontier", lambda: ctx.chatbot.publish_frontier(offsets))
        clock.lap("chatbot")
        ctx.faults.reached("chatbot", batch_id)

        committed_at = committed_at or datetime.now(UTC)
        if new_events:
            logged = new.withColumn("ingested_at", F.lit(committed_at).cast("timestamp"))
            retried("events", lambda: gated_write(
                catalog, logged, "events", txn=txn, run_id=f"events-{run_id}"))
        clock.lap("events")
        ctx.faults.reached("events", batch_id)

        lag = _lag(new, committed_at) if new_events else {}
        metrics = {
            "query_name": query,
            "batch_id": batch_id,
            "started_at": started_at,
            "committed_at": committed_at,
            "finished_at": None,
            "input_rows": input_rows,
            "valid_rows": input_rows - invalid_rows,
            "invalid_rows": invalid_rows,
            "duplicates_in_batch": input_rows - invalid_rows - deduped_rows,
            "duplicates_in_log": in_log,
            "new_events": new_events,
            "unassigned_events": unassigned,
            "profiles_written": profiles_written,
            "merges": merge_count,
            "chatbot_rows": chatbot_rows,
            "processing_s": None,
            "lag_p50_s": lag.get("p50"),
            "lag_p95_s": lag.get("p95"),
            "lag_p99_s": lag.get("p99"),
            "lag_max_s": lag.get("max"),
            "max_event_time": lag.get("max_event_time"),
            "replayed": replayed,
            "step_s": clock.steps,
        }
        clock.lap("lag")
        metrics["finished_at"] = datetime.now(UTC)
        metrics["processing_s"] = round(time.perf_counter() - t0, 3)
        retried("metrics", lambda: _append_metrics(spark, catalog, metrics, txn))
        ctx.faults.reached("metrics", batch_id)
        if ctx.probable is not None:
            ctx.probable.batch_committed()
        if ctx.on_batch is not None:
            ctx.on_batch(metrics)
        return metrics
    finally:
        for df in cached:
            df.unpersist()


CODEGEN_KEYS = ("spark.sql.codegen.wholeStage", "spark.sql.codegen.factoryMode")
INTERPRETED = ("false", "NO_CODEGEN")


def _choose_codegen(spark: SparkSession, ctx: StreamContext, records: int | None) -> None:
    """Interpreted expressions for a batch of at most ``interpreted_max_records`` Kafka
    records, the session's own settings otherwise (and when the size is unknown). Set on the
    query's session before the batch's first action, every batch."""
    if ctx._codegen is None:
        ctx._codegen = (spark.conf.get(CODEGEN_KEYS[0], "true"),
                        spark.conf.get(CODEGEN_KEYS[1], "FALLBACK"))
    small = records is not None and records <= ctx.settings.interpreted_max_records
    for key, value in zip(CODEGEN_KEYS, INTERPRETED if small else ctx._codegen, strict=True):
        spark.conf.set(key, value)


def _committed(spark: SparkSession, path: str, query: str, batch_id: int) -> bool:
    """Has the table at ``path`` committed this batch's txn (so Delta would skip it)?"""
    version = committed_txn_version(spark, path, query)
    return version is not None and version >= batch_id


def flag_logged(spark: SparkSession, events_path: str, deduped: DataFrame) -> DataFrame:
    """``deduped`` + ``_in_log``: is its event_id already in the event log? Only the log's
    files whose event_date range holds one of the batch's dates are read (Delta skips the rest
    by their statistics, within the month partitions or day partitions of an older log)."""
    log = read_if_exists(spark, events_path)
    if log is None:
        return deduped.withColumn("_in_log", F.lit(False))
    dates = [r[0] for r in deduped.select("event_date").distinct().collect()]
    if not dates:
        return deduped.withColumn("_in_log", F.lit(False))
    # The log side is this month's files holding today and grows all day; the batch is small. The
    # batch's ids are broadcast into the log's scan, so only the few logged ones are shuffled:
    # a batch's cost stays flat through the day (docs/performance.md, "What grew with the log").
    ids = deduped.select("event_id")
    logged = (
        log.where(F.col("event_date").isin(dates))
        .join(F.broadcast(ids), "event_id", "left_semi")
        .select("event_id", F.lit(True).alias("_in_log"))
        .distinct()
    )
    return deduped.join(F.broadcast(logged), "event_id", "left").select(
        *deduped.columns, F.coalesce("_in_log", F.lit(False)).alias("_in_log")
    )


def _links_reached(
    spark: SparkSession, stored: DataFrame | None, observations: DataFrame,
    params: IdentityParams,
) -> DataFrame:
    """The links ``resolve`` needs (``links_reached``), without the rest of the table.
    Materialized: resolve reads it repeatedly."""
    if stored is None:
        return empty_links(spark)
    pairs = identifier_rows(observations, params).select("id_type", "id_value").distinct()
    return links_reached(stored, pairs).localCheckpoint(eager=True)


def _resolve_and_write(spark, ctx: StreamContext, observations, records: int, txn: Txn,
                       now: datetime):
    """(links reached, resolution, record → profile) of the batch, the resolution written.
    A batch of at most ``identity.local_max_records`` is resolved on the driver."""
    # Never-link rules are added at run time (profilake-unmerge): checked every batch (a
    # log listing, tens of ms) and re-read when the table changed, so a running stream honours
    # an undo from its next batch on.
    version = table_version(spark, ctx.catalog.path(NEVER_LINK_TABLE))
    if version != ctx._never_link_version:
        ctx.identity = replace(ctx.identity, never_link=read_never_link(spark, ctx.catalog))
        ctx._never_link_version = version
    stored = read_if_exists(spark, ctx.catalog.path("identity_links"))
    small = (resolve_small(observations, stored, ctx.identity, now=now)
             if records <= ctx.identity.local_max_records else None)
    if small is not None:
        existing, result, assigned = small
    else:
        existing = _links_reached(spark, stored, observations, ctx.identity)
        result = resolve(observations, existing, ctx.identity, now=now)
        # Only the linked records: attach_profiles' left join leaves the others without one.
        assigned = linked_profiles(observations, result.links, ctx.identity)
    write_identity(ctx.catalog, result, txn=txn)
    return existing, result, assigned


def _recorded_merges(spark: SparkSession, catalog: Catalog, new: DataFrame) -> DataFrame:
    """Merges an earlier attempt of this batch recorded: their linking record is one of the
    batch's new events (an event_id is new in exactly one batch)."""
    recorded = read_merges(catalog, spark)
    if recorded is None:
        return spark.createDataFrame([], MERGES)
    ids = new.select(F.col("event_id").alias("record_id"))
    return conform(recorded, MERGES).join(ids, "record_id", "left_semi")


def _all_merges(
    spark: SparkSession, catalog: Catalog, resolved: DataFrame, new: DataFrame
) -> DataFrame:
    """This batch's merges: what resolve found now, plus what a crashed attempt recorded after
    which the links were already repointed (resolve then finds nothing to merge)."""
    both = resolved.unionByName(_recorded_merges(spark, catalog, new))
    return both.dropDuplicates(["merged_profile_id"]).localCheckpoint(eager=True)


def _ensure_profile_table(spark: SparkSession, ctx: StreamContext, path: str) -> None:
    """Columns the stream adds, and the change data feed, on a table someone else created."""
    if ctx._profiles_ready or not add_missing_columns(spark, path, EXTRA_PROFILE_COLUMNS):
        return
    props = {r[0]: r[1] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()}
    if props.get("delta.enableChangeDataFeed", "false").lower() != "true":
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES "
                  "(delta.enableChangeDataFeed = true)")
    ctx._profiles_ready = True


def _write_profiles(
    spark: SparkSession,
    ctx: StreamContext,
    events: DataFrame,
    merges: DataFrame,
    links: DataFrame,
    txn: Txn,
    now: datetime,
    run_id: str,
    covered_offsets: str,
) -> int:
    """stored ∪ fold(new events) for every touched profile → finalize → MERGE."""
    path = ctx.catalog.path("profiles")
    _ensure_profile_table(spark, ctx, path)
    survivor_of = merges.select(
        F.col("merged_profile_id").alias("_merged"), F.col("survivor_profile_id").alias("_to")
    )
    touched = (
        events.select("profile_id")
        .unionByName(merges.select(F.col("survivor_profile_id").alias("profile_id")))
        .distinct()
    )
    states = fold_events(events, ctx.fold)
    table = read_if_exists(spark, path)
    if table is not None:
        wanted = touched.unionByName(merges.select(F.col("merged_profile_id").alias("profile_id")))
        stored = table.join(wanted, "profile_id", "left_semi").select(*STATE_COLUMNS)
        rekeyed = stored.join(survivor_of, stored.profile_id == survivor_of._merged, "left")
        rekeyed = rekeyed.withColumn("profile_id", F.coalesce("_to", "profile_id")).select(
            *STATE_COLUMNS)
        states = merge_states(rekeyed.unionByName(states.select(*STATE_COLUMNS)), ctx.fold)
    identifiers = profile_identifiers(links.join(touched, "profile_id", "left_semi"))
    latest = events.groupBy("profile_id").agg(
        F.slice(F.sort_array(F.collect_list(F.struct("event_time", "event_id")), asc=False),
                1, ctx.settings.last_event_ids_kept).alias("_latest")
    )
    profiles = (
        with_identifiers(finalize(states, now), identifiers)
        .join(latest, "profile_id", "left")
        .withColumn("last_event_ids", F.transform(
            F.coalesce("_latest", F.array().cast("array<struct<event_time:timestamp,"
                                                 "event_id:string>>")),
            lambda e: e["event_id"]))
        .withColumn("last_batch", F.lit(run_id))
        .withColumn("covered_offsets", F.lit(covered_offsets))
        .drop("_latest")
    )
    report = write_profiles(ctx.catalog, profiles, now, txn=txn)
    return report.rows_written


def _lag(new: DataFrame, committed_at: datetime) -> dict[str, Any]:
    """Event time → commit time of the new events, in seconds: p50, p95, p99, max."""
    lag = (
        F.unix_micros(F.lit(committed_at).cast("timestamp")) - F.unix_micros("event_time")
    ) / 1e6
    row = new.agg(
        F.percentile_approx(lag, [0.5, 0.95, 0.99], 10000).alias("p"),
        F.max(lag).alias("max"),
        F.max("event_time").alias("max_event_time"),
    ).first()
    p = row["p"] or [None, None, None]
    return {"p50": p[0], "p95": p[1], "p99": p[2], "max": row["max"],
            "max_event_time": row["max_event_time"]}


def _append_metrics(
    spark: SparkSession, catalog: Catalog, metrics: dict[str, Any], txn: Txn
) -> None:
    df = spark.createDataFrame([metrics], METRICS_SCHEMA)
    spec = catalog.table("stream_metrics")
    ensure_table(df, spec)
    with txn_confs(spark, txn):
        write_delta(df, spec, "append")
