"""Erasure in Kafka: the events topics both lanes read (``streaming.topics``).

Kafka cannot delete one record: ``DeleteRecords`` moves a partition's start (log start
offset) forward, dropping every record before it, everyone's. So:

- The topic is scanned from its start to its current end for records mentioning the person
  (a whole-token match of their identifiers or profile ids in the key or value).
- A partition holding such records is cut up to just past the last of them, but never past
  the *safe offset*: the lowest of the Delta lane's last committed end offset (its
  checkpoint's ``commits/``), the hot lane's next offset (``P:h:off`` + 1) and the Delta
  frontier (``P:d:off``, where a hot lane that lost Redis resumes). Below it every record is
  in the lakehouse and the hot lane has applied it, so nothing the lanes still need is lost;
  other people's records that are cut were consumed already.
- The person's records at or past the safe offset stay: deleting them would take other
  people's unconsumed events with them. They are reported as pending; the lanes will
  consume them (and recreate the person), so run the erasure again once they have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class KafkaReport:
    records_found: int = 0
    records_deleted: int = 0  # the person's records now gone
    pending: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> records left
    cut_to: dict[str, int] = field(default_factory=dict)  # "topic:partition" -> new start


def safe_offsets(
    delta_end: Mapping[str, int], hot_next: Mapping[str, int], frontier: Mapping[str, int]
) -> dict[str, int]:
    """Per ``topic:partition``: the offset below which both lanes hold every record. A
    partition the Delta lane has no committed offset for is not safe anywhere."""
    out = {}
    for pk, end in delta_end.items():
        out[pk] = min([end] + [m[pk] for m in (hot_next, frontier) if pk in m])
    return out


def plan_cuts(
    hits: Mapping[str, list[int]], safe: Mapping[str, int]
) -> tuple[dict[str, int], dict[str, int], int]:
    """(new start offset per partition, person's records left per partition, records cut)."""
    cuts: dict[str, int] = {}
    pending: dict[str, int] = {}
    deleted = 0
    for pk, offsets in hits.items():
        limit = safe.get(pk, 0)
        below = [o for o in offsets if o < limit]
        if below:
            cuts[pk] = max(below) + 1
            deleted += len(below)
        if len(below) < len(offsets):
            pending[pk] = len(offsets) - len(below)
    return cuts, pending, deleted


def scan_topics(
    bootstrap: str, topics: Iterable[str], pattern: re.Pattern[str]
) -> dict[str, list[int]]:
    """Offsets of the records mentioning the person, per ``topic:partition``."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             group_id=None, consumer_timeout_ms=2000)
    hits: dict[str, list[int]] = {}
    try:
        parts = [TopicPartition(t, p) for t in topics
                 for p in sorted(consumer.partitions_for_topic(t) or [])]
        if not parts:
            return hits
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        todo = {tp for tp in parts if consumer.position(tp) < ends[tp]}
        idle = 0
        # Stop at the ends taken at the start; a few empty polls end a partition whose end
        # is not reachable (transaction markers, a partition cut meanwhile).
        while todo and idle < 5:
            batch = consumer.poll(timeout_ms=1000, max_records=5000)
            idle = 0 if batch else idle + 1
            for tp, records in batch.items():
                for r in records:
                    text = b"%s\n%s" % (r.key or b"", r.value or b"")
                    if r.offset < ends[tp] and pattern.search(text.decode("utf-8", "replace")):
                        hits.setdefault(f"{tp.topic}:{tp.partition}", []).append(r.offset)
            todo = {tp for tp in todo if consumer.position(tp) < ends[tp]}
    finally:
        consumer.close()
    return hits


def delete_before(bootstrap: str, cuts: Mapping[str, int]) -> None:
    """Move each partition's start to the given offset (Kafka DeleteRecords)."""
    if not cuts:
        return
    from kafka import KafkaAdminClient, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_records({
            TopicPartition(pk.rsplit(":", 1)[0], int(pk.rsplit(":", 1)[1])): off
            for pk, off in cuts.items()
        })
    finally:
        admin.close()


def hot_and_frontier(client: Any, prefix: str) -> tuple[dict[str, int], dict[str, int]]:
    """The hot lane's next offsets and the Delta frontier, from Redis."""
    def read(name: str) -> dict[str, int]:
        return {(k.decode() if isinstance(k, bytes) else k): int(v)
                for k, v in client.hgetall(name).items()}

    return {k: v + 1 for k, v in read(f"{prefix}:h:off").items()}, read(f"{prefix}:d:off")
