"""Maintenance of the catalog's tables, one after the other: OPTIMIZE where the plan says,
VACUUM, checkpoint when the log grew, then the health row. A table that fails (a conflict that
outlasted the retries, a Delta error) is reported and the others still get their turn."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from pyspark.sql import SparkSession

from pipelines.catalog import Catalog
from pipelines.conflicts import with_retries
from pipelines.gate.delta_io import ensure_table, write_delta
from pipelines.maintenance import delta_ops
from pipelines.maintenance.health import HEALTH_SCHEMA, TableHealth, table_health
from pipelines.maintenance.params import MaintenanceParams, TableRules
from pipelines.maintenance.plan import needs_checkpoint, plan_optimize

log = logging.getLogger(__name__)
HEALTH_TABLE = "table_health"


@dataclass(frozen=True)
class TableResult:
    table: str
    status: str  # ok | skipped (no table yet) | failed
    message: str
    health: TableHealth | None = None


def maintain(
    spark: SparkSession,
    catalog: Catalog,
    params: MaintenanceParams,
    tables: Sequence[str],
    *,
    run_id: str,
    now: datetime,
    say: Callable[[str], None] = print,
) -> list[TableResult]:
    """Maintain ``tables`` in order; returns one result per table."""
    results = []
    for name in tables:
        try:
            result = _maintain_table(spark, catalog, params.rules(name), params, run_id, now)
        except Exception as exc:  # one table's failure must not stop the others' maintenance
            log.exception("maintenance of %s failed", name)
            result = TableResult(name, "failed", f"{type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''}")
        say(f"[maintain] {name}: {result.status} — {result.message}")
        results.append(result)
    return results


def _maintain_table(
    spark: SparkSession,
    catalog: Catalog,
    rules: TableRules,
    params: MaintenanceParams,
    run_id: str,
    now: datetime,
) -> TableResult:
    path = catalog.path(rules.name)
    if not delta_ops.is_delta_table(spark, path):
        return TableResult(rules.name, "skipped", f"no Delta table at {path} yet")

    def retried(step: Callable[[], object], what: str):
        # A conflicting commit by the stream or the nightly aborts ours cleanly (optimistic
        # concurrency: nothing half-written is ever visible); a fresh attempt re-reads the log.
        return with_retries(step, name=f"{what} {rules.name}", attempts=params.retry_attempts,
                            backoff_s=params.retry_backoff_s)

    actions = []
    before = delta_ops.snapshot(spark, path)
    plan = plan_optimize(before.files, rules, params.min_small_files)
    if plan.needed:
        done = retried(lambda: delta_ops.optimize(spark, path, plan, rules.target_file_bytes,
                                                  rules.small_file_bytes), "optimize")
        actions.append(f"{plan.describe()}: -{done['removed']} +{done['added']} files")
    below_minimum = rules.retention_hours < params.min_retention_hours
    retried(lambda: delta_ops.vacuum(spark, path, rules.retention_hours,
                                     below_minimum=below_minimum,
                                     listing_parallelism=params.listing_parallelism), "vacuum")
    actions.append(f"vacuum {rules.retention_hours:g} h")
    snap = delta_ops.snapshot(spark, path)
    if needs_checkpoint(snap.version, snap.checkpoint_version):
        delta_ops.checkpoint(spark, path)
        actions.append(f"checkpoint v{snap.version}")
        # The checkpoint adds no commit: the files are the same, only its version moves.
        snap = replace(snap, checkpoint_version=snap.version)
    health = table_health(
        run_id=run_id,
        measured_at=now,
        table=rules.name,
        version=snap.version,
        files=snap.files,
        files_before=len(before.files),
        small_file_bytes=rules.small_file_bytes,
        checkpoint_version=snap.checkpoint_version,
        history=delta_ops.history(spark, path),
        actions="; ".join(actions),
        status="ok",
    )
    return TableResult(rules.name, "ok", "; ".join(actions), health)


def write_health(spark: SparkSession, catalog: Catalog, rows: Sequence[TableHealth]) -> int:
    """Append the run's health rows to ``table_health`` (telemetry, like stream_metrics: not
    gated); returns the rows written."""
    if not rows:
        return 0
    df = spark.createDataFrame([h.row() for h in rows], HEALTH_SCHEMA)
    spec = catalog.table(HEALTH_TABLE)
    ensure_table(df, spec)
    write_delta(df, spec, "append")
    return len(rows)
