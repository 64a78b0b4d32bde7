"""What the API served at a past moment: the export tables read, with delta-rs time travel, at
the versions that were current then.

Rules (docs/serving.md, "What the bot knew"):
- ``as_of=T`` reads ``chatbot_export`` at its newest version committed at or before T, and
  ``chatbot_identifiers`` likewise (the live API reads the newest version of each, so this is
  the answer its Delta path gave at T; the cache is pushed right after each commit, so its
  answer differs only while a push was in flight). ``version=n`` reads export version n, with
  the identifiers in force while n was the newest export version.
- A merged-away id follows the ``merged_profile:<id>`` redirects that existed then, as the live
  API does, and the answer says ``merged_from``.
- The document is returned byte for byte as stored then, plus what the lookup used:
  ``export_version``, ``export_committed_at``, ``source`` = ``history``, and ``staleness_s``
  at the asked moment.
- A malformed time or version is a ``BadMoment`` (400); a moment before the table's first
  version, a version it never had, or a profile it did not hold then is ``NotThen`` (404, with
  the reason); a version whose log or files were cleaned up (log retention, VACUUM) is ``Gone``
  (410).
"""

from __future__ import annotations

import bisect
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pipelines.serving.delta_reader import DeltaPointReader, TableUnavailable
from pipelines.serving.records import DOCUMENT

_OFFSET_SPACE = re.compile(r" (\d\d:?\d\d)$")  # a '+' that URL decoding turned into a space
_COLUMNS = (DOCUMENT, "updated_at", "profile_version")


class BadMoment(ValueError):
    """``as_of`` or ``version`` cannot be read (400)."""


class NotThen(LookupError):
    """Nothing to answer for that moment (404); the message says why."""


class Gone(LookupError):
    """The table's history at that moment was cleaned up (410)."""


def parse_as_of(raw: str, now: datetime | None = None) -> datetime:
    """An ISO-8601 time with a UTC offset or ``Z``, not in the future, as an aware datetime."""
    text = _OFFSET_SPACE.sub(r"+\1", raw.strip())
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadMoment(
            "as_of must be an ISO-8601 time with an offset, e.g. 2026-09-01T10:00:00Z"
        ) from None
    if at.tzinfo is None:
        raise BadMoment("as_of needs a UTC offset or Z (e.g. 2026-09-01T10:00:00Z)")
    if at > (now or datetime.now(UTC)):
        raise BadMoment("as_of is in the future")
    return at.astimezone(UTC)


def parse_version(raw: str) -> int:
    """A Delta table version: a non-negative integer."""
    if not raw.strip().isdigit():
        raise BadMoment("version must be a non-negative integer (a chatbot_export version)")
    return int(raw)


