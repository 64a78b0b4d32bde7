"""What the two lanes agree on in Redis: which Kafka offsets a base covers, the Delta lane's
frontier, and the overlay entries the hot lane keeps (layout: pipelines/hot/overlay.py).

The Delta lane writes the coverage (each base row's ``o`` and the frontier ``P:d:off``); the
hot lane and the read API read it to tell pending overlay entries from covered ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Publish the Delta lane's frontier; it only moves forward.
FRONTIER = """
local p, n = ARGV[1], tonumber(ARGV[2])
for i = 0, n - 1 do
  local pk, off = ARGV[3 + i * 2], tonumber(ARGV[4 + i * 2])
  local held = tonumber(redis.call('HGET', p .. ':d:off', pk) or '-1')
  if off > held then redis.call('HSET', p .. ':d:off', pk, off) end
end
return n
"""


def encode_offsets(offsets: Mapping[str, int]) -> str:
    """``{"topic:partition": end}`` as the base rows carry it (``pk=end`` lines)."""
    return "\n".join(f"{pk}={int(off)}" for pk, off in sorted(offsets.items()))


def decode_offsets(text: str | bytes | None) -> dict[str, int]:
    if not text:
        return {}
    if isinstance(text, bytes):
        text = text.decode()
    pairs = (line.rsplit("=", 1) for line in text.splitlines() if "=" in line)
    return {pk: int(off) for pk, off in pairs}


@dataclass(frozen=True)
class Entry:
    """One applied event in an overlay."""

    pk: str  # topic:partition
    offset: int
    arrival_ms: int  # the record's Kafka timestamp
    record: bytes  # the Kafka record value as the hot lane read it


def parse_entries(flat: Sequence[Any]) -> list[Entry]:
    """The applied events of an overlay hash (HGETALL's flat list); its ``_v`` and ``_t``
    fields are skipped (the cache's read script returns them on their own)."""
    entries: list[Entry] = []
    for i in range(0, len(flat), 2):
        field = flat[i].decode() if isinstance(flat[i], bytes) else flat[i]
        if field.startswith("e:"):
            value = flat[i + 1] if isinstance(flat[i + 1], bytes) else flat[i + 1].encode()
            # The record is kept as bytes: its encoding is the record check's business.
            pk, offset, arrival, record = value.split(b"\t", 3)
            entries.append(Entry(pk.decode(), int(offset), int(arrival), record))
    return entries


def pending(entries: Sequence[Entry], *floors: Mapping[str, int]) -> list[Entry]:
    """The entries no base holds yet: offset at or past every floor on its partition."""
    return [e for e in entries if all(e.offset >= f.get(e.pk, 0) for f in floors)]


def publish_frontier(client: Any, prefix: str, offsets: Mapping[str, int]) -> None:
    """The Delta lane has committed (and pushed to the cache) everything below ``offsets``."""
    if offsets:
        args = [prefix, str(len(offsets))]
        for pk, off in sorted(offsets.items()):
            args += [pk, str(int(off))]
        client.register_script(FRONTIER)(args=args)


def frontier(client: Any, prefix: str) -> dict[str, int]:
    raw = client.hgetall(f"{prefix}:d:off")
    return {k.decode(): int(v) for k, v in raw.items()}
