"""Device patterns of the generator (docs/sources.md, "Devices"): the shop's app and library
PCs, off by default.

Expected shapes come from the documented rule: on an app device, events before the login carry
device + anonymous id, events after it customer + device id; a library PC is one device id
behind 4-12 people, each with a cookie of their own.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from pipelines.synth import GeneratorSpec, Shares, web
from pipelines.synth.context import BlockContext
from pipelines.synth.people import draw_population
from pipelines.synth.truth import finalize_identifiers, identifier_rows

WINDOW_END_MS = 1_800_000_000_000  # 2027-01-15, long past the 30-day window
PATTERNS = Shares(mobile_app_share=0.5, library_pc_share=0.02)


def _block(shares: Shares) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    spec = GeneratorSpec(seed=4, customers=600, start=date(2026, 8, 1), days=30, shares=shares)
    population = draw_population(spec, 0)
    events = web.build(BlockContext.build(spec, 0, population)).table.to_pandas()
    ids = finalize_identifiers(identifier_rows(population)).to_pandas()
    return population.devices, events, ids


@pytest.fixture(scope="module")
def patterned() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return _block(PATTERNS)


def test_default_shares_have_neither_apps_nor_library_pcs() -> None:
    devices, events, _ = _block(Shares())
    assert set(devices["kind"]) == {"own", "family"}
    assert events["anon_id"].notna().sum() == events["device_id"].notna().sum()


def test_app_events_carry_the_anonymous_id_only_before_the_login(patterned) -> None:
    devices, events, _ = patterned
    app_devices = set(devices.loc[devices["kind"] == "app", "device_id"])
    assert app_devices
    app = events[events["device_id"].isin(app_devices)]
    logged = app["user_id"].notna()
    assert logged.any() and (~logged).any()
    assert app.loc[logged, "anon_id"].isna().all()
    assert app.loc[~logged, "anon_id"].notna().all()
    # A logged-in session of more than one event starts anonymous: browse, then log in.
    # Leave out sessions with a corrupted event: a missing or far-future timestamp cannot be
    # ordered, and an event stripped of its identifiers hides the session's first event.
    corrupt = events["ts"].isna() | (events["ts"] > WINDOW_END_MS) | events["device_id"].isna()
    timed = app[~app["session_id"].isin(set(events.loc[corrupt, "session_id"]))]
    by_session = timed.sort_values("ts", kind="stable").groupby("session_id")
    first_logged = by_session["user_id"].agg(lambda s: s.iloc[0]).notna() & (by_session.size() > 1)
    ever_logged = by_session["user_id"].count() > 0
    assert ever_logged.sum() > 20 and not first_logged.any()
    # Other devices keep the web pattern: a cookie on every event.
    others = events[events["device_id"].notna() & ~events["device_id"].isin(app_devices)]
    assert others["anon_id"].notna().all()


def test_library_pcs_are_shared_by_strangers_with_a_cookie_each(patterned) -> None:
    devices, events, ids = patterned
    pcs = devices[devices["kind"] == "library"]
    assert len(pcs) and pcs["shared"].all()
    visitors = pcs.groupby("device_id")["person_row"].nunique()
    assert visitors.between(4, 12).all()
    assert (pcs.groupby("device_id")["anon_id"].nunique() == visitors).all()
    truth = ids[(ids["id_type"] == "device_id") & ids["id_value"].isin(set(pcs["device_id"]))]
    assert truth["shared"].all()
    assert set(events["device_id"]) & set(pcs["device_id"])  # the PCs are used
