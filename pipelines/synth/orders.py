"""Shop orders export (CSV): one row per order event, placed or refunded.

Native shape: amounts in minor units of the order currency (cents; yen for JPY), order time in
ISO-8601 with the shop-local offset of the buyer's zone, line items as a JSON array string.
A refund is a second row with the same order_id, status ``refunded``, the refund time and
the refunded amount (items ``[]``). Guest checkouts carry an e-mail but no customer_ref.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synth import encode
from pipelines.synth.context import BlockContext
from pipelines.synth.ids import Kind, hex_column
from pipelines.synth.messiness import messy_emails, pick_invalid, set_rows
from pipelines.synth.records import SourceRecords
from pipelines.synth.reference import CURRENCIES, INVALID_CURRENCY, TEST_EMAIL, catalog
from pipelines.synth.settings import DAY_S
from pipelines.synth.timestamps import format_local_iso, format_utc

SOURCE = "orders"
COLUMNS = (
    "order_id", "customer_ref", "email", "order_ts", "status", "currency",
    "total_amount_minor", "items",
)
INVALID_KINDS = (
    "unparseable_timestamp", "impossible_date", "unknown_currency", "negative_quantity",
    "no_identifier",
)
GUEST_SHARE = 0.10  # registered customers who check out as guest
ALT_EMAIL_SHARE = 0.10  # orders placed with the work address
FOREIGN_CURRENCY_SHARE = 0.10  # orders paid in another currency than the home one
FAVOURITE_CATEGORY_SHARE = 0.70
UTC_Z_SHARE = 0.05  # rows an integration wrote as UTC with "Z"


def record_key(table: pa.Table) -> pa.Array:
    """Order rows are identified by ``order_id|status``."""
    return pc.binary_join_element_wise(
        table.column("order_id"), table.column("status"), "|").combine_chunks()


def build(ctx: BlockContext) -> SourceRecords:
    rng = ctx.rng(SOURCE)
    p = ctx.people
    shares = ctx.spec.shares
    cat = catalog()

    # Regular orders, plus guest test orders by QA staff (deny-listed test@example.com).
    n_regular = ctx.poisson_counts(rng, p["orders_per_day"].to_numpy())
    test_user = p["test_email_user"].to_numpy() & (ctx.active_days > 0)
    n_test = np.where(test_user, 1 + rng.poisson(1.0, len(p)), 0)
    owner = np.concatenate([np.repeat(np.arange(len(p)), n_regular),
                            np.repeat(np.arange(len(p)), n_test)])
    is_test = np.r_[np.zeros(n_regular.sum(), bool), np.ones(n_test.sum(), bool)]
    n = len(owner)
    placed_s = ctx.times(rng, owner)

    registered = p["registered"].to_numpy()[owner]
    guest = ~registered | is_test | (rng.random(n) < GUEST_SHARE)
    use_alt = (rng.random(n) < ALT_EMAIL_SHARE) & p["alt_email"].notna().to_numpy()[owner]
    email = np.where(use_alt, p["alt_email"].to_numpy()[owner], p["email"].to_numpy()[owner])
    email = np.where(is_test, TEST_EMAIL, email)
    currency = np.where(rng.random(n) < FOREIGN_CURRENCY_SHARE,
                        rng.integers(0, len(CURRENCIES), n),
                        p["currency_index"].to_numpy()[owner])

    # Line items: the order's value follows the person's basket size; products are the
    # catalog items whose price is closest to each line's share of it.
    n_items = 1 + np.minimum(rng.poisson(0.7, n), 4)
    item_order = np.repeat(np.arange(n), n_items)
    m = len(item_order)
    value_usd = p["basket_usd"].to_numpy()[owner] * np.exp(0.4 * rng.standard_normal(n) - 0.08)
    weight = rng.uniform(0.2, 1.0, m)
    weight /= np.bincount(item_order, weight)[item_order]
    qty = 1 + (rng.random(m) < 0.15) + (rng.random(m) < 0.03)
    target = value_usd[item_order] * weight / qty
    fav = np.where(rng.random(m) < 0.5, p["fav_category_1"].to_numpy()[owner[item_order]],
                   p["fav_category_2"].to_numpy()[owner[item_order]])
    category = np.where(rng.random(m) < FAVOURITE_CATEGORY_SHARE, fav,
                        rng.integers(0, len(cat.categories), m))
    product = _closest_product(category, target, rng)
    unit_minor = cat.price_minor[product, currency[item_order]]
    total = np.bincount(item_order, unit_minor * qty, minlength=n).astype(np.int64)

    item_json = encode.json_object([
        ("sku", encode.json_str(pa.array(cat.sku[product]))),
        ("category", encode.json_str(pa.array(np.array(cat.categories)[category]))),
        ("qty", encode.json_num(pa.array(qty))),
        ("unit_price_minor", encode.json_num(pa.array(unit_minor))),
    ])
    offsets = pa.array(np.r_[0, np.cumsum(n_items)].astype(np.int32))
    items = encode.json_array(item_json, offsets)

    # Refunds: a later row for the same order, full or partial amount, no items.
    refund_p = p["refund_prob"].to_numpy()[owner]
    refund_s = placed_s + DAY_S + (rng.exponential(5.0, n) * DAY_S).astype(np.int64)
    refunded = (rng.random(n) < refund_p) & (refund_s < ctx.spec.window_end_s) & ~is_test
    partial = rng.random(n) < 0.2
    refund_amount = np.where(partial, np.maximum(1, (total * rng.uniform(0.2, 0.8, n))), total)
    r = np.flatnonzero(refunded)

    order_ids = hex_column("ORD-", ctx.ids(Kind.ORDER, n), upper=True)
    cust = pa.array(np.where(guest, None, p["customer_id"].to_numpy()[owner]), pa.string())
    email_arr = pa.array(email, pa.string())
    zones = p["zone"].to_numpy()[owner]
    rows = np.r_[np.arange(n), r]
    when = np.r_[placed_s, refund_s[r]]
    ts = format_local_iso(when, zones[rows])
    # Some integrations write UTC with a "Z" suffix instead of the local offset.
    utc = format_utc(when, "%Y-%m-%dT%H:%M:%SZ")
    ts = pc.if_else(pa.array(rng.random(len(rows)) < UTC_Z_SHARE), utc, ts)
    is_refund = np.r_[np.zeros(n, bool), np.ones(len(r), bool)]
    take = pa.array(rows)
    table = pa.table(
        {
            "order_id": order_ids.take(take),
            "customer_ref": cust.take(take),
            "email": messy_emails(rng, email_arr.take(take), shares.messy_email_share),
            "order_ts": ts,
            "status": pa.array(np.r_[np.full(n, "placed"), np.full(len(r), "refunded")]),
            "currency": pa.array(np.array(CURRENCIES)[currency[rows]]),
            "total_amount_minor": pa.array(np.r_[total, refund_amount[r]].astype(np.int64)),
            "items": pc.if_else(pa.array(is_refund), "[]", items.take(take)),
        }
    )
    records = SourceRecords(table, owner[rows].astype(np.int64), when.astype(np.int64) * 1000)
    return _corrupt(records, rng, shares.invalid_share, is_refund)


def _closest_product(category: np.ndarray, target_usd: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Index of a product of ``category`` priced near ``target_usd`` (a neighbour sometimes)."""
    cat = catalog()
    # Products are sorted by (category, price): search each category's slice at once.
    key = cat.category * 1e6 + cat.price_usd
    pos = np.searchsorted(key, category * 1e6 + target_usd)
    pos += rng.integers(-1, 2, len(pos))
    lo = cat.cat_start[category]
    return np.clip(pos, lo, lo + cat.cat_count[category] - 1)


