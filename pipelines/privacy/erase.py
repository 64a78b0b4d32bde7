"""Erasing one person (GDPR art. 17) from everything the project writes.

Order, and why:
1. find the person (``subject``) in the identity links before anything is deleted;
2. Redis first, so the chatbot stops seeing them at once;
3. every Delta table that may hold them, the identity tables last (a rerun after a crash
   still finds the person through them), each made physical right after its DELETE
   (``tables``);
4. batch-ingest watermarks moved past the deletion (the change feed they would read is gone);
5. landing files and validation JSON (``files``), then Kafka (``kafka_erase``);
6. the erasure log: the request's keyed hash and the time, never the identifier.
A rerun finds nothing and says so; an identifier found nowhere and never erased is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.gate.delta_io import ensure_table, read_if_exists, table_version, write_delta
from pipelines.privacy import files, kafka_erase, tables
from pipelines.privacy.redis_erase import RedisReport, erase_from_redis
from pipelines.privacy.subject import (
    ErasureRequestError,
    Subject,
    identifiers_of,
    normalize_request,
    profiles_of,
    python_matcher,
    subject_hash,
)

LOG_TABLE = "erasure_log"
LOG_SCHEMA = "subject_hash string, erased_at timestamp"


@dataclass
class ErasureReport:
    subject_hash: str
    profiles: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    landing_records: int = 0
    validation_values: int = 0
    redis: RedisReport | None = None
    kafka: kafka_erase.KafkaReport | None = None
    kafka_skipped: str | None = None  # why Kafka was not searched
    previously_erased_at: datetime | None = None

    @property
    def complete(self) -> bool:
        """False while Kafka was not searched or still holds records of the person."""
        return self.kafka is not None and not self.kafka.pending

    @property
    def found_anything(self) -> bool:
        return bool(
            self.profiles or any(self.rows.values()) or self.landing_records
            or self.validation_values or (self.redis and self.redis.total)
            or (self.kafka and self.kafka.records_found)
        )

    def summary(self) -> dict[str, Any]:
        return {
            "subject_hash": self.subject_hash,
            "profiles": self.profiles,
            "rows_deleted": {k: v for k, v in self.rows.items() if v},
            "landing_records_removed": self.landing_records,
            "validation_values_erased": self.validation_values,
            "redis": None if self.redis is None else vars(self.redis),
            "kafka": self.kafka_skipped or (None if self.kafka is None else vars(self.kafka)),
        }


def find_subject(spark: SparkSession, catalog: Catalog, id_type: str, value: str) -> Subject:
    """The person behind the identifier: their profiles (merges followed) and identifiers."""
    links = read_if_exists(spark, catalog.path("identity_links"))
    if links is None:
        return Subject(id_type, value)
    merges = read_if_exists(spark, catalog.path("identity_merges"))
    pids = profiles_of(links, merges, id_type, value)
    return Subject(id_type, value, frozenset(pids), identifiers_of(links, pids))


def _event_ids(spark: SparkSession, catalog: Catalog, subject: Subject) -> set[str]:
    events = read_if_exists(spark, catalog.path("events"))
    if events is None:
        return set()
    rule = tables.TABLE_RULES["events"]
    return {r.event_id for r in events.where(rule(events, subject)).select("event_id").collect()}


def _previous_erasure(spark: SparkSession, catalog: Catalog, key: str) -> datetime | None:
    log = read_if_exists(spark, catalog.path(LOG_TABLE))
    if log is None:
        return None
    row = log.where(F.col("subject_hash") == key).agg(F.max("erased_at").alias("at")).first()
    return row.at if row else None


def _watermarks_before(spark: SparkSession, catalog: Catalog) -> dict[str, Any]:
    from pipelines.watermarks import read_watermark

    return {
        "events": table_version(spark, catalog.path("events")),
        "links": table_version(spark, catalog.path("identity_links")),
        "identity": read_watermark(spark, catalog, "identity"),
        "profiles": read_watermark(spark, catalog, "profiles"),
    }


def _move_watermarks(spark: SparkSession, catalog: Catalog, before: dict[str, Any],
                     now: datetime) -> None:
    """The batch ingest reads events appended since its identity watermark from the change
    feed, which the erasure just cut. A watermark that was current moves to the new version
    (the erasure added no events); one that was behind is dropped, so the next run resolves
    the whole log (a replay changes nothing, docs/identity.md)."""
    from delta.tables import DeltaTable

    from pipelines.watermarks import write_watermark

    events = table_version(spark, catalog.path("events"))
    links = table_version(spark, catalog.path("identity_links"))
    if before["identity"] is not None:
        if before["identity"] == str(before["events"]):
            write_watermark(spark, catalog, "identity", str(events), now)
        else:
            DeltaTable.forPath(spark, catalog.path("pipeline_state")).delete(
                F.col("stage") == "identity")
    if before["profiles"] == f"events={before['events']},links={before['links']}":
        write_watermark(spark, catalog, "profiles", f"events={events},links={links}", now)


def delta_lane_end_offsets(spark: SparkSession, conf: Conf) -> dict[str, int]:
    """End offsets of the Delta lane's last committed micro-batch (its checkpoint)."""
    from pipelines.stream.offsets import last_committed_end_offsets
    from pipelines.stream.settings import StreamSettings

    return last_committed_end_offsets(spark, StreamSettings.from_conf(conf).checkpoint)


