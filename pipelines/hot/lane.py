"""The hot lane: a Kafka consumer group that folds every valid event into the served profile's
overlay in Redis within milliseconds of reading it (ARCHITECTURE §6, docs/streaming.md).

Per polled batch: check each record exactly as the Delta lane does (events.validate.admit),
resolve its profile through the cache's identifier index (hot.resolve) and apply the whole
batch in one Lua call (hot.overlay.APPLY) that stores each valid record in its profile's overlay
and records each partition's applied offset. The read API folds the pending records onto the base
(serving.served). Hence:

- exactly-once effect: a record at or below its partition's applied offset is skipped, so a
  crash, rebalance or restart that re-delivers it changes nothing;
- a lost Redis (the epoch key is gone) is noticed on the next apply: the lane re-seeks every
  partition to the Delta lane's frontier — the offsets its bases cover — and replays from there;
- bad input never stops the lane: an invalid record is skipped and counted (the Delta lane
  quarantines it with its reason); one the check itself fails on is logged, skipped and
  counted ``unchecked``, and the Delta lane decides.

Kafka offsets are also committed to the consumer group, for lag monitoring only: where to
resume is always read from Redis.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import secrets
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipelines.config import Conf
from pipelines.events.params import ParseParams
from pipelines.events.validate import admit
from pipelines.hot import overlay
from pipelines.hot.resolve import Resolver

log = logging.getLogger("profilake.hot")
TOPIC_METADATA_WAIT_S = 10.0


@dataclass(frozen=True)
class HotSettings:
    group_id: str
    topics: tuple[str, ...]
    bootstrap_servers: str
    prefix: str
    max_poll_records: int
    poll_timeout_ms: int
    fetch_max_wait_ms: int
    dedupe_window_s: int
    sweep_after_s: float
    session_timeout_ms: int
    instance_id: str | None
    parse: ParseParams

    @classmethod
    def from_conf(cls, conf: Conf) -> HotSettings:
        h = conf.get("hot")
        return cls(
            group_id=str(h.get("group_id")),
            topics=tuple(str(t) for t in conf.get("streaming.topics")),
            bootstrap_servers=str(conf.get("kafka.bootstrap_servers")),
            prefix=str(conf.get("cache.prefix")),
            max_poll_records=int(h.get("max_poll_records")),
            poll_timeout_ms=int(h.get("poll_timeout_ms")),
            fetch_max_wait_ms=int(h.get("fetch_max_wait_ms")),
            dedupe_window_s=int(h.get("dedupe_window_s")),
            sweep_after_s=float(h.get("sweep_after_s")),
            session_timeout_ms=int(h.get("session_timeout_ms")),
            instance_id=str(h.get("instance_id") or "") or None,
            parse=ParseParams.from_conf(conf),
        )


@dataclass
class LaneStats:
    records: int = 0
    counts: Counter = field(default_factory=Counter)
    rebuilds: int = 0

    def summary(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return f"hot lane: {self.records} records read ({parts}); {self.rebuilds} rebuilds"


class HotLane:
    """One consumer of the hot lane's group. ``run`` until ``should_stop()`` says so."""

    def __init__(self, conf: Conf, settings: HotSettings | None = None, client: Any = None):
        from pipelines.services.redis_server import client as redis_client

        self.conf = conf
        self.settings = settings or HotSettings.from_conf(conf)
        self.redis = client or redis_client(conf)
        self.resolver = Resolver.from_conf(conf)
        self.apply_script = self.redis.register_script(overlay.APPLY)
        self.sweep_script = self.redis.register_script(overlay.SWEEP)
        self.stats = LaneStats()
        self.token = ""
        self.consumer: Any = None
        self._touched: deque[tuple[float, str]] = deque()

    # -- start and rebuild ---------------------------------------------------------------------

    def _epoch(self) -> str:
        key = f"{self.settings.prefix}:h:epoch"
        self.redis.set(key, secrets.token_hex(8), nx=True)
        return self.redis.get(key).decode()

    def _start_offset(self, tp: Any, exported: Callable[[], dict[str, int]]) -> int | None:
        """Where to resume ``tp``: after the last applied offset, else at the Delta lane's
        frontier (a new lane, or Redis lost everything), else at the newest offsets the
        Delta export covers (``exported``), else the beginning (None)."""
        p = self.settings.prefix
        pk = f"{tp.topic}:{tp.partition}"
        applied = self.redis.hget(f"{p}:h:off", pk)
        if applied is not None:
            return int(applied) + 1
        front = self.redis.hget(f"{p}:d:off", pk)
        if front is not None:
            return int(front)
        return exported().get(pk)

    def _seek_all(self, partitions: Sequence[Any]) -> None:
        # The export is read at most once per assignment, and only if Redis has no offsets.
        exported = functools.cache(lambda: _export_frontier(self.conf))
        for tp in partitions:
            start = self._start_offset(tp, exported)
            if start is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, start)

    def _connect(self) -> None:
        from kafka import KafkaConsumer
        from kafka.consumer.subscription_state import ConsumerRebalanceListener

        lane = self
        s = self.settings

        class Seek(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                pass

            def on_partitions_assigned(self, assigned):
                lane._seek_all(list(assigned))

        self.consumer = KafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.max_poll_records,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            consumer_timeout_ms=1000,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=max(1, s.session_timeout_ms // 3),
            group_instance_id=s.instance_id,
        )
        self.consumer.subscribe(list(s.topics), listener=Seek())
        self._await_topic_metadata()

    def _await_topic_metadata(self, timeout_s: float = TOPIC_METADATA_WAIT_S) -> None:
        """Fetch every subscribed topic's partitions before the group's first join.

        kafka-python joins on the first poll, usually before its metadata request for the
        subscribed topics returns; the leader then assigns none of their partitions ("No
        partition metadata for topic") and only the rebalance after the next metadata refresh
        heals that. Seen once stalling here: 0 records read in 60 s. A topic that does not
        exist after ``timeout_s`` is picked up when it appears (metadata refresh, 5 minutes)."""
        deadline = time.monotonic() + timeout_s
        missing = list(self.settings.topics)
        while True:
            missing = [t for t in missing if not self.consumer.partitions_for_topic(t)]
            if not missing:
                return
            if time.monotonic() >= deadline:
                log.warning("hot lane: no partitions for %s yet; reading them once they exist",
                            ", ".join(missing))
                return
            time.sleep(0.5)

    # -- the loop ------------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool] = lambda: False,
            on_batch: Callable[[dict[str, int]], None] | None = None) -> LaneStats:
        self.token = self._epoch()
        self._connect()
        last_commit = time.monotonic()
        try:
            while not should_stop():
                polled = self.consumer.poll(timeout_ms=self.settings.poll_timeout_ms)
                records = [r for batch in polled.values() for r in batch]
                if records:
                    outcome = self._apply_until_done(records, should_stop)
                    if on_batch is not None and outcome is not None:
                        on_batch(outcome)
                self._guarded(self._sweep)
                if time.monotonic() - last_commit > 5:
                    self.consumer.commit_async()
                    last_commit = time.monotonic()
        finally:
            self.consumer.close(autocommit=False)
        return self.stats

    def _apply_until_done(self, records: Sequence[Any], should_stop) -> dict[str, int] | None:
        """Redis down or full is a pause, not a failure: the polled batch is retried (the
        offsets in Redis make a retry after a half-finished attempt harmless) until it lands
        or the lane is told to stop; the records are then read again by the next run."""
        import redis

        backoff = 0.05
        while not should_stop():
            try:
                return self.apply(records)
            except redis.OutOfMemoryError as exc:
                # Only the TTL'd guard keys are evictable: a full Redis needs an operator.
                log.error("hot lane: Redis is full (%s); raise redis maxmemory or lower "
                          "hot.dedupe_window_s; retrying in %.2f s", exc, backoff)
                self.stats.counts["redis_full"] += 1
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                log.warning("hot lane: Redis unavailable (%s); retrying in %.2f s", exc, backoff)
            time.sleep(backoff)
            backoff = min(backoff * 2, 1.0)
        return None

    def _guarded(self, step: Callable[[], None]) -> None:
        import redis

        # Housekeeping: when Redis is away the next round does it.
        with contextlib.suppress(redis.ConnectionError, redis.TimeoutError, OSError):
            step()

    def apply(self, records: Sequence[Any]) -> dict[str, int]:
        """Check, resolve and apply one polled batch; returns its counts."""
        counts: Counter = Counter()
        parse = self.settings.parse
        valid = []
        for r in records:
            try:
                event_id, ids = admit(r.value, r.timestamp, parse)
            except Exception:  # noqa: BLE001 — a defect in the check must not stop the lane
                # Skipped (never applied here); the Delta lane gives the record its verdict.
                log.exception("hot lane: cannot check %s/%s/%s; skipped", r.topic, r.partition,
                              r.offset)
                counts["unchecked"] += 1
                continue
            if event_id is None:
                counts["invalid"] += 1
            else:
                valid.append((r, event_id, self.resolver.keys(ids)))
        resolved = self.resolver.resolve(self.redis, [keys for _, _, keys in valid])
        # One group per partition read, its records in offset order (as polled).
        groups: dict[str, tuple[list[int], list[Any]]] = {}
        for r in records:
            pk = f"{r.topic}:{r.partition}"
            read = groups.setdefault(pk, ([-1], []))[0]
            read[0] = max(read[0], r.offset)
        now = time.monotonic()
        for (r, event_id, keys), (pid, how) in zip(valid, resolved, strict=True):
            if pid is None:
                counts[how] += 1
                continue
            pk = f"{r.topic}:{r.partition}"
            # The record as read, not its unit state: the read folds the few pending
            # entries of one profile, the lane would serialize every event it applies.
            entry = f"{pk}\t{r.offset}\t{r.timestamp}\t".encode() + r.value
            groups[pk][1].extend((r.offset, event_id, pid, r.timestamp, entry,
                                  "\n".join(keys) if how == "provisional" else ""))
            self._touched.append((now, pid))
        if records:
            args: list[Any] = [self.settings.prefix, self.token, self.settings.dedupe_window_s,
                               len(groups)]
            for pk, (read, fields) in groups.items():
                args += [pk, read[0], len(fields) // 6, *fields]
            result = self.apply_script(args=args)
            if result[0] == -1:
                self._rebuild()
                counts["rebuild"] += 1
            else:
                for name, value in zip(("applied", "duplicate", "covered", "replayed"), result,
                                       strict=True):
                    counts[name] += int(value)
        self.stats.records += len(records)
        self.stats.counts.update(counts)
        return dict(counts)

    def _rebuild(self) -> None:
        """Redis lost the lane's state: take a new epoch and replay from the frontier."""
        log.warning("hot lane: Redis lost its state; replaying Kafka from the Delta frontier")
        self.stats.rebuilds += 1
        self.token = self._epoch()
        self._seek_all(list(self.consumer.assignment()))

    def _sweep(self) -> None:
        """Trim overlays under the Delta frontier that no base will trim (events the Delta
        lane gave to another profile)."""
        horizon = time.monotonic() - self.settings.sweep_after_s
        due = []
        while self._touched and self._touched[0][0] < horizon and len(due) < 500:
            due.append(self._touched.popleft()[1])
        if due:
            unique = sorted(set(due))
            self.sweep_script(args=[self.settings.prefix, str(len(unique)), *unique])


def _export_frontier(conf: Conf) -> dict[str, int]:
    """The newest Kafka offsets a published base covers, from the Delta export (delta-rs):
    what a lost Redis is rebuilt from. Empty when the export is not there."""
    from pipelines.catalog import Catalog
    from pipelines.serving.coverage import decode_offsets
    from pipelines.serving.records import COVERED_OFFSETS

    try:
        from deltalake import DeltaTable

        table = DeltaTable(Catalog(conf).path("chatbot_export"))
        column = table.to_pyarrow_table(columns=[COVERED_OFFSETS]).column(0).to_pylist()
    except Exception:  # noqa: BLE001 — no export (yet), or one without the column
        return {}
    out: dict[str, int] = {}
    for text in column:
        for pk, off in decode_offsets(text).items():
            out[pk] = max(out.get(pk, 0), off)
    return out
