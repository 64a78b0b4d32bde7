"""Social-listening export (JSON document): mentions of the shop on social platforms.

Native shape: one JSON document per file, ``{"data": [...], "meta": {"result_count": n}}``
like a listening tool's API dump. Each mention has the platform, the author's handle as
displayed (``@`` and the author's own casing), a Twitter-style ``created_time``
("Sun Aug 03 14:22:10 +0000 2026"), the text, a sentiment score in [-1, 1] and, when the
author linked one, the e-mail of their profile.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synth import encode
from pipelines.synth.context import BlockContext
from pipelines.synth.ids import Kind
from pipelines.synth.messiness import messy_emails, mixed_case, pick_invalid, set_rows
from pipelines.synth.records import SourceRecords
from pipelines.synth.reference import SHOP_HANDLE, SOCIAL_TEMPLATES, catalog
from pipelines.synth.timestamps import SOCIAL_FORMAT, format_utc

SOURCE = "social"
FIELDS = ("id", "platform", "handle", "created_time", "text", "sentiment", "profile_email")
INVALID_KINDS = ("unparseable_timestamp", "sentiment_out_of_range", "no_identifier")
PROFILE_EMAIL_SHARE = 0.35


def record_key(table: pa.Table) -> pa.Array:
    """Mentions are identified by the platform's ``id``."""
    return table.column("id").combine_chunks()


def _texts() -> tuple[pa.Array, dict[str, int]]:
    """Every template x category sentence, and where each sentiment's block starts."""
    cats = catalog().categories
    texts, starts = [], {}
    for mood, templates in SOCIAL_TEMPLATES.items():
        starts[mood] = len(texts)
        texts += [t.format(category=c, shop=SHOP_HANDLE) for t in templates for c in cats]
    return pa.array(texts), starts


def build(ctx: BlockContext) -> SourceRecords:
    rng = ctx.rng(SOURCE)
    p = ctx.people
    shares = ctx.spec.shares
    has_handle = p["social_handle"].notna().to_numpy()
    rate = np.where(has_handle, p["mentions_per_day"].to_numpy(), 0.0)
    owner = np.repeat(np.arange(len(p)), ctx.poisson_counts(rng, rate))
    n = len(owner)
    when = ctx.times(rng, owner)

    sentiment = np.clip(p["sentiment_mean"].to_numpy()[owner] + 0.35 * rng.standard_normal(n),
                        -1, 1)
    sentiment = np.round(sentiment, 2) + 0.0  # + 0.0 turns -0.0 into 0.0
    mood = np.where(sentiment < -0.2, "negative", np.where(sentiment > 0.3, "positive", "neutral"))
    texts, starts = _texts()
    ncat = len(catalog().categories)
    per_mood = len(SOCIAL_TEMPLATES["neutral"]) * ncat
    text_i = np.array([starts[m] for m in mood], dtype=np.int64) + rng.integers(0, per_mood, n)

    handle = pa.array(p["social_handle"].to_numpy()[owner], pa.string())
    handle = pc.binary_join_element_wise("@", mixed_case(rng, handle, 0.05, 0.0), "")
    handle = pc.if_else(pa.array(rng.random(n) < 0.15), pc.utf8_lower(handle), handle)
    alt = p["alt_email"].to_numpy()[owner]
    use_alt = p["alt_email"].notna().to_numpy()[owner] & (rng.random(n) < 0.3)
    email = np.where(use_alt, alt, p["email"].to_numpy()[owner])
    email = np.where(rng.random(n) < PROFILE_EMAIL_SHARE, email, None)

    ids = ctx.ids(Kind.SOCIAL, n)
    table = pa.table(
        {
            "id": pc.cast(pa.array(ids, pa.uint64()), pa.string()),
            "platform": pa.array(p["social_platform"].to_numpy()[owner], pa.string()),
            "handle": handle,
            "created_time": format_utc(when, SOCIAL_FORMAT),
            "text": texts.take(pa.array(text_i)),
            "sentiment": pa.array(sentiment, pa.float64()),
            "profile_email": messy_emails(rng, pa.array(email, pa.string()),
                                          shares.messy_email_share),
        }
    )
    records = SourceRecords(table, owner.astype(np.int64), when * 1000)
    return _corrupt(records, rng, shares.invalid_share)


def _corrupt(records: SourceRecords, rng: np.random.Generator, share: float) -> SourceRecords:
    t = records.table
    bad = pick_invalid(rng, len(t), share, INVALID_KINDS)
    rows = bad["unparseable_timestamp"]
    # A relative time copied from a web page.
    t = set_rows(t, "created_time", rows, "2 hours ago")
    records.mark_invalid(rows, "unparseable_timestamp")
    rows = bad["sentiment_out_of_range"]
    t = set_rows(t, "sentiment", rows, 3.5)
    records.mark_invalid(rows, "sentiment_out_of_range")
    rows = bad["no_identifier"]
    t = set_rows(t, "handle", rows, None)
    t = set_rows(t, "profile_email", rows, None)
    records.mark_invalid(rows, "no_identifier", owner_lost=True)
    records.table = t
    return records


def to_json_lines(table: pa.Table, lead: str = "", tail: str = "") -> pa.Array:
    c = table.column
    return encode.json_object([
        ("id", encode.json_str(c("id"))),
        ("platform", encode.json_str(c("platform"))),
        ("handle", encode.json_str(c("handle"))),
        ("created_time", encode.json_str(c("created_time"))),
        ("text", encode.json_text(c("text"))),
        ("sentiment", encode.json_num(c("sentiment"))),
        ("profile_email", encode.json_str(c("profile_email"))),
    ], lead, tail)