def _erase_kafka(spark: SparkSession, conf: Conf, redis_client: Any, prefix: str,
                 pattern) -> kafka_erase.KafkaReport:
    bootstrap = str(conf.get("kafka.bootstrap_servers"))
    topics = [str(t) for t in conf.get("streaming.topics")]
    hits = kafka_erase.scan_topics(bootstrap, topics, pattern)
    hot_next, frontier = kafka_erase.hot_and_frontier(redis_client, prefix)
    safe = kafka_erase.safe_offsets(delta_lane_end_offsets(spark, conf), hot_next, frontier)
    cuts, pending, deleted = kafka_erase.plan_cuts(hits, safe)
    kafka_erase.delete_before(bootstrap, cuts)
    return kafka_erase.KafkaReport(
        records_found=sum(len(v) for v in hits.values()), records_deleted=deleted,
        pending=pending, cut_to=cuts)


def erase_person(
    spark: SparkSession, conf: Conf, id_type: str, value: str, now: datetime,
    *, redis_client: Any = None, kafka: bool = True, purge_all: bool = False, echo=print,
) -> ErasureReport:
    """Erase the person holding ``id_type`` = ``value`` everywhere; returns what went.

    Raises ``ErasureRequestError`` for a malformed identifier, or one that is found nowhere
    and was never erased."""
    from pipelines.services.redis_server import client as make_client

    catalog = Catalog(conf)
    value = normalize_request(id_type, value)
    pepper = str(conf.get("export.hash_pepper"))
    report = ErasureReport(subject_hash(pepper, id_type, value))
    names = tables.erasable_tables(catalog)  # fails early on an unclassified table
    subject = find_subject(spark, catalog, id_type, value)
    report.profiles = len(subject.profile_ids)
    pattern = python_matcher(subject.values())
    echo(f"erasing {report.subject_hash[:12]}…: {report.profiles} profile(s), "
         f"{sum(len(v) for v in subject.identifiers.values())} identifier(s)")

    prefix = str(conf.get("cache.prefix"))
    client = redis_client or make_client(conf)
    report.redis = erase_from_redis(
        client, prefix, subject.profile_ids,
        subject.lookup_keys(pepper, conf.get("export.hashed_id_types")),
        _event_ids(spark, catalog, subject), pattern)

    before = _watermarks_before(spark, catalog)
    listing_parallelism = int(conf.get("maintenance.vacuum.listing_parallelism"))
    for name in names:
        report.rows[name] = tables.delete_rows(spark, catalog, name, subject)
        # Right after its DELETE, so a run that dies leaves at most one table unpurged;
        # ``purge_all`` (after such a crash) purges the tables this run found nothing in.
        if report.rows[name] or purge_all:
            tables.purge_history(spark, catalog.path(name), listing_parallelism)
    if any(report.rows.values()) or purge_all:
        _move_watermarks(spark, catalog, before, now)

    for change in files.rewrite_landing(conf.path("paths.landing"), pattern):
        report.landing_records += change.records_removed
        _record_new_size(spark, catalog, change)
    _, report.validation_values = files.scrub_validation(conf.path("paths.validation"), pattern)

    if kafka:
        from kafka.errors import KafkaConnectionError, KafkaTimeoutError

        try:
            report.kafka = _erase_kafka(spark, conf, client, prefix, pattern)
        except (KafkaConnectionError, KafkaTimeoutError):
            report.kafka_skipped = f"no broker at {conf.get('kafka.bootstrap_servers')}"
    else:
        report.kafka_skipped = "not asked (--skip-kafka)"

    if report.found_anything:
        log = spark.createDataFrame([(report.subject_hash, now)], LOG_SCHEMA)
        spec = catalog.table(LOG_TABLE)
        ensure_table(log, spec)
        write_delta(log, spec, "append")
        return report
    report.previously_erased_at = _previous_erasure(spark, catalog, report.subject_hash)
    if report.previously_erased_at is None:
        raise ErasureRequestError(f"no person with this {id_type} in any table, cache or topic")
    return report


def _record_new_size(spark: SparkSession, catalog: Catalog, change: files.FileChange) -> None:
    """Tell the batch ingest the rewritten landing file is the one it ingested (same path
    and modification time, new size), so it is not ingested again."""
    from delta.tables import DeltaTable

    path = catalog.path("ingested_files")
    if not DeltaTable.isDeltaTable(spark, path):
        return
    uri = change.path.resolve().as_uri().replace("file:///", "file:/")
    DeltaTable.forPath(spark, path).update(
        (F.col("path") == uri) & (F.col("size") == change.old_size),
        {"size": F.lit(change.new_size).cast("long")},
    )


def report_json(report: ErasureReport) -> str:
    return json.dumps(report.summary(), indent=1, default=str)
