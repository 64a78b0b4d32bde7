"""The population: who the people are, how to reach them, and how they behave.

Each person has a behaviour archetype (champion, loyal, occasional, at_risk, churned,
support_heavy, browser) whose rates drive every source; individual rates scatter around the
archetype means. Some people never registered (no customer_id: anonymous visitors and guest
buyers). A few identifiers are deliberately shared: family devices, company inboxes, and the
test@example.com address QA staff use for guest checkouts.

Draws depend only on ``(seed, customers, population date)``, never on the activity window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from pipelines.synth import contacts
from pipelines.synth.ids import Kind, hex_column, person_ids
from pipelines.synth.reference import (
    ARCHETYPES,
    COMPANY_DOMAINS,
    COUNTRIES,
    CURRENCIES,
    SOCIAL_PLATFORMS,
    ascii_fold,
    catalog,
)
from pipelines.synth.settings import DAY_S, GeneratorSpec

# Individual rates are archetype mean x lognormal(sigma) with the mean preserved.
RATE_SIGMA = 0.4
NEW_CUSTOMER_SHARE = 0.05  # registered people who sign up after the population date
PROFILE_UPDATE_SHARE = 0.12  # registered people whose CRM record changes tier or country
PHONE_SHARE = 0.85
ALT_EMAIL_SHARE = 0.30  # people with a second (work) address they use for support
HANDLE_SHARE_REGISTERED = 0.30
HANDLE_SHARE_UNREGISTERED = 0.10
SECOND_DEVICE_SHARE = 0.40
COOKIE_RESET_SHARE = 0.20  # devices whose browser cookie was reset: a second anon_id
LIBRARY_PC_VISITORS = (4, 13)  # people per library PC: [low, high)
LIBRARY_PC_WEIGHT = 0.3  # an occasional device next to a visitor's own
# Slots of person_ids (16 per person and kind): own devices 0-1 (their reset cookies 8-9),
# family tablet 3 (device, on the host) and 2 (each member's cookie), library PC 4 and 5.
_LIBRARY_DEVICE_SLOT, _LIBRARY_ANON_SLOT = 4, 5
INBOX_GROUP_SHARE = 0.004  # company-inbox groups per person
TEST_EMAIL_USER_SHARE = 0.002

_ARCH_P = np.array([a.share for a in ARCHETYPES])
_COUNTRY_P = np.array([c.share for c in COUNTRIES])
_PLATFORM_P = np.array([p for _, p in SOCIAL_PLATFORMS])


@dataclass(frozen=True)
class Population:
    """One block of people plus their devices (own and shared)."""

    people: pd.DataFrame  # one row per person, row position = "person row" used everywhere
    # person_row, device_id, anon_id, anon_id_reset, shared, weight, kind (DEVICE_KINDS)
    devices: pd.DataFrame


# What a device is: a person's own browser, their own phone with the shop's app, a family
# tablet or a library PC (the last two are shared).
DEVICE_KINDS = ("own", "app", "family", "library")


def population_rng(spec: GeneratorSpec, block: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, block, 0])


def _device_pattern_rng(spec: GeneratorSpec, block: int) -> np.random.Generator:
    """Apps and library PCs draw from their own stream: turning them on leaves every other
    draw (and so the default output) as it was."""
    return np.random.default_rng([spec.seed, block, 1])


def _scatter(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    z = rng.standard_normal(len(mean))
    return mean * np.exp(RATE_SIGMA * z - RATE_SIGMA**2 / 2)


def _pick(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """Row-wise categorical draw from a (rows, k) probability matrix."""
    cdf = np.cumsum(p, axis=1)
    return (rng.random(len(p))[:, None] > cdf[:, :-1]).sum(axis=1)


def _zone_offsets(zones: np.ndarray, at_s: int) -> np.ndarray:
    moment = datetime.fromtimestamp(at_s, tz=UTC)
    offsets = {
        z: int(moment.astimezone(ZoneInfo(z)).utcoffset().total_seconds()) for z in set(zones)
    }
    return np.array([offsets[z] for z in zones], dtype=np.int64)


def draw_population(spec: GeneratorSpec, block: int) -> Population:
    """The people of one block with identifiers, traits and devices."""
    rng = population_rng(spec, block)
    first_idx, end_idx = spec.block_bounds(block)
    n = end_idx - first_idx
    gidx = np.arange(first_idx, end_idx, dtype=np.int64)
    anchor = spec.anchor_s

    arch = rng.choice(len(ARCHETYPES), n, p=_ARCH_P)
    a = {f: np.array([getattr(ARCHETYPES[i], f) for i in arch]) for f in (
        "orders_per_day", "basket_usd", "tickets_per_day", "web_affinity", "mentions_per_day",
        "refund_prob", "csat_mean", "sentiment_mean", "unregistered_share")}
    arch_name = np.array([ARCHETYPES[i].name for i in arch])
    registered = rng.random(n) >= a["unregistered_share"]

    country = rng.choice(len(COUNTRIES), n, p=_COUNTRY_P)
    name_i = rng.integers(0, 16, (n, 2))
    zone_u, lang_u, domain_u, area_u = rng.random((4, n))
    pattern = rng.integers(0, contacts.N_EMAIL_PATTERNS, n)
    tier_p = np.array([ARCHETYPES[i].tier_p for i in arch])
    tier = _pick(rng, tier_p)

    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    zone = np.empty(n, dtype=object)
    language = np.empty(n, dtype=object)
    domain = np.empty(n, dtype=object)
    area = np.empty(n, dtype=object)
    for ci, c in enumerate(COUNTRIES):
        m = country == ci
        first[m] = np.array(c.first_names, dtype=object)[name_i[m, 0]]
        last[m] = np.array(c.last_names, dtype=object)[name_i[m, 1]]
        zp = np.cumsum([p for _, p in c.zones])
        zone[m] = np.array([z for z, _ in c.zones], dtype=object)[
            np.minimum(np.searchsorted(zp, zone_u[m], side="right"), len(zp) - 1)]
        lp = np.cumsum([p for _, p in c.languages])
        language[m] = np.array([lg for lg, _ in c.languages], dtype=object)[
            np.minimum(np.searchsorted(lp, lang_u[m], side="right"), len(lp) - 1)]
        # The first domain is the most common one (40%), the rest share the remainder.
        k = len(c.email_domains)
        dp = np.cumsum([0.4] + [0.6 / (k - 1)] * (k - 1))
        domain[m] = np.array(c.email_domains, dtype=object)[
            np.minimum(np.searchsorted(dp, domain_u[m], side="right"), k - 1)]
        area[m] = np.array(c.area_codes, dtype=object)[
            (area_u[m] * len(c.area_codes)).astype(int)]

    token = gidx + 1
    first_a = [ascii_fold(x) for x in first]
    last_a = [ascii_fold(x) for x in last]
    email = [contacts.email_address(f, lst, int(k), int(p), d)
             for f, lst, k, p, d in zip(first_a, last_a, token, pattern, domain, strict=True)]

    # Signups: tenure before the population date; a few sign up during the first weeks.
    tenure_mean = np.where(np.isin(arch_name, ["champion", "loyal"]), 700.0, 400.0)
    min_tenure = np.where(np.isin(arch_name, ["at_risk", "churned"]), 90.0, 30.0)
    tenure_days = min_tenure + rng.exponential(tenure_mean)
    new = registered & (rng.random(n) < NEW_CUSTOMER_SHARE) & ~np.isin(
        arch_name, ["at_risk", "churned"])
    signup = anchor - (tenure_days * DAY_S).astype(np.int64)
    signup = np.where(new, anchor + rng.integers(0, 60 * DAY_S, n), signup)
    signup_s = np.where(registered, signup, np.nan)

    churned = arch_name == "churned"
    churn_s = np.where(churned, anchor + rng.integers(10 * DAY_S, 60 * DAY_S, n), np.nan)

    # CRM record history: a last edit before the population date, maybe a later profile update.
    base_mod = np.where(new, signup, signup + (rng.random(n) * (anchor - signup)).astype(np.int64))
    updated = registered & (rng.random(n) < PROFILE_UPDATE_SHARE)
    upd_s = np.maximum(anchor + rng.integers(0, 80 * DAY_S, n), signup + DAY_S)
    if_churn = np.where(churned, churn_s - DAY_S, np.inf)
    upd_s = np.minimum(upd_s, if_churn)
    updated &= upd_s > signup
    moved = updated & (rng.random(n) < 0.3)
    tier_changed = updated & ~moved
    prev_tier = np.where(tier > 0, tier - 1, tier + 1)  # mostly upgrades
    prev_tier = np.where(tier_changed, prev_tier, tier)
    prev_country = np.where(moved, (country + rng.integers(1, len(COUNTRIES), n)) % len(
        COUNTRIES), country)
    phone_country = prev_country  # a mover keeps the number of the country they left

    has_phone = registered & (rng.random(n) < PHONE_SHARE)
    phone_style = rng.integers(0, 6, n)
    # Movers type their number internationally (even style), or it would read as local.
    phone_style = np.where(moved, phone_style - phone_style % 2, phone_style)
    e164 = np.full(n, None, dtype=object)
    display = np.full(n, None, dtype=object)
    for i in np.flatnonzero(has_phone):
        c = COUNTRIES[phone_country[i]]
        ar = area[i] if phone_country[i] == country[i] else c.area_codes[0]
        nsn = contacts.national_number(c.code, ar, int(gidx[i]))
        e164[i] = contacts.phone_e164(c.calling_code, nsn)
        display[i] = contacts.phone_display(c.code, nsn, int(phone_style[i]))

    has_alt = rng.random(n) < ALT_EMAIL_SHARE
    company = rng.integers(0, len(COMPANY_DOMAINS), n)
    alt_email = np.full(n, None, dtype=object)
    inbox = np.full(n, None, dtype=object)

    # Company inboxes: a few employees of one company write to support from support@company.
    candidates = rng.permutation(np.flatnonzero(registered))
    n_groups = max(1, round(n * INBOX_GROUP_SHARE))
    pos = 0
    for _ in range(n_groups):
        size = int(rng.integers(3, 9))
        members = candidates[pos:pos + size]
        if len(members) < 2:
            break
        pos += size
        comp = int(rng.integers(0, len(COMPANY_DOMAINS)))
        company[members] = comp
        has_alt[members] = True
        inbox[members] = f"support@{COMPANY_DOMAINS[comp]}"
    for i in np.flatnonzero(has_alt):
        alt_email[i] = contacts.email_address(
            first_a[i], last_a[i], int(token[i]), 0, COMPANY_DOMAINS[company[i]])

    # QA staff who place guest test orders with test@example.com (deny-listed).
    eligible = np.flatnonzero(~churned & ~new)
    n_test = min(len(eligible), max(2, round(n * TEST_EMAIL_USER_SHARE)))
    test_user = np.zeros(n, dtype=bool)
    test_user[rng.choice(eligible, n_test, replace=False)] = True

    has_handle = rng.random(n) < np.where(
        registered, HANDLE_SHARE_REGISTERED, HANDLE_SHARE_UNREGISTERED)
    platform_i = rng.choice(len(SOCIAL_PLATFORMS), n, p=_PLATFORM_P)
    platform = np.where(has_handle, np.array([p for p, _ in SOCIAL_PLATFORMS])[platform_i], None)
    handle = np.full(n, None, dtype=object)
    for i in np.flatnonzero(has_handle):
        handle[i] = contacts.social_handle(platform[i], first_a[i], last_a[i], int(token[i]))

    ncat = len(catalog().categories)
    width = id_digits(spec.customers)
    zone_arr = zone.astype(str)
    people = pd.DataFrame(
        {
            "person_index": gidx,
            "person_id": [f"P{k:0{width}d}" for k in token],
            "archetype": arch_name,
            "archetype_index": arch,
            "registered": registered,
            "customer_id": np.where(registered, [f"C{k:0{width}d}" for k in token], None),
            "first_name": first,
            "last_name": last,
            "country": np.array(COUNTRIES, dtype=object)[country],
            "country_index": country,
            "previous_country_index": prev_country,
            "language": language,
            "zone": zone_arr,
            "utc_offset_s": _zone_offsets(zone_arr, anchor),
            "currency": np.array([COUNTRIES[c].currency for c in country]),
            "currency_index": np.array([CURRENCIES.index(COUNTRIES[c].currency) for c in country]),
            "email": email,
            "alt_email": alt_email,
            "company_inbox": inbox,
            "test_email_user": test_user,
            "phone_e164": e164,
            "phone_display": display,
            "social_platform": platform,
            "social_handle": handle,
            "tier": tier,
            "previous_tier": prev_tier,
            "profile_updated_s": np.where(updated, upd_s, np.nan),
            "crm_modified_s": base_mod,
            "signup_s": signup_s,
            "new_customer": new,
            "churned": churned,
            "churn_s": churn_s,
            "orders_per_day": _scatter(rng, a["orders_per_day"]),
            "basket_usd": _scatter(rng, a["basket_usd"]),
            "tickets_per_day": _scatter(rng, a["tickets_per_day"]),
            "web_affinity": _scatter(rng, a["web_affinity"]),
            "mentions_per_day": _scatter(rng, a["mentions_per_day"]),
            "refund_prob": a["refund_prob"],
            "csat_mean": a["csat_mean"],
            "sentiment_mean": a["sentiment_mean"],
            "decaying": arch_name == "at_risk",
            "fav_category_1": rng.integers(0, ncat, n),
            "fav_category_2": rng.integers(0, ncat, n),
        }
    )
    people["country"] = [c.code for c in people["country"]]
    devices = _draw_devices(spec, rng, people)
    return Population(people, _add_device_patterns(spec, _device_pattern_rng(spec, block),
                                                   people, devices))


def _draw_devices(
    spec: GeneratorSpec, rng: np.random.Generator, people: pd.DataFrame
) -> pd.DataFrame:
    """Own devices (1-2 per person) plus shared family devices used by 3-6 registered people.

    On a shared device every member has their own anon_id (own browser profile or app
    login), so only the device_id is shared.
    """
    n = len(people)
    gidx = people["person_index"].to_numpy()
    n_dev = 1 + (rng.random(n) < SECOND_DEVICE_SHARE)
    row = np.repeat(np.arange(n), n_dev)
    slot = np.arange(len(row)) - np.repeat(np.cumsum(n_dev) - n_dev, n_dev)
    reset = rng.random(len(row)) < COOKIE_RESET_SHARE
    own = _device_frame(
        row,
        person_ids(Kind.DEVICE, gidx[row], slot),
        person_ids(Kind.ANON, gidx[row], slot),
        np.where(reset, person_ids(Kind.ANON, gidx[row], slot + 8), 0),
        shared=False,
        weight=np.where(slot == 0, 0.7, 0.3),
        kind="own",
    )
    share = spec.shares.shared_device_share
    eligible = np.flatnonzero(people["registered"].to_numpy() & ~people["churned"].to_numpy())
    eligible = rng.permutation(eligible)
    n_shared = max(1, round(share * len(own))) if share > 0 else 0
    groups = _device_groups(rng, eligible, n_shared, (3, 7), 2)
    if groups is None:
        return own
    members, host = groups
    # The family tablet takes about 60% of a member's sessions (weight 1.5 vs 1.0 own).
    shared = _device_frame(
        members,
        person_ids(Kind.DEVICE, gidx[host], 3),
        person_ids(Kind.ANON, gidx[members], 2),
        np.zeros(len(members), dtype=np.uint64),
        shared=True,
        weight=np.full(len(members), 1.5),
        kind="family",
    )
    devices = pd.concat([own, shared], ignore_index=True)
    return devices.sort_values(["person_row", "shared"], kind="stable", ignore_index=True)


def _device_groups(rng: np.random.Generator, candidates: np.ndarray, count: int,
                   size: tuple[int, int], min_size: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Up to ``count`` disjoint groups of ``size`` [low, high) people taken in order from
    ``candidates``: (member rows, each member's group host = its first member), or None."""
    rows, hosts = [], []
    pos = 0
    for _ in range(count):
        members = candidates[pos:pos + int(rng.integers(*size))]
        if len(members) < min_size:
            break
        pos += len(members)
        rows.append(members)
        hosts.append(np.full(len(members), members[0]))
    if not rows:
        return None
    return np.concatenate(rows), np.concatenate(hosts)


