"""Delta idempotent-write bookkeeping for the stream: what a table has already committed, and
bounded retries of a write step on Delta concurrent-modification conflicts."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
T = TypeVar("T")

# Delta's optimistic-concurrency conflicts: another writer committed first; the step may be
# recomputed and retried with the same txn (so a write that did commit is skipped).
CONFLICTS = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT_",
)
# A service hiccup (Redis restarting, a dropped socket): worth the same bounded retries.
TRANSIENT = ("ConnectionError", "TimeoutError")


def committed_txn_version(spark: SparkSession, path: str, app_id: str) -> int | None:
    """The latest txnVersion the Delta table at ``path`` committed for ``app_id`` (None if it
    never did, or the table does not exist).

    Read from the table's snapshot (its SetTransaction actions) — the same record Delta uses to
    skip a replayed idempotent write, so "committed" here means exactly "would be skipped".
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return None
    jvm = spark.sparkContext._jvm
    delta_log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    none = jvm.scala.Option.empty()
    found = delta_log.update(False, none, none).transactions().get(app_id)
    return int(found.get()) if found.isDefined() else None


def is_conflict(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(marker in text for marker in CONFLICTS)


def is_retryable(exc: BaseException) -> bool:
    return is_conflict(exc) or type(exc).__name__ in TRANSIENT


def with_retries(
    step: Callable[[], T], *, name: str, attempts: int, backoff_s: float
) -> T:
    """Run ``step``; on a Delta conflict or a transient connection error run it again (it
    must re-read what it depends on), at most ``attempts`` times in all, sleeping
    ``backoff_s`` doubled after each failure."""
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except Exception as exc:
            if not is_retryable(exc) or attempt == attempts:
                raise
            log.warning("%s: retryable failure (attempt %d/%d), retrying in %.1fs: %s",
                        name, attempt, attempts, delay, str(exc).splitlines()[0])
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
