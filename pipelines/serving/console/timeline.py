"""A profile's change timeline, read from ``chatbot_export``'s change data feed with delta-rs
(no Spark): what the API served for that profile, and when it changed.

Rules (docs/serving.md, "The agent console"):
- Only the newest ``window`` export commits are read (never before the log's first kept
  version): a bounded read, whatever the table's age.
- One entry per export commit that changed the profile's served document: ``insert`` (first
  published), ``update``, ``delete`` (merged away or erased). An overwrite (the nightly full
  export) shows as a delete and an insert of the same profile in one commit: that is an
  update, and when the document is the same but for bookkeeping (``exported_at``…) it is no
  entry at all.
- What changed: the document's fields whose values differ (old → new), bookkeeping fields left
  out, each value cut to ``VALUE_CHARS`` characters of JSON when longer.
- Newest first, at most ``limit`` entries; ``more`` says older entries or commits were left out.
- When VACUUM removed files of the older commits in the window, the newer half is read
  instead (again until it reads): the timeline then starts later, and says ``more``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.serving.delta_reader import TableUnavailable
from pipelines.serving.history import CommitIndex, Gone
from pipelines.serving.records import DOCUMENT

# Change with every publish whether or not anything about the customer changed.
BOOKKEEPING = frozenset({"exported_at", "as_of", "updated_at", "profile_version"})
VALUE_CHARS = 300
_FEED_COLUMNS = ["profile_id", DOCUMENT, "_change_type", "_commit_version", "_commit_timestamp"]


@dataclass(frozen=True)
class Entry:
    export_version: int
    committed_at: datetime
    change: str  # insert | update | delete
    profile_version: int | None
    updated_at: str | None
    changed: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_version": self.export_version,
            "committed_at": _iso(self.committed_at),
            "change": self.change,
            "profile_version": self.profile_version,
            "updated_at": self.updated_at,
            "changed": self.changed,
        }


def _iso(at: datetime) -> str:
    if at.tzinfo is None:  # Delta commit times are UTC instants
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _capped(value: Any) -> Any:
    text = json.dumps(value, ensure_ascii=False)
    return value if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def changed_fields(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The served fields whose values differ, in the newer document's field order."""
    old, new = old or {}, new or {}
    names = list(new) + [k for k in old if k not in new]
    return [
        {"field": k, "old": _capped(old.get(k)), "new": _capped(new.get(k))}
        for k in names
        if k not in BOOKKEEPING and old.get(k) != new.get(k)
    ]


def entries_from_feed(rows: list[dict[str, Any]]) -> list[Entry]:
    """Entries, oldest first, from one profile's change-feed rows (``document``,
    ``_change_type``, ``_commit_version``, ``_commit_timestamp``) in any order."""
    commits: dict[int, dict[str, Any]] = {}
    for r in rows:
        commit = commits.setdefault(r["_commit_version"], {"at": r["_commit_timestamp"]})
        commit[r["_change_type"]] = json.loads(r[DOCUMENT]) if r[DOCUMENT] else {}
    entries: list[Entry] = []
    last: dict[str, Any] | None = None  # the document after the previous commit, when read
    for version in sorted(commits):
        c = commits[version]
        new = c.get("update_postimage", c.get("insert"))
        old = c.get("update_preimage", c.get("delete", last))
        if new is None:  # deleted: merged away or erased
            entries.append(Entry(version, c["at"], "delete", (old or {}).get("profile_version"),
                                 None, []))
            last = None
            continue
        changed = changed_fields(old, new)
        if old is not None and not changed and old.get("profile_version") == new.get(
            "profile_version"
        ):
            last = new  # re-published as it was (a full export): nothing to show
            continue
        kind = "insert" if old is None else "update"
        entries.append(Entry(version, c["at"], kind, new.get("profile_version"),
                             new.get("updated_at"), [] if kind == "insert" else changed))
        last = new
    return entries


class _CleanedUp(Exception):
    """A file the feed names is gone (VACUUM)."""


def _feed(uri: str, profile_id: str, start: int, end: int) -> list[dict[str, Any]]:
    """The change-feed rows of one profile in export versions start..end (delta-rs)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    try:
        feed = DeltaTable(uri).load_cdf(
            starting_version=start,
            ending_version=end,
            columns=_FEED_COLUMNS,
            predicate=f"profile_id = '{profile_id}'",
        )
        return pa.RecordBatchReader.from_stream(feed).read_all().to_pylist()
    except Exception as exc:  # delta-rs raises its own errors (CDF off, unreadable log)
        if isinstance(exc, FileNotFoundError) or "not found" in str(exc).lower():
            raise _CleanedUp(str(exc)) from exc
        raise TableUnavailable(f"cannot read chatbot_export's change data feed: {exc}") from exc


class ProfileTimeline:
    """Timelines of ``chatbot_export`` profiles over its newest ``window`` commits."""

    def __init__(self, commits: CommitIndex, window: int):
        self.commits = commits
        self.window = window

    def timeline(self, profile_id: str, limit: int) -> dict[str, Any]:
        """``{"profile_id", "entries" (newest first), "more", "from_export_version",
        "to_export_version"}``. Raises TableUnavailable, or Gone when the feed's files were
        cleaned up. ``profile_id`` must already match the profile-id pattern."""
        self.commits.refresh()
        first, latest = self.commits.first, self.commits.latest
        if latest is None or first is None:
            raise TableUnavailable("chatbot_export has no commits")
        start = max(first, latest - self.window + 1)
        while True:
            try:
                rows = _feed(self.commits.table_uri, profile_id, start, latest)
                break
            except _CleanedUp as exc:
                # VACUUM removed older commits' files (the log outlives them): read a shorter,
                # newer range rather than nothing.
                if start >= latest:
                    raise Gone(f"chatbot_export's change files were cleaned up: {exc}") from exc
                start = latest - (latest - start) // 2
        entries = entries_from_feed(rows)
        newest = entries[::-1][:limit]
        return {
            "profile_id": profile_id,
            "entries": [e.as_dict() for e in newest],
            "more": len(entries) > limit or start > first,
            "from_export_version": start,
            "to_export_version": latest,
        }
