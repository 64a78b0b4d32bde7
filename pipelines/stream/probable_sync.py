"""The probable tier in the stream (docs/streaming.md, "Identity in the stream"), refreshed
beside the micro-batches rather than inside them.

Rule: after a micro-batch commits, the tier is brought up to date for the events and strong
links that changed since the last refresh (``identity.probable_refresh``, the batch ingest's
function, incrementally), at most once every ``streaming.probable_refresh_s`` (start to
start), and the profiles whose probable activity changed are published to the chatbot export
and cache again (``ChatbotSync.publish_profiles``).

Why its own thread: a refresh costs 10–19 s however few events changed, and inside a batch
every record of that batch, and of those queued behind it, waited for it; the first batch
after a restart always did. The refresher runs in a Spark session of its own (the batch's
txn settings never reach its writes), holds the profile writers' lock together with the
batches (``locks.SharedHold``), and takes turns with them on the chatbot export.

Not part of the batch's exactly-once argument: the tier is derived state, computed from the
committed table versions that its watermark names, so a refresh cut short (a crash, a stop)
is redone by the next one. A refresh that still fails after its retries fails the next
micro-batch (``raise_failure``), which stops the query with the refresh's error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import SparkSession

from pipelines.config import Conf, ConfigError
from pipelines.conflicts import with_retries
from pipelines.identity.probable import ProbableParams
from pipelines.identity.probable_refresh import Refreshed, refresh_probable

if TYPE_CHECKING:
    from pipelines.stream.microbatch import StreamContext

log = logging.getLogger("profilake.stream")


class ProbableRefreshFailed(RuntimeError):
    """The background refresh failed after its retries; raised by the next micro-batch."""


class ProbableSync:
    """The stream's probable refresher: ``start`` it with the query, tell it of every
    committed batch (``batch_committed``), ``stop`` it with the query. ``on_refresh`` hears
    of every refresh that found something to do (``report``)."""

    def __init__(self, params: ProbableParams, every_s: float) -> None:
        self.params = params
        self.every_s = every_s
        self.on_refresh: Callable[[dict[str, Any]], None] | None = None
        self._committed = threading.Event()  # a batch committed since the last refresh began
        self._stopping = threading.Event()
        self._failure: BaseException | None = None
        self._last: float | None = None  # monotonic start of the last refresh
        self._thread: threading.Thread | None = None

    @classmethod
    def from_conf(cls, conf: Conf) -> ProbableSync | None:
        """None when the probable tier is off (``identity.probable.enabled``)."""
        params = ProbableParams.from_conf(conf)
        if not params.enabled:
            return None
        every_s = float(conf.get("streaming.probable_refresh_s"))
        if every_s < 0:
            raise ConfigError("streaming.probable_refresh_s must be >= 0")
        return cls(params, every_s)

    def batch_committed(self) -> None:
        self._committed.set()

    def raise_failure(self) -> None:
        """Raise the background refresh's failure, if it failed."""
        if self._failure is not None:
            raise ProbableRefreshFailed(
                f"probable tier refresh failed: {self._failure}") from self._failure

    def wait_s(self, now: float | None = None) -> float:
        """Seconds until a refresh may start: none before the first, then ``every_s`` from
        the start of the last one."""
        if self._last is None:
            return 0.0
        now = time.monotonic() if now is None else now
        return max(0.0, self._last + self.every_s - now)

    def start(self, spark: SparkSession, ctx: StreamContext) -> None:
        """Refresh in a background thread after committed batches until ``stop``."""
        session = spark.newSession()
        self._thread = threading.Thread(target=self._run, args=(session, ctx),
                                        name="probable-refresh", daemon=True)
        self._thread.start()

    def stop(self, spark: SparkSession | None = None, ctx: StreamContext | None = None, *,
             flush: bool = False, timeout_s: float = 300.0) -> None:
        """Stop the thread once its refresh, if one runs, has finished. ``flush`` (with the
        session and context): then refresh once more if a batch committed since the last
        refresh began, so a run that processed a backlog and exits leaves the tier current.

        Raises:
            ProbableRefreshFailed: a refresh failed.
        """
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("probable refresh still running after %.0fs; left to finish "
                            "(its work is redone by the next run)", timeout_s)
        self.raise_failure()
        running = self._thread is not None and self._thread.is_alive()
        if (flush and not running and self._committed.is_set() and spark is not None
                and ctx is not None):
            self._committed.clear()
            self.refresh(spark, ctx)

    def _run(self, spark: SparkSession, ctx: StreamContext) -> None:
        while not self._stopping.is_set():
            if not self._committed.wait(0.2):
                continue
            if self._stopping.wait(self.wait_s()):
                return
            self._committed.clear()
            try:
                self.refresh(spark, ctx)
            except Exception as exc:  # noqa: BLE001 - reported by the next batch and stop()
                log.error("probable tier refresh failed: %s", exc)
                self._failure = exc
                return

    def refresh(self, spark: SparkSession, ctx: StreamContext) -> Refreshed | None:
        """One refresh now, and its changed profiles published (``ctx.chatbot``); holds the
        writers' lock (shared with the batches) throughout."""
        s = ctx.settings
        self._last = time.monotonic()
        started_at = datetime.now(UTC)

        def retried(name: str, step):
            return with_retries(step, name=f"{s.query_name} {name}",
                                attempts=s.retry_attempts, backoff_s=s.retry_backoff_s)

        held = ctx.lock.hold(f"stream {s.query_name} probable refresh") if ctx.lock \
            else nullcontext()
        with held:
            refreshed = retried("probable", lambda: refresh_probable(
                spark, ctx.catalog, ctx.identity, self.params, datetime.now(UTC),
                incremental=True))
            if refreshed is None:
                return None
            # No txn: republishing a profile as it stands is idempotent, and a run's refresh
            # count restarts with the process, so it could not serve as a txn version.
            if ctx.chatbot is not None and refreshed.changed_profiles:
                retried("probable publish", lambda: ctx.chatbot.publish_profiles(
                    spark, ctx.catalog, refreshed.changed_profiles, None))
        report = {"started_at": started_at, "finished_at": datetime.now(UTC),
                  "seconds": round(time.monotonic() - self._last, 3),
                  "whole": refreshed.whole, "links": refreshed.links,
                  "profiles": refreshed.profiles, "changed": len(refreshed.changed_profiles)}
        log.info("probable tier (%s) in %.1fs: %d links, %d profiles with activity, "
                 "%d changed", "whole" if refreshed.whole else "incremental",
                 report["seconds"], refreshed.links, refreshed.profiles, report["changed"])
        if self.on_refresh is not None:
            self.on_refresh(report)
        return refreshed
