"""The batch path, stage by stage: landing → bronze → silver events → identity → profiles.

Each stage is replay-safe, so a crashed run is simply run again:
- bronze: the new files' rows replace any rows of the same files (``replaceWhere``);
- silver: events MERGE on event_id, inserting only ids the log does not have;
- files are marked ingested last; a rerun before that re-does the idempotent writes above;
- identity: merges are appended before links are repointed (see identity.store);
- profiles: rebuilt from the whole log and written by a MERGE that only bumps changed rows;
  events reaching no profile are quarantined once each (a rerun finds them already there).

The stream writes events, links, the probable tier and profiles too. Identity, probable
links and profiles run under the profile writers' lock (``pipelines/locks.py``), so no
micro-batch commits between their reads and their writes. A commit that still conflicts with a
micro-batch's — the events MERGE runs beside the stream — is run again (``ingest.retry``): the
stage re-reads what it depends on and, being replay-safe, writes nothing twice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.conflicts import Retry
from pipelines.gate import deferred_results, gated_write
from pipelines.gate.delta_io import (
    Txn,
    add_missing_columns,
    ensure_table,
    read_if_exists,
    table_version,
    write_delta,
)
from pipelines.gate.quarantine import REASON, quarantine
from pipelines.gate.summary import quarantine_by_reason
from pipelines.identity.graph import observations_from_events
from pipelines.identity.params import IdentityParams
from pipelines.identity.probable import ProbableParams
from pipelines.identity.probable_refresh import refresh_probable
from pipelines.identity.resolve import resolve
from pipelines.identity.schemas import empty_links
from pipelines.identity.small_batch import resolve_small
from pipelines.identity.store import (
    identity_params,
    write_identity,
)
from pipelines.ingest.dedupe import dedupe_events
from pipelines.ingest.landing import list_files, new_files, read_bronze
from pipelines.ingest.normalize.common import Normalized, Rules
from pipelines.ingest.normalize.crm import normalize_crm
from pipelines.ingest.normalize.orders import normalize_orders
from pipelines.ingest.normalize.social import normalize_social
from pipelines.ingest.normalize.social import record_count as social_records
from pipelines.ingest.normalize.tickets import normalize_tickets
from pipelines.ingest.normalize.web import normalize_web
from pipelines.ingest.sources import SOURCES, Source
from pipelines.locks import WritersLock
from pipelines.profiles.build import NO_PROFILE, build_profiles, linked_events, split_by_profile
from pipelines.profiles.state import FoldParams
from pipelines.profiles.store import write_profiles
from pipelines.watermarks import changed_since, read_watermark, write_watermark

NORMALIZERS: dict[str, Callable[[DataFrame, Rules], Normalized]] = {
    "crm": normalize_crm,
    "orders": normalize_orders,
    "tickets": normalize_tickets,
    "web": normalize_web,
    "social": normalize_social,
}
# Source records per bronze row where a row is not one record (a social file holds many
# mentions); every other source has one record per bronze row.
RECORD_COUNTS: dict[str, Callable[[Column], Column]] = {"social": social_records}


@dataclass
class StageTimer:
    """Progress lines and wall time per stage."""

    echo: Callable[[str], None] = print
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, fn: Callable[[], object]) -> object:
        self.echo(f"  · {name} …")
        start = time.perf_counter()
        result = fn()
        self.seconds[name] = round(time.perf_counter() - start, 2)
        self.echo(f"  ✓ {name} ({self.seconds[name]:.1f}s)")
        return result


@dataclass
class IngestReport:
    files: dict[str, int] = field(default_factory=dict)
    bronze_rows: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)  # source records (mentions, lines…)
    rejected: int = 0
    events_new: int = 0
    profiles: int = 0
    merges: int = 0
    unassigned_events: int = 0  # events of the log that reach no profile, all runs
    unassigned_quarantined: int = 0  # of those, quarantined by this run (new ones)
    probable_links: int = 0  # rows of identity_probable_links after this run
    probable_profiles: int = 0  # rows of probable_activity: profiles with served links
    # source -> columns its files brought that bronze did not have (schema evolution)
    new_columns: dict[str, list[str]] = field(default_factory=dict)
    # (table_name, reason, rows) this run quarantined, most rows first.
    quarantined: list[tuple[str, str, int]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def rules_from_conf(conf: Conf) -> Rules:
    return Rules(
        base_currency=str(conf.get("currency.base")),
        rates={k: float(v) for k, v in conf.get("currency.rates").items()},
        minor_unit_digits={k: int(v) for k, v in conf.get("currency.minor_unit_digits").items()},
        crm_timezone=str(conf.get("ingest.crm_timezone")),
        default_country=str(conf.get("ingest.default_country")),
        max_future_s=int(conf.get("ingest.max_future_s")),
        min_event_date=str(conf.get("ingest.min_event_date")),
    )


def _read(spark: SparkSession, catalog: Catalog, table: str) -> DataFrame | None:
    return read_if_exists(spark, catalog.path(table))


def land_to_bronze(
    spark: SparkSession,
    catalog: Catalog,
    source: Source,
    run_id: str,
    report: IngestReport | None = None,
) -> tuple[DataFrame | None, DataFrame]:
    """Write the source's new files to bronze; returns (their bronze rows, the file listing).
    Columns the bronze table did not have yet are added first and named in
    ``report.new_columns``."""
    listing = list_files(spark, catalog.conf.path("paths.landing"), source)
    # Materialized, not cached: a cached plan equal to the listing (a first run, nothing
    # ingested yet) would answer every later listing of this session with the same files.
    todo = new_files(listing, _read(spark, catalog, "ingested_files")).localCheckpoint()
    paths = [r.path for r in todo.select("path").collect()]
    if not paths:
        return None, todo
    rows = read_bronze(spark, source, paths)
    # A column new in these files (a new optional source field) is added to the bronze table
    # first: schema auto-merge is off, so the write would otherwise fail on a schema mismatch.
    table = _read(spark, catalog, source.bronze_table)
    if table is not None:
        added = {
            f.name: f.dataType.simpleString()
            for f in rows.schema.fields
            if f.name not in table.columns
        }
        add_missing_columns(spark, catalog.path(source.bronze_table), added)
        if added and report is not None:
            report.new_columns[source.name] = sorted(added)
    quoted = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    replace = f"_source_file IN ({quoted})"
    gated_write(
        catalog, rows, source.bronze_table, mode="overwrite", replace_where=replace, run_id=run_id
    )
    bronze = spark.read.format("delta").load(catalog.path(source.bronze_table)).where(replace)
    return bronze, todo


def mark_ingested(
    catalog: Catalog, pending: list[tuple[Source, DataFrame]], now: datetime
) -> None:
    """Record every source's ingested files in ``ingested_files``: one append for the run."""
    if not pending:
        return
    rows = _union([
        files.select(
            "path",
            "size",
            "modified",
            F.lit(source.name).alias("source"),
            F.lit(now).cast("timestamp").alias("ingested_at"),
        )
        for source, files in pending
    ])
    spec = catalog.table("ingested_files")
    ensure_table(rows, spec)
    write_delta(rows, spec, "append")


