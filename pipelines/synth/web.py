"""Web-analytics export (JSON lines): one line per tracked browser event.

Native shape: ``ts`` in epoch milliseconds (UTC), an ``anon_id`` cookie per browser and a
``device_id`` per device on every event, ``user_id`` (the customer_id) only while the visitor
is logged in. A logged-in event therefore carries user_id *and* anon_id/device_id, which is
what links anonymous browsing to a customer. Prices are decimal major units.

Volume rule: the window holds on average ``web_events_per_customer_per_day`` events per person
per day; people share that volume by web affinity x days active (churned people stop).
Family devices are shared by several registered people: the device_id is shared, each member
keeps their own anon_id; library PCs likewise among strangers. On a phone with the shop's app
(people.DEVICE_KINDS ``app``) a session browses with device_id + anon_id and, once the person
logs in (always after the first event when the session is longer than one), carries user_id +
device_id only: the app drops the anonymous id at login.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synth import encode
from pipelines.synth.context import BlockContext
from pipelines.synth.ids import Kind, decimal_column, hex_column
from pipelines.synth.messiness import pick_invalid, set_rows
from pipelines.synth.people import id_digits
from pipelines.synth.records import SourceRecords
from pipelines.synth.reference import (
    ARCHETYPES,
    CURRENCIES,
    FX_PER_USD,
    HELP_PAGES,
    MINOR_DIGITS,
    SHOP_URL,
    WEB_EVENTS,
    catalog,
)

SOURCE = "web"
FIELDS = (
    "event_id", "ts", "event", "anon_id", "user_id", "device_id", "session_id", "url", "sku",
    "category", "qty", "price", "currency",
)
INVALID_KINDS = ("missing_timestamp", "future_timestamp", "negative_quantity", "no_identifier")
MEAN_SESSION_EVENTS = 5.0
LOGIN_MIDWAY_SHARE = 0.3  # logged-in sessions that start anonymous and log in on the way
RESET_COOKIE_USE = 0.5  # sessions on a reset device that use the newer cookie
FAVOURITE_CATEGORY_SHARE = 0.7
FUTURE_SHIFT_MS = 30 * 365 * 86_400_000  # a device with its clock decades ahead
_MIX_CDF = np.cumsum(np.array([a.web_mix for a in ARCHETYPES]), axis=1)
PAGEVIEW, PRODUCT_VIEW, ADD, REMOVE, CHECKOUT = range(len(WEB_EVENTS))


def record_key(table: pa.Table) -> pa.Array:
    """Web events are identified by their ``event_id``."""
    return table.column("event_id").combine_chunks()


def _urls() -> tuple[pa.Array, int, int, int, int]:
    """All URLs: home, category pages, help pages, product pages, cart, checkout."""
    cat = catalog()
    paths = (["/"] + [f"/c/{c}" for c in cat.categories] + list(HELP_PAGES)
             + [f"/p/{s.lower()}" for s in cat.sku] + ["/cart", "/checkout"])
    first_cat = 1
    first_help = first_cat + len(cat.categories)
    first_product = first_help + len(HELP_PAGES)
    cart = first_product + len(cat.sku)
    return pa.array([SHOP_URL + x for x in paths]), first_cat, first_help, first_product, cart


def build(ctx: BlockContext) -> SourceRecords:
    rng = ctx.rng(SOURCE)
    p, d = ctx.people, ctx.devices
    spec = ctx.spec
    n_people = len(p)

    # Sessions: the configured volume shared by web affinity x active days.
    weight = p["web_affinity"].to_numpy() * ctx.active_days
    total = spec.shares.web_events_per_customer_per_day * n_people * spec.days
    lam = total * weight / weight.sum() if weight.sum() > 0 else np.zeros(n_people)
    n_sess = rng.poisson(lam / MEAN_SESSION_EVENTS)
    sess_person = np.repeat(np.arange(n_people), n_sess)
    s = len(sess_person)
    length = 1 + rng.poisson(MEAN_SESSION_EVENTS - 1, s)
    start_s = ctx.times(rng, sess_person)

    # Which device: weighted pick among the person's devices (own and shared); devices are
    # sorted by person, so person + cumulative weight within the person is a sorted key.
    dev_person = d["person_row"].to_numpy()
    w = d["weight"].to_numpy()
    w = w / np.bincount(dev_person, w, minlength=n_people)[dev_person]
    cum = np.cumsum(w)
    group_first = np.r_[0, np.flatnonzero(np.diff(dev_person)) + 1]
    counts = np.diff(np.r_[group_first, len(w)])
    within = cum - np.repeat(cum[group_first] - w[group_first], counts)
    within[np.r_[dev_person[1:] != dev_person[:-1], True]] = 1.0
    dev = np.searchsorted(dev_person + within, sess_person + rng.random(s), side="right")
    reset = d["anon_reset_num"].to_numpy()[dev]
    use_reset = (reset != 0) & (rng.random(s) < RESET_COOKIE_USE)
    anon = np.where(use_reset, reset, d["anon_num"].to_numpy()[dev])
    logged = (p["registered"].to_numpy()[sess_person]
              & (rng.random(s) >= spec.shares.anonymous_visit_share))
    login_pos = np.where(rng.random(s) < LOGIN_MIDWAY_SHARE,
                         rng.integers(1, np.maximum(length, 2)), 0)
    app = d["kind"].to_numpy()[dev] == "app"
    login_pos = np.where(app & (length >= 2), np.maximum(login_pos, 1), login_pos)

    # Events of each session, a few seconds to minutes apart.
    ev_sess = np.repeat(np.arange(s), length)
    e = len(ev_sess)
    first = np.cumsum(length) - length
    pos = np.arange(e) - first[ev_sess]
    gap = (rng.exponential(45_000, e) + 1_000).astype(np.int64)
    gap[first] = 0
    offset = np.cumsum(gap)
    offset -= offset[first][ev_sess]
    ts = np.minimum(start_s[ev_sess] * 1000 + offset,
                    ctx.active_end_s[sess_person[ev_sess]] * 1000 - 1)
    # Events in export (time) order from here on: every column below is built already sorted,
    # which spares reordering millions of strings later.
    by_time = np.argsort(ts, kind="stable")
    ts, ev_sess, pos = ts[by_time], ev_sess[by_time], pos[by_time]
    person = sess_person[ev_sess]

    cdf = _MIX_CDF[p["archetype_index"].to_numpy()[person]]
    etype = (rng.random(e)[:, None] > cdf[:, :-1]).sum(axis=1)
    etype[pos == 0] = PAGEVIEW  # every session lands on a page

    cat = catalog()
    ncat = len(cat.categories)
    fav = np.where(rng.random(e) < 0.5, p["fav_category_1"].to_numpy()[person],
                   p["fav_category_2"].to_numpy()[person])
    category = np.where(rng.random(e) < FAVOURITE_CATEGORY_SHARE, fav, rng.integers(0, ncat, e))
    product = cat.cat_start[category] + (rng.random(e) * cat.cat_count[category]).astype(np.int64)
    has_product = (etype == PRODUCT_VIEW) | (etype == ADD) | (etype == REMOVE)

    urls, first_cat, first_help, first_product, cart_url = _urls()
    page_u = rng.random(e)
    page = np.where(page_u < 0.4, 0, np.where(
        page_u < 0.75, first_cat + category,
        first_help + (rng.random(e) * len(HELP_PAGES)).astype(np.int64)))
    url = np.select(
        [etype == PAGEVIEW, etype == PRODUCT_VIEW, (etype == ADD) | (etype == REMOVE)],
        [page, first_product + product, cart_url], cart_url + 1)
    on_category_page = (etype == PAGEVIEW) & (url >= first_cat) & (url < first_help)

    cur = p["currency_index"].to_numpy()[person]
    digits = np.array([MINOR_DIGITS[c] for c in CURRENCIES])[cur]
    unit = cat.price_minor[product, cur] / 10.0**digits
    fx = np.array([FX_PER_USD[c] for c in CURRENCIES])[cur]
    scale = 10.0**digits
    cart_value = np.round(p["basket_usd"].to_numpy()[person] * fx * scale) / scale
    price = np.where(etype == CHECKOUT, cart_value, unit)
    has_price = has_product | (etype == CHECKOUT)
    is_cart = (etype == ADD) | (etype == REMOVE)
    qty = 1 + (rng.random(e) < 0.2) + (rng.random(e) < 0.05)

    logged_in = logged[ev_sess] & (pos >= login_pos[ev_sess])
    table = pa.table(
        {
            "event_id": hex_column("ev-", ctx.ids(Kind.WEB_EVENT, e)),
            "ts": pa.array(ts, pa.int64()),
            "event": pa.array(WEB_EVENTS).take(pa.array(etype)),
            "anon_id": hex_column("a-", anon[ev_sess], valid=~(app[ev_sess] & logged_in)),
            "user_id": decimal_column("C", p["person_index"].to_numpy()[person] + 1,
                                      id_digits(spec.customers), valid=logged_in),
            "device_id": hex_column("d-", d["device_num"].to_numpy()[dev][ev_sess]),
            "session_id": hex_column("s-", ctx.ids(Kind.SESSION, s)[ev_sess]),
            "url": urls.take(pa.array(url)),
            "sku": pa.array(cat.sku).take(pa.array(product, mask=~has_product)),
            "category": pa.array(list(cat.categories)).take(
                pa.array(category, mask=~(has_product | on_category_page))),
            "qty": pa.array(qty, pa.int64(), mask=~is_cart),
            "price": pa.array(price, pa.float64(), mask=~has_price),
            "currency": pa.array(list(CURRENCIES)).take(pa.array(cur, mask=~has_price)),
        }
    )
    records = SourceRecords(table, person.astype(np.int64), ts)
    return _corrupt(records, rng, spec.shares.invalid_share, is_cart)


def _corrupt(records: SourceRecords, rng: np.random.Generator, share: float,
             is_cart: np.ndarray) -> SourceRecords:
    t = records.table
    bad = pick_invalid(rng, len(t), share, INVALID_KINDS, {"negative_quantity": is_cart})
    rows = bad["missing_timestamp"]
    t = set_rows(t, "ts", rows, None)
    records.mark_invalid(rows, "missing_timestamp")
    rows = bad["future_timestamp"]
    t = set_rows(t, "ts", rows, pa.array(records.event_ms + FUTURE_SHIFT_MS))
    records.mark_invalid(rows, "future_timestamp")
    rows = bad["negative_quantity"]
    t = set_rows(t, "qty", rows, pc.negate(t.column("qty")))
    records.mark_invalid(rows, "negative_quantity")
    rows = bad["no_identifier"]
    for col in ("anon_id", "user_id", "device_id"):
        t = set_rows(t, col, rows, None)
    records.mark_invalid(rows, "no_identifier", owner_lost=True)
    records.table = t
    return records


def to_json_lines(table: pa.Table, lead: str = "", tail: str = "") -> pa.Array:
    c = table.column
    fields = []
    for name in FIELDS:
        col = c(name)
        fragment = encode.json_num(col) if name in ("ts", "qty", "price") else encode.json_str(col)
        fields.append((name, fragment))
    return encode.json_object(fields, lead, tail)
