"""What the API serves: the Delta lane's base with the hot lane's overlay on top.

Rule (ARCHITECTURE §6): served = ``finalize(merge(base, pending overlay))``, rendered as the
export document. The base is the export row the Delta lane published (its document, its folded
state and segments, the Kafka offsets it covers); the overlay holds the Kafka records the hot
lane applied past those offsets, each folded here as its unit state (``entry_state``: the same
record check and unit state the lanes use). With nothing pending the base document is served as
stored, byte for byte.

Every response also says what it knows (docs/serving.md):
``profile_version`` (never decreases: the hot lane counts on from the base's version),
``base_version`` (the Delta lane's version), ``pending_events`` (overlay entries shown on top
of the base) and ``freshness_ms`` (now − arrival in Kafka of the newest event applied by the hot
lane; for a profile it never touched, now − the base's ``updated_at``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.config import Conf
from pipelines.events.params import ParseParams
from pipelines.events.validate import classify
from pipelines.profiles import finalize_local, state_local
from pipelines.profiles.rules import FoldParams
from pipelines.serving.coverage import Entry, decode_offsets, parse_entries, pending
from pipelines.serving.export_row import export_document
from pipelines.serving.params import ExportParams

_VERSION = re.compile(rb'"profile_version":\d+')


@dataclass
class Found:
    """One profile as the cache (or the Delta export) gave it, plus its overlay."""

    doc: bytes  # the base document (b"" when only the overlay exists: a provisional profile)
    updated_s: float  # the base's updated_at, epoch seconds
    profile_id: str
    source: str  # cache | delta
    base_version: int = 0
    served_version: int = 0  # the overlay's _v: versions the hot lane handed out
    base: str = ""  # the base state JSON ({"state": …, "segments": …}), when the overlay needs it
    covered: Mapping[str, int] | None = None  # the base's Kafka offsets
    entries: Sequence[Entry] = ()
    frontier: Mapping[str, int] | None = None
    newest_arrival_ms: int = 0


def entry_state(entry: Entry, parse: ParseParams) -> dict | None:
    """The unit state of one overlay entry: its record checked as the hot lane checked it
    (same Kafka timestamp, same origin). None if the check now refuses it, which only a
    change of the money rules or future tolerance between apply and read can cause; such an
    entry is left out, and the Delta lane's base decides."""
    topic, partition = entry.pk.rsplit(":", 1)
    event, _ = classify(entry.record, entry.arrival_ms, parse,
                        f"{topic}/{partition}/{entry.offset}")
    return None if event is None else state_local.unit_state(event)


@dataclass(frozen=True)
class Composer:
    """Turns a ``Found`` into the response body."""

    params: ExportParams
    fold: FoldParams = FoldParams()
    parse: ParseParams = ParseParams()

    @classmethod
    def from_conf(cls, conf: Conf) -> Composer:
        return cls(ExportParams.from_conf(conf), FoldParams.from_conf(conf),
                   ParseParams.from_conf(conf))

    def body(self, found: Found, extra: str = "") -> bytes:
        """The JSON body: the document, then ``base_version``, ``pending_events``,
        ``freshness_ms`` and ``extra`` (``,"key":value`` pairs the caller adds)."""
        now = time.time()
        todo = pending(found.entries, found.frontier or {}, found.covered or {})
        doc = found.doc
        version = max(found.base_version, found.served_version)
        if todo or not doc:
            doc = self.render(found, todo, now)
        elif version != found.base_version:
            doc = _VERSION.sub(f'"profile_version":{version}'.encode(), doc, count=1)
        newest = found.newest_arrival_ms / 1000 if found.newest_arrival_ms else found.updated_s
        fresh = max(0, int((now - newest) * 1000))
        meta = (
            f',"base_version":{found.base_version},"pending_events":{len(todo)},'
            f'"freshness_ms":{fresh}{extra}'
        )
        return doc[:-1] + meta.encode() + b"}"

    def render(self, found: Found, todo: Sequence[Entry], now: float) -> bytes:
        """``finalize(merge(base, overlay))`` as the export document."""
        base = json.loads(found.base) if found.base else {}
        state = state_local.from_json(base["state"]) if base.get("state") else state_local.empty()
        for entry in todo:
            unit = entry_state(entry, self.parse)
            if unit is not None:
                state = state_local.merge(state, unit, self.fold)
        at = datetime.fromtimestamp(now, UTC)
        profile = finalize_local.finalize(state, at)
        profile.update(
            profile_id=found.profile_id,
            version=max(found.base_version, found.served_version),
            updated_at=at,
            last_seen=state["last_seen"],
            last_contact_at=state["last_contact_at"],
        )
        doc = export_document(profile, self.params, at, base.get("segments"),
                              base.get("probable"))
        if found.doc:
            # New identifiers reach lookup_ids when the Delta lane links them.
            doc["lookup_ids"] = json.loads(found.doc)["lookup_ids"]
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def from_reply(reply: Sequence[Any], source: str = "cache") -> Found | None:
    """The cache read script's answer (pipelines/serving/cache.py ``_READ``) as a ``Found``."""
    if not reply:
        return None
    doc, updated, pid, version, served, newest = reply[:6]
    found = Found(
        doc=doc if isinstance(doc, bytes) else _text(doc).encode(),
        updated_s=float(updated or 0),
        profile_id=_text(pid),
        source=source,
        base_version=int(version or 0),
        served_version=int(served or 0),
        newest_arrival_ms=int(newest or 0),
    )
    if len(reply) > 6:
        found.base = _text(reply[6])
        found.covered = decode_offsets(reply[7])
        found.entries = parse_entries(reply[8])
        flat = reply[9]
        found.frontier = {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        if not found.doc:
            found.source = "hot"
    return found
