"""CRM customer export (CSV): one row per customer record version.

Native shape: a full nightly export of every registered customer who exists by the end of
the window, with the CRM's own column names, "MM/DD/YYYY HH:MM" times in the CRM's zone (UTC,
no offset written), free-form phone numbers and country/language as agents typed them.
A profile change inside the window shows up as a second row for the same CustomerID with a
later Last Modified (the export keeps history).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synth.context import BlockContext
from pipelines.synth.messiness import messy_emails, pick_invalid, set_rows
from pipelines.synth.records import SourceRecords
from pipelines.synth.reference import COUNTRIES, TIERS
from pipelines.synth.timestamps import CRM_FORMAT, format_utc

SOURCE = "crm"
COLUMNS = (
    "CustomerID", "First Name", "Last Name", "E-mail", "Phone", "Country",
    "Preferred Language", "Tier", "Created", "Last Modified",
)
INVALID_KINDS = ("unparseable_timestamp", "impossible_date", "invalid_email", "no_identifier")
# An unparseable CRM time: right data, wrong pattern (a second tool's locale).
BAD_TIME_FORMAT = "%Y.%m.%d %Hh%M"


def record_key(table: pa.Table) -> pa.Array:
    """CRM rows are identified by ``CustomerID|Last Modified`` (both as written)."""
    cid = pc.fill_null(table.column("CustomerID"), "")
    mod = pc.fill_null(table.column("Last Modified"), "")
    return pc.binary_join_element_wise(cid, mod, "|").combine_chunks()


def build(ctx: BlockContext) -> SourceRecords:
    rng = ctx.rng(SOURCE)
    p = ctx.people
    shares = ctx.spec.shares
    ws, we = ctx.spec.window_start_s, ctx.spec.window_end_s
    signup = p["signup_s"].to_numpy()
    exists = p["registered"].to_numpy() & (np.nan_to_num(signup, nan=np.inf) < we)
    upd = p["profile_updated_s"].to_numpy()
    before = exists & (upd < ws)  # NaN compares False: never updated
    inside = exists & (upd >= ws) & (upd < we)

    # Version A: the record as it stood (current values if updated before the window).
    rows_a = np.flatnonzero(exists)
    rows_b = np.flatnonzero(inside)
    rows = np.concatenate([rows_a, rows_b])
    is_b = np.r_[np.zeros(len(rows_a), bool), np.ones(len(rows_b), bool)]
    current = is_b | before[rows]
    tier = np.where(current, p["tier"].to_numpy()[rows], p["previous_tier"].to_numpy()[rows])
    country = np.where(current, p["country_index"].to_numpy()[rows],
                       p["previous_country_index"].to_numpy()[rows])
    modified = np.where(current & ~np.isnan(upd[rows]), upd[rows],
                        p["crm_modified_s"].to_numpy()[rows]).astype(np.int64)
    order = np.lexsort((modified, rows))
    rows, tier, country, modified = rows[order], tier[order], country[order], modified[order]
    n = len(rows)

    last = pa.array(p["last_name"].to_numpy()[rows], pa.string())
    last = pc.if_else(pa.array(rng.random(n) < 0.04), pc.utf8_upper(last), last)
    table = pa.table(
        {
            "CustomerID": pa.array(p["customer_id"].to_numpy()[rows], pa.string()),
            "First Name": pa.array(p["first_name"].to_numpy()[rows], pa.string()),
            "Last Name": last,
            "E-mail": messy_emails(
                rng, pa.array(p["email"].to_numpy()[rows], pa.string()), shares.messy_email_share
            ),
            "Phone": pa.array(p["phone_display"].to_numpy()[rows], pa.string()),
            "Country": _country_labels(rng, country),
            "Preferred Language": _language_labels(rng, p["language"].to_numpy()[rows], country),
            "Tier": pa.array(np.array([t.capitalize() for t in TIERS])[tier]),
            "Created": format_utc(signup[rows].astype(np.int64), CRM_FORMAT),
            "Last Modified": format_utc(modified, CRM_FORMAT),
        }
    )
    records = SourceRecords(table, rows.astype(np.int64), modified * 1000)
    return _corrupt(records, rng, shares.invalid_share)


def _country_labels(rng: np.random.Generator, country: np.ndarray) -> pa.Array:
    """ISO code mostly; sometimes the English name or a lower-case code (typed by hand)."""
    code = np.array([c.code for c in COUNTRIES])[country]
    name = np.array([c.name for c in COUNTRIES])[country]
    u = rng.random(len(country))
    return pa.array(np.where(u < 0.15, name, np.where(u < 0.20, np.char.lower(code), code)))


def _language_labels(rng: np.random.Generator, lang: np.ndarray, country: np.ndarray) -> pa.Array:
    """ISO 639-1 mostly; sometimes a locale ("en-US") or upper case ("EN")."""
    lang = lang.astype(str)
    code = np.array([c.code for c in COUNTRIES])[country]
    u = rng.random(len(lang))
    locale = np.char.add(np.char.add(lang, "-"), code)
    return pa.array(np.where(u < 0.15, locale, np.where(u < 0.20, np.char.upper(lang), lang)))


def _corrupt(records: SourceRecords, rng: np.random.Generator, share: float) -> SourceRecords:
    t = records.table
    bad = pick_invalid(rng, len(t), share, INVALID_KINDS)
    rows = bad["unparseable_timestamp"]
    t = set_rows(t, "Last Modified", rows, format_utc(records.event_ms // 1000, BAD_TIME_FORMAT))
    records.mark_invalid(rows, "unparseable_timestamp")
    rows = bad["impossible_date"]
    # February 30th: right pattern, impossible calendar date.
    created = t.column("Created").combine_chunks()
    t = set_rows(t, "Created", rows,
                 pc.binary_join_element_wise("02/30/", pc.utf8_slice_codeunits(created, 6), ""))
    records.mark_invalid(rows, "impossible_date")
    rows = bad["invalid_email"]
    t = set_rows(t, "E-mail", rows, pc.replace_substring(t.column("E-mail"), "@", " at "))
    records.mark_invalid(rows, "invalid_email")
    rows = bad["no_identifier"]
    for col in ("CustomerID", "E-mail", "Phone"):
        t = set_rows(t, col, rows, None)
    records.mark_invalid(rows, "no_identifier", owner_lost=True)
    records.table = t
    return records
