"""Search tooling for the erasure test: where do any of some marker strings still occur?

Parquet pages are compressed, so a byte search can miss a value in them: Parquet files are
read with pyarrow and every string value (nested ones too) is searched. Every other file is
searched as bytes for each marker as given, lower-cased and upper-cased. Redis keys and
values, and Kafka records, likewise as bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def _forms(markers: Iterable[str]) -> set[bytes]:
    out = set()
    for m in markers:
        for form in (m, m.lower(), m.upper()):
            out.add(form.encode("utf-8"))
    return out


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _parquet_hits(path: Path, markers: list[str]) -> list[str]:
    import pyarrow.parquet as pq

    lowered = [m.lower() for m in markers]
    hits = []
    table = pq.read_table(path)
    for column in table.column_names:
        for value in table.column(column).to_pylist():
            for s in _strings(value):
                low = s.lower()
                hits += [f"{path} [{column}]: {m}" for m in lowered if m in low]
    return hits


def search_files(roots: Iterable[str | Path], markers: Iterable[str]) -> list[str]:
    """Every (file, marker) hit under ``roots``; parquet by value, the rest by bytes."""
    markers = list(markers)
    forms = _forms(markers)
    hits: list[str] = []
    for root in roots:
        root = Path(root)
        if not root.exists():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path.suffix == ".parquet":
                hits += _parquet_hits(path, markers)
            data = path.read_bytes()
            hits += [f"{path}: {f.decode()}" for f in forms if f in data]
    return hits


def search_redis(client: Any, prefix: str, markers: Iterable[str]) -> list[str]:
    """Hits in the names and values of every key under ``prefix``."""
    forms = _forms(markers)
    hits = []
    for name in client.scan_iter(match=f"{prefix}:*", count=1000):
        kind = client.type(name).decode()
        if kind == "string":
            blobs = [client.get(name) or b""]
        elif kind == "hash":
            blobs = [b for kv in client.hgetall(name).items() for b in kv]
        elif kind == "set":
            blobs = list(client.smembers(name))
        elif kind == "list":
            blobs = client.lrange(name, 0, -1)
        elif kind == "zset":
            blobs = [m for m, _ in client.zrange(name, 0, -1, withscores=True)]
        else:
            blobs = []
        for blob in [name, *blobs]:
            hits += [f"redis {name!r}: {f.decode()}" for f in forms if f in blob]
    return hits


def search_topic(bootstrap: str, topic: str, markers: Iterable[str]) -> list[str]:
    """Hits in the keys and values of every record the topic still holds."""
    from kafka import KafkaConsumer, TopicPartition

    forms = _forms(markers)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False)
    hits = []
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        idle = 0
        while any(consumer.position(tp) < ends[tp] for tp in parts) and idle < 5:
            batch = consumer.poll(timeout_ms=1000)
            idle = 0 if batch else idle + 1
            for records in batch.values():
                for r in records:
                    blob = (r.key or b"") + b"\n" + (r.value or b"")
                    hits += [f"kafka {topic}@{r.partition}:{r.offset}: {f.decode()}"
                             for f in forms if f in blob]
    finally:
        consumer.close()
    return hits
