"""Erasure in Redis: the served cache (pipelines/serving/cache.py) and the hot lane's state
(pipelines/hot/overlay.py), for one person.

What goes, under the prefix ``P``:
- in every live generation (``P:ptr:gen``, ``P:ptr:next``): the person's profile rows
  ``P:gG:p:<id>``, the identifier keys those rows list, and every ``P:gG:i:<type>:<value>``
  key of the person's identifiers (hashed for hashed types), whatever it points to;
- the hot lane's provisional index ``P:h:i:<key>`` for those identifiers, the provisional
  profiles it names (their ``P:h:q:`` sets and every key in them) and the overlays
  ``P:o:<id>`` of all the person's profiles;
- overlay entries elsewhere whose Kafka record mentions the person (an event that conflicted
  between two profiles sits in someone else's overlay);
- merge redirects from or to the person's profiles (``P:m:``), and the person's event ids in
  the re-delivery guards ``P:h:seen:<bucket>``;
- finally any key under the prefix whose name still holds one of the person's values.
Counters, offsets and the frontier hold no personal values and stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class RedisReport:
    keys_deleted: int = 0
    overlay_entries_deleted: int = 0
    guard_ids_removed: int = 0

    @property
    def total(self) -> int:
        return self.keys_deleted + self.overlay_entries_deleted + self.guard_ids_removed


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def erase_from_redis(
    client: Any,
    prefix: str,
    profile_ids: Iterable[str],
    lookup_keys: Iterable[str],
    event_ids: Iterable[str],
    pattern: re.Pattern[str],
) -> RedisReport:
    """Delete the person from the cache and the hot lane's state; returns what went."""
    report = RedisReport()
    pids = set(profile_ids)
    keys = set(lookup_keys)
    eids = set(event_ids)
    doomed: set[str] = set()

    # Provisional profiles the hot lane made from the person's events are theirs too.
    for key in keys:
        q = client.get(f"{prefix}:h:i:{key}")
        doomed.add(f"{prefix}:h:i:{key}")
        if q is not None:
            pids.add(_s(q))
    for pid in pids:
        members = client.smembers(f"{prefix}:h:q:{pid}")
        doomed |= {f"{prefix}:h:i:{_s(m)}" for m in members}
        doomed |= {f"{prefix}:h:q:{pid}", f"{prefix}:o:{pid}", f"{prefix}:m:{pid}"}
        eids |= {_s(f)[2:] for f in client.hkeys(f"{prefix}:o:{pid}") if _s(f).startswith("e:")}

    generations = {_s(g) for g in client.mget(f"{prefix}:ptr:gen", f"{prefix}:ptr:next") if g}
    for g in generations:
        base = f"{prefix}:g{g}"
        for pid in pids:
            ids = client.hget(f"{base}:p:{pid}", "ids")
            for ident in _s(ids).split("\n") if ids else []:
                if ident and _s(client.get(f"{base}:i:{ident}") or b"") == pid:
                    doomed.add(f"{base}:i:{ident}")
            doomed.add(f"{base}:p:{pid}")
        doomed |= {f"{base}:i:{key}" for key in keys}

    # Redirects into the person's profiles (a provisional or merged profile folded into
    # theirs) name them as well.
    for name in client.scan_iter(match=f"{prefix}:m:*", count=1000):
        if _s(client.get(name) or b"") in pids:
            doomed.add(_s(name))

    # Overlay entries of other profiles whose record mentions the person.
    for name in client.scan_iter(match=f"{prefix}:o:*", count=1000):
        if _s(name) in doomed:
            continue
        hits = [f for f, v in client.hscan_iter(name, match="e:*", count=1000)
                if pattern.search(_s(v))]
        if hits:
            eids |= {_s(f)[2:] for f in hits}
            report.overlay_entries_deleted += client.hdel(name, *hits)

    # Backstop: any key whose name still carries one of the person's values.
    for name in client.scan_iter(match=f"{prefix}:*", count=1000):
        if pattern.search(_s(name)):
            doomed.add(_s(name))

    doomed_list = sorted(doomed)
    for i in range(0, len(doomed_list), 1000):
        report.keys_deleted += client.delete(*doomed_list[i:i + 1000])

    if eids:
        ids = sorted(eids)
        for name in client.scan_iter(match=f"{prefix}:h:seen:*", count=1000):
            for i in range(0, len(ids), 1000):
                report.guard_ids_removed += client.srem(name, *ids[i:i + 1000])
    return report