class CommitIndex:
    """Commit time → version of one Delta table: read once, extended as the table grows
    (past commits never change). The log is re-read only for a moment after the last read."""

    def __init__(self, table_uri: str):
        self.table_uri = table_uri
        self._table = None
        self._versions: list[int] = []
        self._times: list[int] = []  # running max of commit ms, so bisect finds "at or before"
        self._committed: dict[int, int] = {}
        self._read_at = 0.0  # wall clock of the last log read: commits up to it are known
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read the commits added since the last read. Raises TableUnavailable."""
        from deltalake import DeltaTable

        with self._lock:
            started = time.time()
            try:
                if self._table is None:
                    self._table = DeltaTable(self.table_uri)
                else:
                    self._table.update_incremental()
            except Exception as exc:  # not created yet, or unreadable
                self._table = None
                raise TableUnavailable(f"cannot open Delta table {self.table_uri}: {exc}") from exc
            latest = self._table.version()
            known = self._versions[-1] if self._versions else -1
            self._read_at = started
            if latest <= known:
                return
            fresh = sorted(
                (int(c["version"]), int(c["timestamp"]))
                for c in self._table.history(limit=latest - known)
                if int(c["version"]) > known
            )
            for version, ms in fresh:
                self._versions.append(version)
                self._times.append(max(ms, self._times[-1]) if self._times else ms)
                self._committed[version] = ms

    @property
    def first(self) -> int | None:
        return self._versions[0] if self._versions else None

    @property
    def latest(self) -> int | None:
        return self._versions[-1] if self._versions else None

    def committed_at(self, version: int) -> datetime:
        return datetime.fromtimestamp(self._committed[version] / 1000, UTC)

    def version_at(self, at: datetime) -> int | None:
        """The newest version committed at or before ``at``; None before the first."""
        if self._table is None or at.timestamp() >= self._read_at:
            self.refresh()
        i = bisect.bisect_right(self._times, int(at.timestamp() * 1000)) - 1
        return self._versions[i] if i >= 0 else None

    def has(self, version: int) -> bool:
        if version not in self._committed:
            self.refresh()
        return version in self._committed


@dataclass(frozen=True)
class Past:
    """One profile as the export held it at a past version."""

    doc: bytes
    profile_id: str
    profile_version: int
    updated_at: datetime
    export_version: int
    committed_at: datetime
    at: datetime  # the moment asked (a version's commit time when asked by version)

    def body(self, asked: str | None = None) -> bytes:
        """The stored document plus what the lookup used (and ``merged_from``)."""
        staleness = max(0.0, (self.at - self.updated_at).total_seconds())
        committed = self.committed_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        extra = (
            f',"staleness_s":{staleness:.3f},"source":"history",'
            f'"base_version":{self.profile_version},"pending_events":0,'
            f'"freshness_ms":{int(staleness * 1000)},"export_version":{self.export_version},'
            f'"export_committed_at":"{committed}"'
        )
        if asked is not None and asked != self.profile_id:
            extra += f',"merged_from":"{asked}"'
        return self.doc[:-1] + extra.encode() + b"}"


class ExportHistory:
    """Past answers of the export tables; keeps ``kept`` pinned readers per table."""

    def __init__(self, export_uri: str, identifiers_uri: str, hops: int, kept: int = 8):
        self.export = CommitIndex(export_uri)
        self.identifiers = CommitIndex(identifiers_uri)
        self.hops = hops
        self.kept = kept
        self._readers: OrderedDict[tuple[str, int], DeltaPointReader] = OrderedDict()
        self._lock = threading.Lock()

    def _reader(self, uri: str, key: str, version: int) -> DeltaPointReader:
        with self._lock:
            reader = self._readers.pop((uri, version), None)
            if reader is None:
                reader = DeltaPointReader(uri, key, version=version)
            self._readers[(uri, version)] = reader
            while len(self._readers) > self.kept:
                self._readers.popitem(last=False)
            return reader

    def moment(self, at: datetime | None = None, version: int | None = None):
        """(export version, its commit time, identifiers version or None, the moment).

        By ``version``, the identifiers are those in force while that version was the newest
        (a publish commits the export, then its identifiers): as of just before the next
        export version, or now."""
        if version is not None:
            if not self.export.has(version):
                first, latest = self.export.first, self.export.latest
                raise NotThen(
                    f"chatbot_export has no version {version} (its log holds {first}..{latest})"
                )
            at = self.export.committed_at(version)
            following = self.export.has(version + 1)
            ids_at = (
                self.export.committed_at(version + 1) - timedelta(milliseconds=1)
                if following
                else datetime.now(UTC)
            )
        else:
            assert at is not None
            ids_at = at
            version = self.export.version_at(at)
            if version is None:
                first = self.export.first
                when = self.export.committed_at(first).isoformat() if first is not None else "-"
                if first:  # version 0's commit was cleaned up: the log starts later
                    raise Gone(f"chatbot_export's log is kept from version {first} ({when})")
                raise NotThen(
                    f"as_of is before the chatbot_export table's first version (committed {when})"
                )
        try:
            ids_version = self.identifiers.version_at(ids_at)
        except TableUnavailable:
            ids_version = None
        return version, self.export.committed_at(version), ids_version, at

    def find(self, profile_id: str, at: datetime | None = None, version: int | None = None) -> Past:
        """The export row of ``profile_id`` (following merges) at ``at`` or ``version``.
        Raises BadMoment, NotThen, Gone, or TableUnavailable when the table cannot be read."""
        export_version, committed, ids_version, at = self.moment(at, version)
        try:
            export = self._reader(self.export.table_uri, "profile_id", export_version)
            pid = profile_id
            for _ in range(self.hops + 1):
                row = export.get(pid, _COLUMNS)
                if row is not None:
                    updated = row["updated_at"]
                    if updated.tzinfo is None:  # Delta timestamps are UTC instants
                        updated = updated.replace(tzinfo=UTC)
                    return Past(
                        row[DOCUMENT].encode("utf-8"),
                        pid,
                        int(row["profile_version"]),
                        updated,
                        export_version,
                        committed,
                        at,
                    )
                if ids_version is None:
                    break
                ids = self._reader(self.identifiers.table_uri, "lookup_key", ids_version)
                redirect = ids.get(f"merged_profile:{pid}", ("profile_id",))
                if redirect is None:
                    break
                pid = redirect["profile_id"]
        except (TableUnavailable, FileNotFoundError, OSError) as exc:
            raise Gone(f"chatbot_export history at that moment is no longer kept: {exc}") from exc
        raise NotThen(f"profile not in chatbot_export version {export_version}")