def _corrupt(records: SourceRecords, rng: np.random.Generator, share: float,
             is_refund: np.ndarray) -> SourceRecords:
    t = records.table
    n = len(t)
    bad = pick_invalid(rng, n, share, INVALID_KINDS, {"negative_quantity": ~is_refund})
    secs = records.event_ms // 1000
    rows = bad["unparseable_timestamp"]
    # A US-style local time with AM/PM from a legacy store front.
    t = set_rows(t, "order_ts", rows, format_utc(secs, "%m/%d/%Y %I:%M %p"))
    records.mark_invalid(rows, "unparseable_timestamp")
    rows = bad["impossible_date"]
    ts = t.column("order_ts").combine_chunks()
    t = set_rows(t, "order_ts", rows,
                 pc.binary_join_element_wise(pc.utf8_slice_codeunits(ts, 0, 4), "-02-30",
                                             pc.utf8_slice_codeunits(ts, 10), ""))
    records.mark_invalid(rows, "impossible_date")
    rows = bad["unknown_currency"]
    t = set_rows(t, "currency", rows, INVALID_CURRENCY)
    records.mark_invalid(rows, "unknown_currency")
    rows = bad["negative_quantity"]
    negative = pc.replace_substring_regex(t.column("items"), r'"qty":(\d+)', r'"qty":-\1',
                                          max_replacements=1)
    t = set_rows(t, "items", rows, negative)
    records.mark_invalid(rows, "negative_quantity")
    rows = bad["no_identifier"]
    t = set_rows(t, "customer_ref", rows, None)
    t = set_rows(t, "email", rows, None)
    records.mark_invalid(rows, "no_identifier", owner_lost=True)
    records.table = t
    return records
