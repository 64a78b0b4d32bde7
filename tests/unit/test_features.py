"""Nightly features (docs/features.md) on tiny hand-built histories.

Expected values are worked out by hand from the definitions in the docstrings of
pipelines/features/*.py, never from the code under test. Several profiles share one snapshot
(one Spark build) to keep the suite fast; each profile's history is independent of the others
except for the R/F/M quintiles, which have their own snapshot.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from pipelines.features import FeatureParams, build_features
from pipelines.features.rfm import order_facts, rfm_label
from tests.events_factory import event, events_df

AS_OF = date(2026, 9, 30)
PARAMS = FeatureParams()  # windows 30/90/365 and 30/90, half-lives 14 (engagement) / 60 (spend)


def _order(eid, at, order_id, amount, profile):
    return event(
        eid, "order_placed", at, profile, source="orders", order_id=order_id, amount=amount
    )


def _refund(eid, at, order_id, amount, profile):
    return event(
        eid, "order_refunded", at, profile, source="orders", order_id=order_id, amount=amount
    )


def _ticket(eid, kind, at, ticket, status, priority="normal", profile="sup"):
    return event(
        eid,
        kind,
        at,
        profile,
        source="support",
        ticket_id=ticket,
        status=status,
        priority=priority,
        channel="email",
        category="billing",
    )


def _rfm_history(p="rfm"):
    return [
        _order("o1", "2025-06-01T09:00:00", "E", 70.0, p),  # 486 days before as_of
        _order("o2", "2026-03-01T09:00:00", "A", 200.0, p),  # 213 days
        _order("o3", "2026-09-05T09:00:00", "B", 100.0, p),  # 25 days
        _order("o4", "2026-09-10T09:00:00", "D", 80.0, p),  # 20 days
        _refund("r2", "2026-09-12T09:00:00", "D", 30.0, p),  # partial: D stays an order, net 50
        _order("o5", "2026-09-20T09:00:00", "C", 60.0, p),
        _refund("r1", "2026-09-21T09:00:00", "C", 60.0, p),  # full: C is no order any more
        _refund("r3", "2026-09-22T09:00:00", "Z", 40.0, p),  # names no known order: ignored
        _refund("r4", "2026-10-01T09:00:00", "B", 100.0, p),  # after as_of: does not count
        _order("o6", "2026-10-02T09:00:00", "F", 500.0, p),  # after as_of: does not count
    ]


def _support_history():
    return [
        # T1: opened normal, raised to urgent → escalated; still open.
        _ticket("a1", "ticket_opened", "2026-09-25T10:00:00", "T1", "open"),
        _ticket("a2", "ticket_updated", "2026-09-25T12:00:00", "T1", "open", "urgent"),
        # T2: 60 days old, closed after 24 h.
        _ticket("b1", "ticket_opened", "2026-08-01T08:00:00", "T2", "open", "high"),
        _ticket("b2", "ticket_closed", "2026-08-02T08:00:00", "T2", "closed", "high"),
        # T3: opened urgent: not an escalation; open.
        _ticket("c1", "ticket_opened", "2026-09-28T09:00:00", "T3", "open", "URGENT"),
        # T4: 121 days old, escalated by status, solved after 48 h.
        _ticket("d1", "ticket_opened", "2026-06-01T00:00:00", "T4", "open"),
        _ticket("d2", "ticket_updated", "2026-06-01T06:00:00", "T4", "Escalated"),
        _ticket("d3", "ticket_updated", "2026-06-03T00:00:00", "T4", "solved"),
        # T5: closed only after as_of → open as of as_of.
        _ticket("e1", "ticket_opened", "2026-09-29T09:00:00", "T5", "open"),
        _ticket("e2", "ticket_closed", "2026-10-03T09:00:00", "T5", "closed"),
        # T6: opened after as_of → does not exist yet.
        _ticket("f1", "ticket_opened", "2026-10-01T09:00:00", "T6", "open", "p1"),
        event("s1", "csat_submitted", "2026-08-03T09:00:00", "sup", "support", score=4),
        event("s2", "csat_submitted", "2026-09-01T09:00:00", "sup", "support", score=2),
        event("s3", "csat_submitted", "2026-10-02T09:00:00", "sup", "support", score=5),
    ]


def _engagement_history(p="eng"):
    def pv(eid, kind, at, session, category=None):
        return event(eid, kind, at, p, session_id=session, url="/x", category=category)

    def cart(eid, at, category):
        return event(
            eid,
            "add_to_cart",
            at,
            p,
            sku="K",
            category=category,
            quantity=1,
            unit_price=10.0,
            currency="EUR",
        )

    def profile(eid, at, **attributes):
        return event(eid, "profile_updated", at, p, source="crm", attributes=attributes)

    items = [
        {"sku": "A", "category": "shoes", "quantity": 1, "unit_price": 10.0},
        {"sku": "B", "category": "socks", "quantity": 1, "unit_price": 10.0},
    ]
    return [
        profile("u1", "2026-01-01T08:00:00", country="DE", account_tier="free"),  # first event
        profile("u2", "2026-09-10T08:00:00", country="FR"),
        profile("u3", "2026-09-20T08:00:00", language="fr"),  # sets no country
        profile("u4", "2026-10-05T08:00:00", country="US"),  # after as_of
        pv("w1", "page_view", "2026-09-29T10:00:00", "s1"),  # age 1
        pv("w2", "product_view", "2026-09-30T23:59:59", "s1", "shoes"),  # age 0
        pv("w3", "page_view", "2026-08-20T10:00:00", "s2"),  # age 41: 90 d only
        pv("w4", "product_view", "2026-09-01T10:00:00", "s3", "hats"),  # age 29: 30 d
        pv("w5", "product_view", "2026-09-16T10:00:00", "s5", "bags"),  # age 14
        pv("w6", "product_view", "2026-09-16T11:00:00", "s5", "bags"),  # age 14
        pv("w7", "page_view", "2026-10-01T00:00:00", "s4"),  # after as_of
        cart("c1", "2026-09-15T10:00:00", "shoes"),  # age 15
        cart("c2", "2026-07-15T10:00:00", "socks"),  # age 77
        event(
            "o1",
            "order_placed",
            "2026-09-20T10:00:00",
            p,
            "orders",
            order_id="O",
            amount=20.0,
            items=items,
        ),
        cart("c3", "2026-10-01T10:00:00", "toys"),  # after as_of
    ]


def _quiet_history():
    return [event("q1", "page_view", "2026-09-01T10:00:00", "quiet", session_id="s", url="/")]


def _all_histories():
    return _rfm_history() + _support_history() + _engagement_history() + _quiet_history()


def _collect(df):
    return {r.profile_id: r for r in df.collect()}


@pytest.fixture(scope="module")
def snapshot(spark):
    """Features as of AS_OF for the rfm, sup, eng and quiet profiles (future events included)."""
    return _collect(build_features(events_df(spark, _all_histories()), AS_OF, PARAMS))


def test_rfm_inputs_are_net_of_refunds_windowed_and_point_in_time(snapshot):
    p = snapshot["rfm"]
    assert (p.orders_30d, p.spend_30d) == (2, 150.0)  # B 100 + D 50 (+ C net 0)
    assert (p.orders_90d, p.spend_90d) == (2, 150.0)
    assert (p.orders_365d, p.spend_365d) == (3, 350.0)  # + A
    assert (p.orders_lifetime, p.spend_lifetime) == (4, 420.0)  # + E
    assert p.first_order_date == date(2025, 6, 1)
    assert p.last_order_date == date(2026, 9, 10)  # C (9-20) was refunded
    assert p.recency_days == 20
    assert p.distinct_purchase_days == 4
    assert p.avg_order_value == 105.0  # 420 / 4
    expected_spend_score = (
        70 * 0.5 ** (486 / 60)
        + 200 * 0.5 ** (213 / 60)
        + 100 * 0.5 ** (25 / 60)
        + 50 * 0.5 ** (20 / 60)
    )
    assert p.spend_score == pytest.approx(expected_spend_score, abs=1e-4)


def test_support_features(snapshot):
    p = snapshot["sup"]
    assert (p.tickets_30d, p.tickets_90d, p.tickets_lifetime) == (3, 4, 5)
    assert p.open_tickets == 3  # T1, T3, T5
    assert p.escalations == 2  # T1 (priority raised), T4 (status)
    assert p.avg_resolution_hours == 36.0  # (24 + 48) / 2
    assert (p.avg_csat, p.csat_responses) == (3.0, 2)


def test_engagement_tenure_attributes_and_decay(snapshot):
    p = snapshot["eng"]
    assert (p.country, p.account_tier, p.language) == ("FR", "free", "fr")
    assert p.first_seen_date == date(2026, 1, 1) and p.tenure_days == 272
    assert p.last_event_date == AS_OF and p.days_since_last_event == 0
    assert (p.sessions_30d, p.sessions_90d) == (3, 4)  # s1, s3, s5 | + s2
    assert (p.product_views_30d, p.product_views_90d) == (4, 4)
    assert (p.cart_adds_30d, p.cart_adds_90d) == (1, 2)
    # shoes: view + cart + order item = 3; bags: 2 views; socks: cart + item = 2; hats: 1.
    assert p.top_categories == ["shoes", "bags", "socks"]
    ages = [1, 0, 41, 29, 14, 14, 15, 77]  # engagement events on or before as_of
    assert p.engagement_score == pytest.approx(sum(0.5 ** (a / 14) for a in ages), abs=1e-4)


def test_profiles_without_activity_get_zeros_not_nulls(snapshot):
    p = snapshot["quiet"]
    assert (p.orders_30d, p.orders_lifetime, p.spend_90d, p.tickets_90d, p.open_tickets) == (
        0,
        0,
        0.0,
        0,
        0,
    )
    assert (p.sessions_30d, p.cart_adds_90d, p.spend_score, p.days_since_last_event) == (
        1,
        0,
        0.0,
        29,
    )
    assert p.recency_days is None and p.avg_csat is None and p.avg_order_value is None
    assert (p.top_categories, p.as_of, p.rfm_label) == ([], AS_OF, "No Purchases")


def test_no_feature_uses_events_after_as_of(spark, snapshot):
    """Leakage guard: the snapshot built from the log with future events (orders, refunds,
    ticket closes, attribute changes, csat, new profiles) equals the one built without them."""
    end = datetime(2026, 10, 1)
    past = [e for e in _all_histories() if e["event_time"] < end]
    assert len(past) < len(_all_histories())
    past_only = _collect(build_features(events_df(spark, past), AS_OF, PARAMS))
    assert past_only == snapshot


def test_rfm_quintile_scores_and_labels_over_buyers(spark):
    # Buyer b<i> has i orders of 100 each, the latest 10·i days before as_of: the buyers'
    # values are 1..5 (F), 100..500 (M) and 10..50 (R); the cut points are the 1st..4th.
    rows = []
    for i in range(1, 6):
        for k in range(i):
            day = date.fromordinal(AS_OF.toordinal() - 10 * i - 30 * k)
            rows.append(_order(f"b{i}-{k}", f"{day}T12:00:00", f"O{i}{k}", 100.0, f"b{i}"))
    rows.append(event("v1", "page_view", "2026-09-29T10:00:00", "visitor", session_id="s"))
    rows.append(_order("x1", "2026-09-01T10:00:00", "X", 50.0, "refunder"))
    rows.append(_refund("x2", "2026-09-02T10:00:00", "X", 50.0, "refunder"))
    f = _collect(build_features(events_df(spark, rows), AS_OF, PARAMS))
    scores = {p: (f[p].r_score, f[p].f_score, f[p].m_score, f[p].rfm_label) for p in f}
    assert scores == {
        "b1": (5, 1, 1, "New Customers"),
        "b2": (4, 2, 2, "Potential Loyalists"),
        "b3": (3, 3, 3, "Need Attention"),
        "b4": (2, 4, 4, "At Risk"),
        "b5": (1, 5, 5, "At Risk"),
        "visitor": (None, None, None, "No Purchases"),
        "refunder": (None, None, None, "No Purchases"),  # its only order was refunded
    }


LABELS = [
    (5, 5, 5, "Champions"),
    (4, 4, 4, "Champions"),
    (4, 5, 3, "Loyal"),
    (3, 4, 5, "Loyal"),
    (2, 3, 1, "At Risk"),
    (1, 5, 5, "At Risk"),
    (2, 2, 5, "Hibernating"),
    (1, 1, 1, "Hibernating"),
    (5, 1, 1, "New Customers"),
    (4, 3, 2, "Potential Loyalists"),
    (4, 2, 5, "Potential Loyalists"),
    (3, 3, 3, "Need Attention"),
    (3, 1, 5, "Need Attention"),
    (None, None, None, "No Purchases"),
]


def test_rfm_label_rules(spark):
    df = spark.createDataFrame([row[:3] for row in LABELS], "r int, f int, m int")
    got = df.select("r", "f", "m", rfm_label(F.col("r"), F.col("f"), F.col("m"))).collect()
    assert [tuple(r) for r in got] == LABELS


def test_an_order_is_refunded_only_by_a_refund_above_zero_reaching_99_percent(spark):
    """docs/features.md: refunded when refunds are > 0 and reach 99 % of the amount; a free
    order without refund stays an order."""
    p = "refunds"
    rows = [
        _order("o1", "2026-09-01T10:00:00", "FREE", 0.0, p),  # no refund: an order
        _order("o2", "2026-09-01T11:00:00", "FREE-REFUNDED", 0.0, p),
        _refund("r2", "2026-09-02T10:00:00", "FREE-REFUNDED", 5.0, p),  # > 0 and ≥ 99 % of 0
        _order("o3", "2026-09-01T12:00:00", "ROUNDED", 100.0, p),
        _refund("r3", "2026-09-02T11:00:00", "ROUNDED", 99.0, p),  # exactly 99 %
        _order("o4", "2026-09-01T13:00:00", "PARTLY", 100.0, p),
        _refund("r4", "2026-09-02T12:00:00", "PARTLY", 98.99, p),  # below 99 %
    ]
    facts = order_facts(events_df(spark, rows), AS_OF).collect()
    assert {r.order_id: r.is_refunded for r in facts} == {
        "FREE": False, "FREE-REFUNDED": True, "ROUNDED": True, "PARTLY": False,
    }
