"""Kafka offsets for the lag check: each partition's log start and end, and where a consumer
group stands. The hot lane commits its offsets to its group (``hot.group_id``) for this
purpose; the Delta lane keeps its own in the Spark checkpoint (pipelines/stream/offsets.py)."""

from __future__ import annotations

from collections.abc import Sequence


def topic_offsets(
    bootstrap: str, topics: Sequence[str], timeout_s: float
) -> tuple[dict[str, int], dict[str, int]]:
    """(log start, end) offset per ``topic:partition`` of ``topics``."""
    from kafka import KafkaConsumer, TopicPartition

    ms = int(timeout_s * 1000)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             request_timeout_ms=max(ms, 1001), bootstrap_timeout_ms=ms)
    try:
        parts = [TopicPartition(t, p) for t in topics
                 for p in sorted(consumer.partitions_for_topic(t) or [])]
        start = consumer.beginning_offsets(parts) if parts else {}
        end = consumer.end_offsets(parts) if parts else {}
    finally:
        consumer.close()
    key = "{0.topic}:{0.partition}".format
    return {key(tp): int(o) for tp, o in start.items()}, {key(tp): int(o) for tp, o in end.items()}


def group_offsets(bootstrap: str, group_id: str, timeout_s: float) -> dict[str, int]:
    """The committed offset (next record to read) per ``topic:partition`` of ``group_id``;
    empty when the group never committed."""
    from kafka import KafkaAdminClient

    ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=max(ms, 1001),
                             bootstrap_timeout_ms=ms)
    try:
        committed = admin.list_group_offsets({group_id: None}).get(group_id, {})
    finally:
        admin.close()
    return {f"{tp.topic}:{tp.partition}": int(meta.offset)
            for tp, meta in committed.items() if meta.offset is not None and meta.offset >= 0}