def ingest_sources(
    spark: SparkSession,
    catalog: Catalog,
    rules: Rules,
    sources: Iterable[str],
    now: datetime,
    report: IngestReport,
    run_id: str,
    retry: Retry,
) -> list[tuple]:
    """Landing → bronze → silver events for every source; returns the files to mark ingested."""
    events: list[DataFrame] = []
    rejects: list[DataFrame] = []
    checked: list[DataFrame] = []
    pending = []
    for name in sources:
        source = SOURCES[name]
        bronze, files = land_to_bronze(spark, catalog, source, run_id, report)
        report.files[name] = files.count()
        if bronze is None:
            continue
        per_row = RECORD_COUNTS.get(name)
        records = F.sum(per_row(F.col("raw"))) if per_row else F.count(F.lit(1))
        counts = bronze.agg(F.count(F.lit(1)).alias("rows"), records.alias("records")).first()
        report.bronze_rows[name] = int(counts["rows"])
        report.records[name] = int(counts["records"] or 0)
        normalized = NORMALIZERS[name](bronze, rules)
        # Events and rejects are both filtered from `checked`: persisted, every bronze row is
        # parsed and checked once (by the rejects' count below), not once per output.
        checked.append(normalized.checked.persist(StorageLevel.MEMORY_AND_DISK))
        events.append(normalized.events)
        rejects.append(
            normalized.rejects.select(
                F.to_json(
                    F.struct(*[c for c in normalized.rejects.columns if c != "_quarantine_reason"])
                ).alias("record"),
                F.lit(name).alias("source"),
                "_quarantine_reason",
            )
        )
        pending.append((source, files))
    try:
        if rejects:
            bad = _union(rejects).cache()
            report.rejected = bad.count()
            if report.rejected:
                quarantine(catalog, bad, "events", run_id)
            bad.unpersist()
        # Materialized without lineage: Delta's MERGE plans its source anew and reads no
        # persisted frame, so the gate's count and the MERGE would each compute the batch
        # from the bronze rows again (docs/performance.md, Batch ingest).
        batch = dedupe_events(_union(events)).localCheckpoint(eager=True) if events else None
    finally:
        for frame in checked:
            frame.unpersist()
    if batch is not None:
        before = _count(spark, catalog, "events")
        # Inserts only ids the log lacks: a retry after the stream appended adds the rest.
        retry("ingest events", lambda: gated_write(
            catalog,
            batch,
            "events",
            mode="merge",
            merge_on=["event_id"],
            merge_clauses=lambda b: b.whenNotMatchedInsertAll(),
            run_id=run_id,
        ))
        report.events_new = _count(spark, catalog, "events") - before
    return pending


