"""What the bot knew at a moment: the profile as served then, next to the replies logged then.

Rules (docs/serving.md, "What the bot knew"):
- The profile is the export document at the asked moment (``ExportHistory``, the same answer
  as ``GET /v1/profiles/{id}?as_of=``).
- The replies are the ``chat_audit`` rows of that profile (or of the id it was merged from)
  within ``window_s`` seconds of the moment. Each is shown with what it knew (served
  ``profile_version``, base version, pending hot-lane events, export version) and its text,
  rendered again from the intent and the profile as served at the reply's own time (the audit
  keeps no text). When the reply saw another ``profile_version`` than that document (hot-lane
  events pending, or the cache had not yet taken the export's row), it says so: that text is
  then what the document implies, not necessarily the words sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipelines.chatbot.bot import ChatBot
from pipelines.serving.delta_reader import TableUnavailable
from pipelines.serving.history import ExportHistory, Gone, NotThen, Past


@dataclass
class Explained:
    profile_id: str
    at: datetime
    past: Past
    replies: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile_id": self.profile_id,
            "at": self.at.isoformat(),
            "profile": json.loads(self.past.body(self.profile_id)),
            "replies": [{k: _plain(v) for k, v in r.items()} for r in self.replies],
        }


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def audit_rows(
    table_uri: str, profile_ids: set[str], lo: datetime, hi: datetime
) -> list[dict[str, Any]]:
    """``chat_audit`` rows of the profiles with ``lo <= replied_at <= hi``, oldest first."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    try:
        dataset = DeltaTable(table_uri).to_pyarrow_dataset()
    except Exception:  # noqa: BLE001 — no reply logged yet: the table does not exist
        return []
    when = pc.field("replied_at")
    wanted = (
        pc.field("profile_id").isin(pa.array(sorted(profile_ids)))
        & (when >= pa.scalar(lo, pa.timestamp("us", tz="UTC")))
        & (when <= pa.scalar(hi, pa.timestamp("us", tz="UTC")))
    )
    rows = dataset.to_table(filter=wanted).to_pylist()
    return sorted(rows, key=lambda r: r["replied_at"])


def explain(
    history: ExportHistory,
    audit_uri: str,
    profile_id: str,
    at: datetime,
    window_s: float = 60.0,
    bot: ChatBot | None = None,
) -> Explained:
    """The profile as served at ``at`` and the replies logged within ``window_s`` of it.
    Raises NotThen / Gone (history.py) when the export holds nothing for that moment."""
    bot = bot or ChatBot()
    past = history.find(profile_id, at)
    ids = {profile_id, past.profile_id}
    window = timedelta(seconds=window_s)
    replies = []
    for row in audit_rows(audit_uri, ids, at - window, at + window):
        try:
            then = history.find(row["profile_id"], row["replied_at"])
            profile = json.loads(then.body())
        except (NotThen, Gone, TableUnavailable):
            then, profile = None, None
        reply = bot.answer(row["intent"], profile)
        row["export_version_then"] = then.export_version if then else None
        row["profile_version_then"] = then.profile_version if then else None
        row["same_profile"] = then is not None and then.profile_version == row["profile_version"]
        row["reply_text"] = reply.text
        replies.append(row)
    return Explained(profile_id, at, past, replies)


def format_explained(e: Explained) -> str:
    """The profile document, then one block per reply."""
    p = e.past
    lines = [
        f"Profile {e.profile_id} as served at {e.at.isoformat()}"
        + (f" (merged into {p.profile_id})" if p.profile_id != e.profile_id else ""),
        f"  chatbot_export version {p.export_version}, committed "
        f"{p.committed_at.isoformat()}; profile_version {p.profile_version}",
        json.dumps(json.loads(p.doc), indent=2, ensure_ascii=False),
        "",
        f"Replies logged for it within the window: {len(e.replies)}",
    ]
    for r in e.replies:
        flags = ", ".join(
            f for f, on in (("personalized", r["personalized"]), ("handover", r["handover"])) if on
        )
        lines += [
            f"- {r['replied_at'].isoformat()}  audit {r['audit_id']}",
            f"  intent {r['intent']}, language {r['language']}" + (f", {flags}" if flags else ""),
            f"  knew: profile_version {r['profile_version']} (base {r['base_version']}, "
            f"{r['pending_events']} pending hot-lane events, from {r['source']}), "
            f"chatbot_export version {r['export_version']}",
            f"  actions: {', '.join(r['actions'] or []) or '-'}",
        ]
        if not r["same_profile"]:
            lines.append(
                f"  note: the export then held profile_version {r['profile_version_then']}; the "
                "reply saw another (hot-lane events pending, or the cache not yet updated)"
            )
        lines.append(f"  reply: {r['reply_text']}")
    return "\n".join(lines)
