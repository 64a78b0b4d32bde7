"""The chat audit: every ``POST /v1/chat`` reply as one ``chat_audit`` row, written off the
request path.

Rules (docs/serving.md, "What the bot knew"):
- A row says when the bot replied, to which profile, what it knew (the served
  ``profile_version``, the Delta lane's ``base_version``, the hot lane's ``pending_events``, the
  ``source`` of the answer and the ``export_version`` of chatbot_export current at that time)
  and what it did (intent, language, personalized, handover, next-best actions). Never the
  message, the reply text, the identifier value or any other raw personal value: the reply is
  a function of the intent and the profile, so ``profilake-explain`` renders it again from the
  profile as served then.
- The request only appends the row to an in-process buffer (microseconds). A background
  thread appends the buffer to the Delta table (delta-rs, no JVM) every ``flush_s`` seconds,
  or as soon as ``batch_rows`` replies wait, and once more when the API stops. It also fills
  in ``export_version`` then (the table's newest version committed at or before the reply).
- A failed append keeps the rows and retries on the next flush; past ``max_buffered_rows``
  waiting rows the oldest are dropped, counted in ``dropped`` and logged. What a crash of the
  API process loses is at most the last ``flush_s`` seconds of rows.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pyarrow as pa

from pipelines.serving.delta_reader import TableUnavailable
from pipelines.serving.history import CommitIndex

log = logging.getLogger(__name__)

AUDIT_SCHEMA = pa.schema(
    [
        pa.field("audit_id", pa.string(), nullable=False),
        pa.field("replied_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("profile_id", pa.string()),  # null: no profile found for the identifier
        pa.field("id_type", pa.string()),  # the identifier type asked by, never its value
        pa.field("source", pa.string()),  # cache | delta | hot | null
        pa.field("profile_version", pa.int64()),
        pa.field("base_version", pa.int64()),
        pa.field("pending_events", pa.int64()),
        pa.field("export_version", pa.int64()),
        pa.field("intent", pa.string()),
        pa.field("language", pa.string()),
        pa.field("personalized", pa.bool_()),
        pa.field("handover", pa.bool_()),
        pa.field("actions", pa.list_(pa.string())),
    ]
)


def audit_row(
    reply: Mapping[str, Any], profile: Mapping[str, Any] | None, id_type: str, at: datetime
) -> dict[str, Any]:
    """The audit row of one reply (``Reply.as_dict()``) given the profile it was built from."""
    p = profile or {}
    return {
        "audit_id": uuid.uuid4().hex,
        "replied_at": at,
        "profile_id": p.get("profile_id"),
        "id_type": id_type,
        "source": p.get("source"),
        "profile_version": p.get("profile_version"),
        "base_version": p.get("base_version"),
        "pending_events": p.get("pending_events"),
        "export_version": None,
        "intent": reply["intent"],
        "language": reply["language"],
        "personalized": bool(reply["personalized"]),
        "handover": bool(reply["handover"]),
        "actions": list(reply.get("actions") or []),
    }


class ChatAudit:
    """Buffered appends of audit rows to ``table_uri`` by one background thread."""

    def __init__(
        self,
        table_uri: str,
        export_uri: str,
        flush_s: float = 2.0,
        batch_rows: int = 500,
        max_buffered_rows: int = 100_000,
    ):
        self.table_uri = table_uri
        self.flush_s = flush_s
        self.batch_rows = batch_rows
        self.max_buffered_rows = max_buffered_rows
        self.exports = CommitIndex(export_uri)
        self.dropped = 0
        self.written = 0
        self._rows: deque[dict[str, Any]] = deque()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_conf(cls, conf, catalog) -> ChatAudit:
        section = conf.get("api.chat_audit")
        return cls(
            catalog.path("chat_audit"),
            catalog.path("chatbot_export"),
            flush_s=float(section.get("flush_s")),
            batch_rows=int(section.get("batch_rows")),
            max_buffered_rows=int(section.get("max_buffered_rows")),
        )

    def record(self, row: dict[str, Any]) -> None:
        """Queue one row (called on the request path: no I/O)."""
        with self._lock:
            self._rows.append(row)
            over = len(self._rows) - self.max_buffered_rows
            for _ in range(max(0, over)):
                self._rows.popleft()
            self.dropped += max(0, over)
            waiting = len(self._rows)
        if over > 0:
            log.warning("chat audit buffer full: dropped %d oldest rows", over)
        if waiting >= self.batch_rows:
            self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="chat-audit", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread and append what is still buffered."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Append the buffered rows; returns how many were written (0 on failure: kept)."""
        with self._flushing:
            with self._lock:
                rows = list(self._rows)
                self._rows.clear()
            if not rows:
                return 0
            try:
                self._stamp_versions(rows)
                from deltalake import write_deltalake

                write_deltalake(
                    self.table_uri, pa.Table.from_pylist(rows, AUDIT_SCHEMA), mode="append"
                )
            except Exception:  # noqa: BLE001 — keep the rows for the next flush whatever failed
                log.exception("chat audit append failed; %d rows kept for a retry", len(rows))
                with self._lock:
                    self._rows.extendleft(reversed(rows))
                return 0
            self.written += len(rows)
            return len(rows)

    def _stamp_versions(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            if row["export_version"] is None:
                try:
                    row["export_version"] = self.exports.version_at(row["replied_at"])
                except TableUnavailable:
                    return  # no export yet: the bot answered without profiles