def _union(frames: list[DataFrame]) -> DataFrame:
    out = frames[0]
    for f in frames[1:]:
        out = out.unionByName(f)
    return out


def _count(spark: SparkSession, catalog: Catalog, table: str) -> int:
    df = _read(spark, catalog, table)
    return 0 if df is None else df.count()


def resolve_identities(
    spark: SparkSession,
    catalog: Catalog,
    params: IdentityParams,
    now: datetime,
    report: IngestReport,
    txn_app_id: str | None = None,
) -> None:
    """Resolve the events appended since the last resolved events-table version. With
    ``txn_app_id``, the writes are idempotent per (run, events version): a retry after the
    merges committed but the links conflicted does not append the merges again."""
    current = table_version(spark, catalog.path("events"))
    done = read_watermark(spark, catalog, "identity")
    if current is None or done == str(current):
        return
    events = (
        _read(spark, catalog, "events")
        if done is None
        else _events_since(spark, catalog, int(done))
    )
    links = _read(spark, catalog, "identity_links")
    observations = observations_from_events(events)
    # A small run (up to identity.local_max_records events) is resolved on the driver.
    small = resolve_small(observations, links, params, now=now)
    result = small[1] if small is not None else resolve(
        observations, links if links is not None else empty_links(spark), params, now=now)
    write_identity(catalog, result, Txn(txn_app_id, current) if txn_app_id else None)
    report.merges = result.merges.count()
    write_watermark(spark, catalog, "identity", str(current), now)


def link_probable(
    spark: SparkSession,
    catalog: Catalog,
    identity: IdentityParams,
    params: ProbableParams,
    now: datetime,
    report: IngestReport,
) -> None:
    """The probable tier after the strong links (``probable_refresh``), its counts reported."""
    refreshed = refresh_probable(spark, catalog, identity, params, now)
    if refreshed is not None:
        report.probable_links = refreshed.links
        report.probable_profiles = refreshed.profiles


def quarantine_unassigned(
    spark: SparkSession, catalog: Catalog, unassigned: DataFrame, run_id: str
) -> int:
    """Quarantine events that reach no profile (docs/identity.md, rule 6) under
    ``table_name = profiles`` with the stream's reason; returns how many were added.

    Each event is quarantined once: the rebuild sees every unassigned event of the log on
    every run, so events already quarantined for this reason (by a batch run or the stream)
    are left out. An event assigned before and unassigned now (an identifier turned shared)
    is new here and is added.
    """
    before = _read(spark, catalog, "quarantine")
    # The payload is the event as the stream quarantines it, without the log's generated
    # storage columns (the month it is partitioned by).
    rows = unassigned.drop(*(name for name, _ in catalog.table("events").generated))
    if before is not None:
        seen = before.where(
            (F.col("table_name") == "profiles") & (F.col("reason") == NO_PROFILE)
        ).select(F.get_json_object("payload", "$.event_id").alias("event_id"))
        rows = rows.join(seen, "event_id", "left_anti")
    rows = rows.withColumn(REASON, F.lit(NO_PROFILE)).cache()
    added = rows.count()
    if added:
        quarantine(catalog, rows, "profiles", run_id)
    rows.unpersist()
    return added


