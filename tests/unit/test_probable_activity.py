"""probable_activity: what a customer's served probable links browsed, worked out by hand from
the rules in pipelines/identity/probable_activity.py."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.identity.probable import ProbableParams
from pipelines.identity.probable_activity import probable_activity
from pipelines.identity.schemas import PROBABLE_LINKS
from tests.events_factory import event, events_df, ts

NOW = datetime(2026, 9, 2, 3, 0, 0)
PARAMS = ProbableParams()  # serving threshold 0.8


def link(anonymous_id: str, profile_id: str, confidence: float) -> dict:
    return {"anonymous_id": anonymous_id, "profile_id": profile_id, "confidence": confidence,
            "evidence": "handoff", "device_id": "d", "customer_id": "C",
            "anonymous_profile_id": f"pa_{anonymous_id}", "handoffs": 1,
            "device_anonymous_ids": 1, "first_seen": NOW, "last_seen": NOW, "updated_at": NOW}


def anon(eid: str, etype: str, at: str, aid: str, **props) -> dict:
    return event(eid, etype, at, identifiers={"anonymous_id": aid}, **props)


LINKS = [
    link("a1", "p_c1", 0.97),
    link("a2", "p_c1", 0.85),
    link("a3", "p_c2", 0.55),  # below the serving threshold: brings nothing, no row
    link("a4", "p_c3", 0.9),  # served, but no activity: a row of nulls
]
EVENTS = [
    anon("e01", "product_view", "2026-09-01T10:01:00", "a1", sku="S1", category="shoes"),
    anon("e03", "product_view", "2026-09-01T10:03:00", "a1", sku="S2", category="toys"),
    anon("e02", "page_view", "2026-09-01T10:02:00", "a2", category="books"),
    # Same time as e03: the greater event_id is the newest view.
    anon("e07", "product_view", "2026-09-01T10:03:00", "a2", sku="S3", category="home"),
    anon("e00", "page_view", "2026-09-01T10:00:00", "a2", category="garden"),
    anon("e05", "add_to_cart", "2026-09-01T10:05:00", "a1", sku="S1", category="shoes"),
    anon("e06", "order_placed", "2026-09-01T10:06:00", "a1", order_id="O1", items=[
        {"sku": "S2", "category": "toys", "quantity": 1, "unit_price": 1.0},
        {"sku": "S4", "category": "beauty", "quantity": 1, "unit_price": 1.0}]),
    anon("e08", "page_view", "2026-09-01T10:08:00", "a2", category="  "),  # blank: none
    anon("e09", "product_view", "2026-09-01T09:00:00", "a2", category="sports"),  # no sku
    # The same cookie in a logged-in record: the customer's own activity, not the tier's.
    event("e10", "product_view", "2026-09-01T11:00:00",
          identifiers={"anonymous_id": "a1", "customer_id": "C1"}, sku="S8", category="garden"),
    anon("e11", "product_view", "2026-09-01T12:00:00", "a3", sku="S9", category="electronics"),
]


@pytest.fixture(scope="module")
def rows(spark) -> dict:
    out = probable_activity(events_df(spark, EVENTS).drop("profile_id"),
                            spark.createDataFrame(LINKS, PROBABLE_LINKS), PARAMS, now=NOW)
    return {r.profile_id: r.asDict(recursive=True) for r in out.collect()}


def test_served_links_only_one_row_per_customer_profile(rows) -> None:
    assert sorted(rows) == ["p_c1", "p_c3"]


def test_categories_newest_first_at_most_five(rows) -> None:
    # Latest time per category: toys and beauty 10:06 (the order's items; ties: the greater
    # name first, as recent_categories), shoes 10:05, home 10:03, books 10:02, sports 09:00
    # and garden 10:00 cut by the limit; the logged-in garden view at 11:00 is not the tier's.
    assert rows["p_c1"]["probable_recent_categories"] == ["toys", "beauty", "shoes", "home",
                                                          "books"]


def test_last_viewed_is_the_newest_product_view_with_a_sku(rows) -> None:
    assert rows["p_c1"]["probable_last_viewed"] == {
        "sku": "S3", "category": "home", "at": ts("2026-09-01T10:03:00")}


def test_confidence_ids_and_the_profiles_it_came_from(rows) -> None:
    c1, c3 = rows["p_c1"], rows["p_c3"]
    assert (c1["probable_confidence"], c1["anonymous_ids"]) == (0.97, 2)
    assert c1["anonymous_profile_ids"] == ["pa_a1", "pa_a2"]
    assert (c3["probable_confidence"], c3["anonymous_ids"]) == (0.9, 1)
    assert c3["probable_recent_categories"] is None and c3["probable_last_viewed"] is None
    assert c1["updated_at"] == NOW
