"""``gated_write``: validate with the table's GX suite, quarantine bad rows, write the rest.

The rule, per batch:
1. Each row-level expectation is evaluated per row; a row failing any of them goes to the
   quarantine table with the failed expectations named, the rest is the candidate batch.
2. Great Expectations validates the whole suite on the candidate batch — exactly what would
   land. Table-level expectations (row counts, uniqueness…) decide here.
3. A row-level expectation with ``mostly`` rejects the batch when its pass share is below it.
4. If anything is rejected, nothing reaches the table: the whole batch is quarantined with the
   reason, the result is recorded, and ``GateError`` names the table and the expectation. The
   table's previous version stays current.
Every outcome is appended to the ``validation_results`` table and, in full, as a JSON file.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate.delta_io import (
    MergeClauses,
    Txn,
    ensure_table,
    table_version,
    txn_confs,
    write_delta,
)
from pipelines.gate.quarantine import FAILED, REASON, quarantine
from pipelines.gate.suites import Suite, load_suite
from pipelines.gate.validate import validate

log = logging.getLogger("profilake.gate")

__all__ = ["GateError", "GateReport", "Txn", "deferred_results", "gated_write"]


class GateError(RuntimeError):
    """A batch failed a table-level expectation and was not written."""

    def __init__(self, report: GateReport):
        self.report = report
        super().__init__(
            f"gate rejected the batch for table '{report.table}': "
            f"failed {', '.join(report.failures)}; nothing was written "
            f"(table stays at version {report.version_before}); "
            f"{report.rows_in} rows quarantined (run {report.run_id})"
        )


@dataclass
class GateReport:
    table: str
    run_id: str
    rows_in: int
    rows_written: int
    rows_quarantined: int
    success: bool
    failures: list[str] = field(default_factory=list)
    version_before: int | None = None
    version_after: int | None = None


def gated_write(
    catalog: Catalog,
    df: DataFrame,
    table: str,
    *,
    mode: str = "append",
    merge_on: Sequence[str] | None = None,
    merge_clauses: MergeClauses | None = None,
    replace_where: str | None = None,
    txn: Txn | None = None,
    run_id: str | None = None,
) -> GateReport:
    """Write ``df`` to the catalog table ``table`` through its expectation suite.

    Args:
        mode: ``append``, ``overwrite`` (with optional ``replace_where``) or ``merge``.
        merge_on: key columns for ``merge``; ``merge_clauses`` customizes the MERGE
            (default: update all when matched, insert all when not).
        txn: Delta idempotent-write identity; a replayed (app_id, version) writes nothing.
    Returns:
        What happened: rows in, written and quarantined, table versions.
    Raises:
        GateError: a table-level expectation failed; the table is unchanged.
    """
    spec = catalog.table(table)
    if not spec.gated:
        raise ValueError(f"table '{table}' is not gated; write it with its own sink")
    run_id = run_id or f"{table}-{uuid.uuid4().hex[:12]}"
    suite = load_suite(spec.suite_file)
    spark = df.sparkSession

    flagged = _flag_rows(df, suite).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = _row_counts(flagged, suite)
        good = flagged.where(F.size(FAILED) == 0).drop(FAILED)
        bad = flagged.where(F.size(FAILED) > 0).withColumn(
            REASON, F.concat(F.lit("failed "), F.array_join(F.col(FAILED), "; "))
        )
        validation = validate(
            good,
            suite,
            rows=counts["rows"] - counts["bad"],
            local_max_rows=int(catalog.conf.get("gate.local_validation_max_rows")),
        )
        failures = [o.label for o in validation.failed] + _mostly_failures(suite, counts)
        report = GateReport(
            table=table,
            run_id=run_id,
            rows_in=counts["rows"],
            rows_written=0,
            rows_quarantined=counts["bad"],
            success=not failures,
            failures=failures,
            version_before=table_version(spark, spec.path),
        )
        if failures:
            rejected = flagged.drop(FAILED).withColumn(
                REASON, F.lit("batch rejected: failed " + "; ".join(failures))
            )
            quarantine(catalog, rejected, table, run_id, _sink_txn(txn, "quarantine", table))
            report.rows_quarantined = report.rows_in
            _record(spark, catalog, report, validation.result_json, txn)
            raise GateError(report)
        if counts["bad"]:
            quarantine(catalog, bad, table, run_id, _sink_txn(txn, "quarantine", table))
        ensure_table(good, spec)
        with txn_confs(spark, txn):
            write_delta(
                good,
                spec,
                mode,
                merge_on=merge_on,
                merge_clauses=merge_clauses,
                replace_where=replace_where,
            )
        report.rows_written = counts["rows"] - counts["bad"]
        report.version_after = table_version(spark, spec.path)
        _record(spark, catalog, report, validation.result_json, txn)
        return report
    finally:
        flagged.unpersist()


def _flag_rows(df: DataFrame, suite: Suite) -> DataFrame:
    """Add ``FAILED``: the labels of the row-level expectations each row fails."""
    checks = [
        F.when(~F.coalesce(e.row_passes(), F.lit(False)), F.lit(e.label)) for e in suite.row_level
    ]
    failed = F.filter(F.array(*checks), lambda x: x.isNotNull()) if checks else F.array()
    return df.withColumn(FAILED, failed.cast("array<string>"))


def _row_counts(flagged: DataFrame, suite: Suite) -> dict[str, int]:
    per_check = [
        F.sum(F.array_contains(FAILED, e.label).cast("int")).alias(e.label)
        for e in suite.row_level
        if "mostly" in e.kwargs
    ]
    row = flagged.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum((F.size(FAILED) > 0).cast("int")).alias("bad"),
        *per_check,
    ).first()
    return {k: int(v or 0) for k, v in row.asDict().items()}


def _mostly_failures(suite: Suite, counts: dict[str, int]) -> list[str]:
    if not counts["rows"]:
        return []
    failures = []
    for e in suite.row_level:
        if "mostly" in e.kwargs:
            passed = 1 - counts[e.label] / counts["rows"]
            if passed < float(e.kwargs["mostly"]):
                failures.append(f"{e.label} (mostly={e.kwargs['mostly']}, passed {passed:.3f})")
    return failures


RESULTS_SCHEMA = (
    "run_id string, table_name string, validated_at timestamp, success boolean, "
    "rows_in long, rows_written long, rows_quarantined long, failures array<string>, "
    "version_before long, version_after long"
)
_DEFERRED: ContextVar[list[tuple] | None] = ContextVar("deferred_validation_rows", default=None)


@contextmanager
def deferred_results(catalog: Catalog, txn: Txn | None) -> Iterator[None]:
    """Inside this block gated writes keep their ``validation_results`` rows and append them
    in one commit when it ends: a streaming micro-batch gates five tables, and a commit per
    table costs ~0.7 s. The GX JSON files are still written at once. If the block raises, its
    rows are appended without the txn, so a failed attempt is on record and the replay that
    follows still writes its own."""
    rows: list[tuple] = []
    token = _DEFERRED.set(rows)
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        _DEFERRED.reset(token)
        if rows and not failed:
            _append_results(SparkSession.getActiveSession(), catalog, rows, txn, "batch")
        elif rows:
            # Whatever broke the block (a full or read-only disk) may break this append too:
            # the block's own error is the one to report.
            try:
                _append_results(SparkSession.getActiveSession(), catalog, rows, None, "batch")
            except Exception as exc:  # noqa: BLE001
                log.warning("validation results of the failed attempt not recorded: %s",
                            str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _record(
    spark: SparkSession, catalog: Catalog, report: GateReport, result_json: dict, txn: Txn | None
) -> None:
    """Keep the outcome where users can read it: a Delta table and the full GX JSON."""
    conf = catalog.conf
    validated_at = datetime.now(UTC)
    folder = conf.path("paths.validation")
    if "://" not in folder:
        target = Path(folder) / report.table
        target.mkdir(parents=True, exist_ok=True)
        (target / f"{report.run_id}.json").write_text(
            json.dumps(
                {"report": asdict(report), "great_expectations": result_json}, default=str, indent=1
            )
        )
    row = (
        report.run_id,
        report.table,
        validated_at,
        report.success,
        report.rows_in,
        report.rows_written,
        report.rows_quarantined,
        report.failures,
        report.version_before,
        report.version_after,
    )
    deferred = _DEFERRED.get()
    if deferred is not None:
        deferred.append(row)
    else:
        _append_results(spark, catalog, [row], txn, report.table)


def _append_results(
    spark: SparkSession, catalog: Catalog, rows: list[tuple], txn: Txn | None, source: str
) -> None:
    df = spark.createDataFrame(rows, RESULTS_SCHEMA)
    spec = catalog.table("validation_results")
    ensure_table(df, spec)
    with txn_confs(spark, _sink_txn(txn, "validation", source)):
        write_delta(df, spec, "append")


def _sink_txn(txn: Txn | None, sink: str, table: str) -> Txn | None:
    """Txn for a shared sink: one writer may gate several tables in one batch, and Delta
    tracks txn versions per app id, so each (sink, source table) needs its own app id."""
    return None if txn is None else Txn(f"{txn.app_id}/{sink}/{table}", txn.version)
