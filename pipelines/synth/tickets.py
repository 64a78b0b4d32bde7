"""Support-desk export (JSON lines): one line per ticket state change.

Native shape: every line is a full snapshot of the ticket after the change (requester,
channel, priority, category, status, created_at, updated_at, csat). Labels are typed by
different agents and integrations, so casing varies, and priority comes either as "P1".."P4"
or as a word ("urgent", "high", "normal", "low"). Times are "YYYY-MM-DD HH:MM:SS UTC".
People write in from their personal or work address, and some from a company inbox shared by
several colleagues (support@company): the customer_number tells them apart.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synth import encode
from pipelines.synth.context import BlockContext
from pipelines.synth.ids import Kind, hex_column
from pipelines.synth.messiness import messy_emails, mixed_case, pick_invalid, set_rows
from pipelines.synth.records import SourceRecords
from pipelines.synth.reference import (
    PRIORITY_CODES,
    PRIORITY_P,
    PRIORITY_WORDS,
    TICKET_CATEGORIES,
    TICKET_CHANNELS,
    TICKET_STATUSES,
)
from pipelines.synth.settings import DAY_S
from pipelines.synth.timestamps import TICKET_FORMAT, format_utc

SOURCE = "tickets"
FIELDS = (
    "ticket", "requester", "channel", "priority", "category", "status", "created_at",
    "updated_at", "csat",
)
INVALID_KINDS = ("unparseable_timestamp", "impossible_date", "csat_out_of_range", "no_identifier")
INBOX_TICKET_SHARE = 0.6  # tickets a company-inbox member sends from the shared inbox
INBOX_BOOST = 3.0  # company accounts write in more often
CUSTOMER_NUMBER_SHARE = 0.75  # tickets where a registered requester gives their number
CSAT_RESPONSE_SHARE = 0.45
_CHANNEL_P = np.array([p for _, p in TICKET_CHANNELS])


def record_key(table: pa.Table) -> pa.Array:
    """Ticket lines are identified by ``ticket|status`` (status lower-cased: a ticket passes
    each status at most once)."""
    return pc.binary_join_element_wise(
        table.column("ticket"), pc.utf8_lower(table.column("status")), "|").combine_chunks()


def build(ctx: BlockContext) -> SourceRecords:
    rng = ctx.rng(SOURCE)
    p = ctx.people
    shares = ctx.spec.shares
    rate = p["tickets_per_day"].to_numpy() * np.where(p["company_inbox"].notna(), INBOX_BOOST, 1)
    owner = np.repeat(np.arange(len(p)), ctx.poisson_counts(rng, rate))
    n = len(owner)
    created = ctx.times(rng, owner)

    # Lifecycle: new -> open -> (pending) -> solved -> closed, cut at the window end.
    t = np.full((n, len(TICKET_STATUSES)), -1, dtype=np.int64)
    t[:, 0] = created
    t[:, 1] = created + 600 + (rng.exponential(3.0, n) * 3600).astype(np.int64)
    pending = rng.random(n) < 0.35
    t[:, 2] = np.where(pending, t[:, 1] + (rng.exponential(1.0, n) * DAY_S).astype(np.int64), -1)
    prev = np.where(pending, t[:, 2], t[:, 1])
    solved = rng.random(n) < 0.85
    t[:, 3] = np.where(solved, prev + 600 + (rng.exponential(1.5, n) * DAY_S).astype(np.int64), -1)
    closed = solved & (rng.random(n) < 0.75)
    t[:, 4] = np.where(closed, t[:, 3] + 3 * DAY_S + rng.integers(0, 6 * 3600, n), -1)
    happened = (t >= 0) & (t < ctx.spec.window_end_s)
    tk, st = np.nonzero(happened)  # row-major: each ticket's lines in order
    when = t[tk, st]

    # Who writes in, and from which address.
    inbox = p["company_inbox"].to_numpy()[owner]
    alt = p["alt_email"].to_numpy()[owner]
    u = rng.random(n)
    from_inbox = p["company_inbox"].notna().to_numpy()[owner] & (u < INBOX_TICKET_SHARE)
    from_alt = ~from_inbox & p["alt_email"].notna().to_numpy()[owner] & (u < 0.4)
    email = np.where(from_inbox, inbox, np.where(from_alt, alt, p["email"].to_numpy()[owner]))
    registered = p["registered"].to_numpy()[owner]
    gives_number = registered & (from_inbox | (rng.random(n) < CUSTOMER_NUMBER_SHARE))
    number = np.where(gives_number, p["customer_id"].to_numpy()[owner], None)

    channel = rng.choice(len(TICKET_CHANNELS), n, p=_CHANNEL_P)
    severity = rng.choice(4, n, p=np.array(PRIORITY_P))
    words = rng.random(n) < 0.4  # the chat integration writes priorities as words
    priority = np.where(words, np.array(PRIORITY_WORDS)[severity],
                        np.array(PRIORITY_CODES)[severity])
    category = rng.integers(0, len(TICKET_CATEGORIES), n)
    score = np.clip(np.round(p["csat_mean"].to_numpy()[owner] + 0.8 * rng.standard_normal(n)),
                    1, 5).astype(np.int64)
    rated = solved & (rng.random(n) < CSAT_RESPONSE_SHARE)
    csat = np.where(rated[tk] & (st >= 3), score[tk], -1)

    m = len(tk)
    take = pa.array(tk)
    ticket_ids = hex_column("T-", ctx.ids(Kind.TICKET, n), upper=True).take(take)
    email_arr = messy_emails(rng, pa.array(email[tk], pa.string()), shares.messy_email_share)
    table = pa.table(
        {
            "ticket": ticket_ids,
            "email": email_arr,
            "customer_number": pa.array(number[tk], pa.string()),
            "channel": mixed_case(rng, pa.array(np.array(
                [c for c, _ in TICKET_CHANNELS])[channel[tk]]), 0.15, 0.35),
            "priority": mixed_case(rng, pa.array(priority[tk]), 0.1, 0.2),
            "category": mixed_case(rng, pa.array(np.array(TICKET_CATEGORIES)[category[tk]]),
                                   0.1, 0.3),
            "status": mixed_case(rng, pa.array(np.array(TICKET_STATUSES)[st]), 0.1, 0.6),
            "created_at": format_utc(created[tk], TICKET_FORMAT),
            "updated_at": format_utc(when, TICKET_FORMAT),
            "csat": pa.array(csat, pa.int64(), mask=csat < 0),
        }
    )
    assert len(table) == m
    records = SourceRecords(table, owner[tk].astype(np.int64), when * 1000)
    return _corrupt(records, rng, shares.invalid_share)


def _corrupt(records: SourceRecords, rng: np.random.Generator, share: float) -> SourceRecords:
    t = records.table
    has_csat = np.asarray(t.column("csat").is_valid())
    bad = pick_invalid(rng, len(t), share, INVALID_KINDS, {"csat_out_of_range": has_csat})
    rows = bad["unparseable_timestamp"]
    # Day-first local format from a mail-to-ticket bridge.
    t = set_rows(t, "updated_at", rows, format_utc(records.event_ms // 1000, "%d/%m/%Y %H:%M"))
    records.mark_invalid(rows, "unparseable_timestamp")
    rows = bad["impossible_date"]
    created = t.column("created_at").combine_chunks()
    t = set_rows(t, "created_at", rows, pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(created, 0, 4), "-02-30", pc.utf8_slice_codeunits(created, 10),
        ""))
    records.mark_invalid(rows, "impossible_date")
    rows = bad["csat_out_of_range"]
    t = set_rows(t, "csat", rows, 7)
    records.mark_invalid(rows, "csat_out_of_range")
    rows = bad["no_identifier"]
    t = set_rows(t, "email", rows, None)
    t = set_rows(t, "customer_number", rows, None)
    records.mark_invalid(rows, "no_identifier", owner_lost=True)
    records.table = t
    return records


def to_json_lines(table: pa.Table, lead: str = "", tail: str = "") -> pa.Array:
    """The JSON object of each line, fields in the documented order."""
    c = table.column
    requester = encode.json_object([
        ("email", encode.json_str(c("email"))),
        ("customer_number", encode.json_str(c("customer_number"))),
    ])
    return encode.json_object([
        ("ticket", encode.json_str(c("ticket"))),
        ("requester", requester),
        ("channel", encode.json_str(c("channel"))),
        ("priority", encode.json_str(c("priority"))),
        ("category", encode.json_str(c("category"))),
        ("status", encode.json_str(c("status"))),
        ("created_at", encode.json_str(c("created_at"))),
        ("updated_at", encode.json_str(c("updated_at"))),
        ("csat", encode.json_num(c("csat"))),
    ], lead, tail)
