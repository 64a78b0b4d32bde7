"""One profile's history from the profiles table's change data feed.

Every commit that inserted, updated or deleted the profile is one entry: when (commit version
and time), what (insert / update / delete, the profile's ``version`` after it), which readable
columns changed (old → new), and which events caused it (``last_event_ids`` the change applied,
``last_batch`` the micro-batch that applied it). Merges into the profile, from
``identity_merges``, are listed with the entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog

# Columns compared between versions: what a reader sees. The nested state columns are
# summarised by readable ones (cart, open tickets, attributes…); bookkeeping columns would show
# up on every change and say nothing.
STATE_BLOBS = frozenset({"attributes", "consent", "first_order", "last_order", "order_days",
                         "tickets", "categories", "cart_events", "sessions_sketch"})
HIDDEN = STATE_BLOBS | {"state_hash", "change_hash", "updated_at", "as_of", "version",
                        "last_event_ids", "last_batch", "last_ticket"}
CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


@dataclass(frozen=True)
class Change:
    commit_version: int
    commit_time: datetime
    change: str  # insert | update | delete
    version: int | None  # the profile's version after the change (before, for a delete)
    changed: dict[str, tuple[Any, Any]]  # column -> (old, new)
    event_ids: tuple[str, ...]
    batch: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "commit_version": self.commit_version,
            "commit_time": self.commit_time,
            "change": self.change,
            "version": self.version,
            "changed": {k: {"old": o, "new": n} for k, (o, n) in self.changed.items()},
            "event_ids": list(self.event_ids),
            "batch": self.batch,
        }


@dataclass(frozen=True)
class History:
    profile_id: str
    changes: list[Change]
    merges: list[dict[str, Any]] = field(default_factory=list)


def _plain(value: Any) -> Any:
    if isinstance(value, Row):
        return {k: _plain(v) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _diff(old: dict[str, Any] | None, new: dict[str, Any], columns: list[str]):
    out = {}
    for c in columns:
        before = None if old is None else _plain(old.get(c))
        after = _plain(new.get(c))
        if before != after:
            out[c] = (before, after)
    return out


def profile_history(spark: SparkSession, catalog: Catalog, profile_id: str) -> History:
    """The change history of ``profile_id``, oldest first (see the module docstring)."""
    path = catalog.path("profiles")
    # Not 0: an erasure (pipelines/privacy) cuts the log, and the feed starts where it did.
    earliest = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").agg(F.min("version")).first()[0]
    feed = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", earliest or 0)
        .load(path)
        .where(F.col("profile_id") == profile_id)
    )
    columns = [c for c in feed.columns if c not in HIDDEN and c not in CDF_COLUMNS]
    rows = sorted(
        (r.asDict() for r in feed.collect()),
        # Within a commit, the pre-image sorts before the post-image.
        key=lambda r: (r["_commit_version"], r["_change_type"] != "update_preimage"),
    )
    changes: list[Change] = []
    last: dict[str, Any] | None = None
    pre: dict[str, Any] | None = None
    for r in rows:
        kind = r["_change_type"]
        if kind == "update_preimage":
            pre = r
            continue
        if kind == "delete":
            changes.append(Change(r["_commit_version"], r["_commit_timestamp"], "delete",
                                  r.get("version"), {}, (), r.get("last_batch")))
            last = None
            continue
        before = pre if kind == "update_postimage" else last
        changes.append(Change(
            commit_version=r["_commit_version"],
            commit_time=r["_commit_timestamp"],
            change="update" if kind == "update_postimage" else "insert",
            version=r.get("version"),
            changed=_diff(before, r, columns),
            event_ids=tuple(r.get("last_event_ids") or ()),
            batch=r.get("last_batch"),
        ))
        last, pre = r, None
    return History(profile_id, changes, _merges(spark, catalog, profile_id))


def _merges(spark: SparkSession, catalog: Catalog, profile_id: str) -> list[dict[str, Any]]:
    from delta.tables import DeltaTable

    path = catalog.path("identity_merges")
    if not DeltaTable.isDeltaTable(spark, path):
        return []
    rows = (
        spark.read.format("delta").load(path)
        .where((F.col("survivor_profile_id") == profile_id)
               | (F.col("merged_profile_id") == profile_id))
        .orderBy("merged_at")
        .collect()
    )
    return [r.asDict() for r in rows]


def profile_id_for(spark: SparkSession, catalog: Catalog, id_type: str, id_value: str) -> str:
    """The profile an identifier (normalized value) links to; raises if none."""
    rows = (
        spark.read.format("delta").load(catalog.path("identity_links"))
        .where((F.col("id_type") == id_type) & (F.col("id_value") == id_value))
        .select("profile_id")
        .collect()
    )
    if not rows or rows[0][0] is None:
        raise LookupError(f"no profile is linked to {id_type}={id_value}")
    return rows[0][0]


def format_history(history: History) -> str:
    """Readable text: one block per change, changed columns as ``col: old → new``."""
    lines = [f"profile {history.profile_id}: {len(history.changes)} changes"]
    for c in history.changes:
        head = (f"  commit {c.commit_version} at {c.commit_time:%Y-%m-%d %H:%M:%S}  "
                f"{c.change:<6} version {c.version}")
        if c.batch:
            head += f"  ({c.batch})"
        lines.append(head)
        for col, (old, new) in c.changed.items():
            lines.append(f"      {col}: {_short(old)} → {_short(new)}")
        if c.event_ids:
            shown = ", ".join(c.event_ids[:5])
            more = f" (+{len(c.event_ids) - 5} more)" if len(c.event_ids) > 5 else ""
            lines.append(f"      events: {shown}{more}")
    for m in history.merges:
        lines.append(
            f"  merge: {m['merged_profile_id']} → {m['survivor_profile_id']} via "
            f"{m['id_type']}={m['id_value']} (event {m['record_id']}, {m['merged_at']})"
        )
    return "\n".join(lines)


def _short(value: Any, width: int = 80) -> str:
    text = "∅" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"