def rebuild_profiles(
    spark: SparkSession,
    catalog: Catalog,
    fold: FoldParams,
    now: datetime,
    report: IngestReport,
    run_id: str,
    identity: IdentityParams | None = None,
) -> None:
    """Rebuild every profile when the event log or the links changed since the last build.
    ``identity`` (deny-list, never-link rules) decides which identifiers place a record."""
    changed = changed_since(spark, catalog, "profiles")
    if changed is None:
        return
    events, links, inputs = changed
    # Kept for both sides: the unassigned count and the fold each looked every event up
    # again (docs/performance.md, Batch ingest).
    linked = linked_events(events, links, identity).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        assigned, unassigned = split_by_profile(linked)
        report.unassigned_events = unassigned.count()
        report.unassigned_quarantined = quarantine_unassigned(
            spark, catalog, unassigned, run_id
        )
        profiles = build_profiles(assigned, links, now, fold)
        write_profiles(catalog, profiles, now, delete_missing=True)
    finally:
        linked.unpersist()
    report.profiles = _count(spark, catalog, "profiles")
    write_watermark(spark, catalog, "profiles", inputs, now)


def run_ingest(
    spark: SparkSession,
    conf: Conf,
    sources: Iterable[str],
    now: datetime,
    echo: Callable[[str], None] = print,
    with_profiles: bool = True,
) -> IngestReport:
    """The whole batch path. Returns counts and seconds per stage.

    The gate's ``validation_results`` rows of the run's writes are appended in one commit at
    its end (a commit per gated write cost ~0.25 s, eight or more per run); a run that dies
    before leaves its files unmarked, and the rerun that ingests them validates and records
    again."""
    catalog = Catalog(conf)
    # Unique per run, so the summary counts only this run's quarantine rows however close
    # together runs start (tests pass the same ``now``).
    run_id = f"ingest-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    with deferred_results(catalog, None):
        return _run_ingest(spark, conf, catalog, sources, now, echo, with_profiles, run_id)


def _run_ingest(
    spark: SparkSession,
    conf: Conf,
    catalog: Catalog,
    sources: Iterable[str],
    now: datetime,
    echo: Callable[[str], None],
    with_profiles: bool,
    run_id: str,
) -> IngestReport:
    report = IngestReport()
    timer = StageTimer(echo)
    retry = Retry.from_conf(conf.get("ingest.retry"))
    pending = timer.run(
        "landing → bronze → silver events",
        lambda: ingest_sources(spark, catalog, rules_from_conf(conf), sources, now, report, run_id,
                               retry),
    )
    with WritersLock.from_conf(conf).hold("profilake-ingest", claim=True,
                                          say=lambda m: echo(f"  · {m}")):
        identity = identity_params(spark, catalog, conf)  # with the never-link rules
        timer.run(
            "identity resolution",
            lambda: retry("ingest identity", lambda: resolve_identities(
                spark, catalog, identity, now, report, txn_app_id=f"ingest/{run_id}")),
        )
        timer.run(
            "probable links",
            lambda: retry("ingest probable links", lambda: link_probable(
                spark, catalog, identity, ProbableParams.from_conf(conf), now, report)),
        )
        if with_profiles:
            timer.run(
                "unified profiles",
                lambda: retry("ingest profiles", lambda: rebuild_profiles(
                    spark, catalog, fold_params_from_conf(conf), now, report, run_id,
                    identity)),
            )
    mark_ingested(catalog, pending, now)
    report.quarantined = quarantined_by_run(spark, catalog, run_id)
    report.seconds = timer.seconds
    return report


def quarantined_by_run(
    spark: SparkSession, catalog: Catalog, run_id: str
) -> list[tuple[str, str, int]]:
    """(table_name, reason, rows) of everything run ``run_id`` quarantined: the source rows
    normalization rejected, rows the gate kept out and events without a profile."""
    table = _read(spark, catalog, "quarantine")
    if table is None:
        return []
    counts = quarantine_by_reason(table.where(F.col("run_id") == run_id))
    return [(r.table_name, r.reason, int(r.rows)) for r in counts.itertuples()]


def _events_since(spark: SparkSession, catalog: Catalog, version: int) -> DataFrame:
    """Events appended after ``version`` (the identity step only needs what is new)."""
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", version + 1)
        .load(catalog.path("events"))
        .where("_change_type = 'insert'")
        .drop("_change_type", "_commit_version", "_commit_timestamp")
    )


def fold_params_from_conf(conf: Conf) -> FoldParams:
    section = conf.get("profiles")
    return FoldParams(
        cart_events_kept=int(section["cart_events_kept"]),
        categories_kept=int(section["categories_kept"]),
        order_days_kept=int(section["order_days_kept"]),
    )
