"""Support tickets (JSON lines) → ticket and CSAT events.

Each line is the ticket's state after a change: ``ticket``, ``requester`` {email,
customer_number}, ``channel``, ``priority``, ``category``, ``status``, ``created_at`` and
``updated_at`` ("yyyy-MM-dd HH:mm:ss UTC") and ``csat`` (1–5 or null).
Rules: the line whose ``updated_at`` equals ``created_at`` opens the ticket; a solved or
closed status closes it; anything else updates it. Labels are canonical lower-case:
channels email/chat/phone/web/social, priorities urgent/high/normal/low (P1–P4 map to
them), statuses open (also "new")/pending/solved/closed. A CSAT score becomes one
``csat_submitted`` event per ticket.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.ingest.normalize.common import (
    Normalized,
    Rules,
    any_identifier,
    base_amounts,
    canonical,
    event_id,
    identifiers,
    impossible_time,
    origin,
    out_of_range,
    properties,
    split,
    time_checks,
)
from pipelines.normalize import identifiers as ids
from pipelines.normalize.types import wrong_type

LINE = (
    "struct<ticket:string,requester:struct<email:string,customer_number:string>,"
    "channel:string,priority:string,category:string,status:string,created_at:string,"
    "updated_at:string,csat:string>"
)
# The documented type of each field (docs/sources.md): a line whose value does not fit is
# rejected with ``wrong_type: <field>`` (pipelines.normalize.types).
TYPES = LINE.replace("csat:string", "csat:int")
CHANNELS = {
    "web_form": "web",
    "webform": "web",
    "web": "web",
    "e-mail": "email",
    "email": "email",
    "mail": "email",
    "chat": "chat",
    "live_chat": "chat",
    "phone": "phone",
    "call": "phone",
    "social": "social",
    "twitter": "social",
}
PRIORITIES = {
    "p1": "urgent",
    "p2": "high",
    "p3": "normal",
    "p4": "low",
    "urgent": "urgent",
    "high": "high",
    "normal": "normal",
    "medium": "normal",
    "low": "low",
}
STATUSES = {
    "new": "open",
    "open": "open",
    "pending": "pending",
    "on-hold": "pending",
    "hold": "pending",
    "solved": "solved",
    "resolved": "solved",
    "closed": "closed",
    "escalated": "escalated",
}
TIME_FORMAT = "yyyy-MM-dd HH:mm:ss 'UTC'"


def _lookup(mapping: dict[str, str], value) -> F.Column:
    return F.create_map(*[F.lit(x) for kv in mapping.items() for x in kv])[F.lower(F.trim(value))]


def normalize_tickets(bronze: DataFrame, rules: Rules) -> Normalized:
    line = F.from_json(F.col("raw"), LINE)
    parsed = bronze.withColumn("_t", line)
    t = lambda name: F.col(f"_t.{name}")  # noqa: E731
    status = _lookup(STATUSES, t("status"))
    updated = F.try_to_timestamp(F.trim(t("updated_at")), F.lit(TIME_FORMAT))
    created = F.try_to_timestamp(F.trim(t("created_at")), F.lit(TIME_FORMAT))
    event_type = (
        F.when(status.isin("solved", "closed"), "ticket_closed")
        .when(updated == created, "ticket_opened")
        .otherwise("ticket_updated")
    )
    ident = identifiers(
        customer_id=ids.blank_to_null(t("requester.customer_number")),
        email=ids.email(t("requester.email")),
    )
    ticket_props = properties(
        ticket_id=F.trim(t("ticket")),
        channel=_lookup(CHANNELS, t("channel")),
        priority=_lookup(PRIORITIES, t("priority")),
        category=F.lower(F.trim(t("category"))),
        status=status,
    )
    shaped = parsed.select(
        "*",
        event_id("support", F.col("raw")).alias("event_id"),
        event_type.alias("event_type"),
        updated.alias("event_time"),
        F.lit("support").alias("source"),
        ident.alias("identifiers"),
        ticket_props.alias("properties"),
        base_amounts().alias("base_amounts"),
    )
    score = t("csat").try_cast("int")
    mistyped = wrong_type(F.col("raw"), TYPES)
    checks = [
        (F.get_json_object(F.col("raw"), "$").isNull(), "unparseable JSON"),
        (mistyped.isNotNull(), mistyped),
        (ids.blank_to_null(t("ticket")).isNull(), "missing ticket id"),
        (status.isNull(), "unknown status"),
        *time_checks(F.col("event_time"), rules),
        impossible_time(t("created_at"), created, "created_at"),
        (~any_identifier(F.col("identifiers")), "no identifier"),
        # The line carries the score; the csat_submitted event built from it is judged here.
        out_of_range(properties(score=score)),
    ]
    valid, rejects, checked = split(shaped, checks, "tickets")
    csat = valid.where(score.isNotNull()).select(
        *[c for c in valid.columns if c not in {"event_id", "event_type", "properties"}],
        # One CSAT per ticket: re-sent state lines carry the same score and collapse.
        event_id("support-csat", t("ticket")).alias("event_id"),
        F.lit("csat_submitted").alias("event_type"),
        properties(ticket_id=F.trim(t("ticket")), score=score).alias("properties"),
    )
    key = F.concat_ws("|", F.trim(t("ticket")), F.lower(F.trim(t("status"))))
    csat_key = F.concat_ws("|", F.trim(t("ticket")), F.lit("csat"))
    events = canonical(valid, origin(key)).unionByName(canonical(csat, origin(csat_key)))
    return Normalized(events, rejects.select(*bronze.columns, "_quarantine_reason"), checked)