def _add_device_patterns(spec: GeneratorSpec, rng: np.random.Generator, people: pd.DataFrame,
                         devices: pd.DataFrame) -> pd.DataFrame:
    """The mobile app and library PCs (``generator.mobile_app_share``, ``library_pc_share``).

    - *App*: a registered person's main own device (slot 0) is a phone with the shop's app,
      with probability ``mobile_app_share``. The app browses with the device id and its own
      anonymous id until the person logs in; logged-in events carry the customer id and the
      device id only (web.py).
    - *Library PC*: ``library_pc_share`` x own devices PCs, each used by 4-12 people of the
      block (registered or not), every visitor with a cookie of their own, like a family
      tablet but among strangers.
    """
    shares = spec.shares
    n = len(people)
    if shares.mobile_app_share > 0:
        registered = people["registered"].to_numpy()
        app_person = registered & (rng.random(n) < shares.mobile_app_share)
        first_of_person = ~devices["person_row"].duplicated().to_numpy()
        main = (devices["kind"].to_numpy() == "own") & first_of_person
        devices.loc[main & app_person[devices["person_row"].to_numpy()], "kind"] = "app"
    own = int((devices["kind"].to_numpy() != "family").sum())
    n_pcs = round(shares.library_pc_share * own)
    if n_pcs == 0:
        return devices
    gidx = people["person_index"].to_numpy()
    groups = _device_groups(rng, rng.permutation(n), n_pcs, LIBRARY_PC_VISITORS,
                            LIBRARY_PC_VISITORS[0])
    if groups is None:
        return devices
    members, host = groups
    pcs = _device_frame(
        members,
        person_ids(Kind.DEVICE, gidx[host], _LIBRARY_DEVICE_SLOT),
        person_ids(Kind.ANON, gidx[members], _LIBRARY_ANON_SLOT),
        np.zeros(len(members), dtype=np.uint64),
        shared=True,
        weight=np.full(len(members), LIBRARY_PC_WEIGHT),
        kind="library",
    )
    devices = pd.concat([devices, pcs], ignore_index=True)
    return devices.sort_values(["person_row", "shared"], kind="stable", ignore_index=True)


def _device_frame(person_row: np.ndarray, device: np.ndarray, anon: np.ndarray,
                  anon_reset: np.ndarray, shared: bool, weight: np.ndarray,
                  kind: str) -> pd.DataFrame:
    """Device rows with numeric ids (fast event-level formatting) and their strings."""
    has_reset = anon_reset != 0
    return pd.DataFrame(
        {
            "person_row": person_row,
            "device_num": device,
            "anon_num": anon,
            "anon_reset_num": anon_reset,
            "device_id": _id_strings("d-", device),
            "anon_id": _id_strings("a-", anon),
            "anon_id_reset": np.where(has_reset, _id_strings("a-", anon_reset), None),
            "shared": shared,
            "weight": weight,
            "kind": kind,
        }
    )


def _id_strings(prefix: str, values: np.ndarray) -> np.ndarray:
    return hex_column(prefix, values).to_numpy(zero_copy_only=False).astype(object)


def id_digits(customers: int) -> int:
    """Digits in person and customer numbers ("C0000123"): at least 7."""
    return max(7, len(str(customers)))
